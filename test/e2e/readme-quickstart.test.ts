/**
 * The README's quick start, run as written (bash and curl) against `npm start`'s defaults: every
 * answer it shows comes back, and the Partnerize call it shows is the one recorded.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';

const hasCurl = spawnSync('curl', ['--version']).status === 0;
if (!hasCurl) console.warn('Skipping the README quick-start test: no curl on this machine.');

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('### Local mode settings'));
const blocks = [...quickStart.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, text: m[2]! }));
const tryIt = blocks.find((b) => b.lang === 'bash' && b.text.includes('curl'))!.text;
const shownCall = /GET (https:\/\/prf\.hn\/conversion\/\S+)/.exec(quickStart)?.[1];

/** Strips what differs between runs: when the order arrived. */
const timeless = (call: string): string => call.replace(/\/conversion_time:[^/]+\//, '/conversion_time:…/');

let local: LocalProcess;

describe.skipIf(!hasCurl)('README quick start', () => {
  beforeAll(async () => {
    local = await startLocalProcess({}); // the defaults a user gets (dry run, generated token)
  });
  afterAll(async () => {
    await local?.stop();
  });

  it('answers as the README shows, and records the call it shows (a browser click: device:desktop)', () => {
    const token = /token:\s+(\S+)/.exec(local.output())![1]!;
    const script = tryIt.replaceAll('http://127.0.0.1:3000', local.url).replace(/^TOKEN=\.\.\..*$/m, `TOKEN='${token}'`);
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', PZ_LOCAL_URL: local.url },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const expected = [...tryIt.matchAll(/^# (.+)$/gm)].map((m) => m[1]!.trim());
    expect(expected.length).toBeGreaterThan(0);
    let from = 0;
    for (const line of expected) {
      const at = out.indexOf(line, from);
      expect(at, `README says "${line}"; the run printed:\n${out}`).toBeGreaterThanOrEqual(0);
      from = at + line.length;
    }
    const recorded = /call\s+GET (\S+)/.exec(out)?.[1];
    expect(recorded, out).toBeDefined();
    expect(recorded).toContain('/device:desktop/');
    expect(shownCall).toBeDefined();
    expect(timeless(shownCall!)).toBe(timeless(recorded!));
  }, 60_000);
});
