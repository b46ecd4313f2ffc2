/**
 * The setup guides' "Try it locally" examples (docs/sgtm-setup.md, segment-setup.md,
 * rudderstack-setup.md), run as written (bash, curl, openssl) against `npm start`: once in its
 * default dry run, where every answer the guide shows comes back and `pz lookup` prints the call
 * the guide shows; and once live against a recording Partnerize, which must receive that call.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';

const has = (cmd: string, arg: string) => spawnSync(cmd, [arg]).status === 0;
const tools = has('curl', '--version') && has('openssl', 'version');
if (!tools) console.warn('Skipping the setup guides’ examples: curl or openssl is missing on this machine.');

interface Guide {
  file: string;
  script: string;
  /** The lines the guide shows as answers (`# …` in the script). */
  answers: string[];
  /** The Partnerize call the guide shows. */
  call: string;
}

function guide(file: string): Guide {
  const text = readFileSync(join(PROJECT_ROOT, 'docs', file), 'utf8');
  const section = text.slice(text.indexOf('## 6. Try it locally'), text.indexOf('## 7.'));
  const script = /```bash\n([\s\S]*?)```/.exec(section)?.[1];
  const call = /call\s+GET (\S+)/.exec(section)?.[1];
  if (!script || !call) throw new Error(`${file}: no example or no call in "Try it locally"`);
  return { file, script, answers: [...script.matchAll(/^# (.+)$/gm)].map((m) => m[1]!.trim()), call };
}

const GUIDES = ['sgtm-setup.md', 'segment-setup.md', 'rudderstack-setup.md'].map(guide);
/** The shared secret the Segment example signs with: the one its local mode is started with. */
const SEGMENT_SECRET = /^SECRET=(\S+)/m.exec(GUIDES[1]!.script)![1]!;

/** Strips what differs between runs: when the order arrived (GA4 orders carry no time of their own). */
const timeless = (call: string): string => call.replace(/\/conversion_time:[^/]+\//, '/conversion_time:…/');
const pathOf = (url: string): string => url.replace(/^https?:\/\/[^/]+/, '');

/** Runs the example (asynchronously: the recording Partnerize lives in this process and must answer meanwhile). */
async function run(g: Guide, local: LocalProcess, answers: string[]): Promise<string> {
  const token = /token:\s+(\S+)/.exec(local.output())![1]!;
  const script = g.script.replaceAll('http://127.0.0.1:3000', local.url).replace(/^TOKEN=\.\.\..*$/m, `TOKEN='${token}'`);
  const { stdout: out } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', PZ_LOCAL_URL: local.url },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(answers.length).toBeGreaterThan(0);
  let from = 0;
  for (const line of answers) {
    const at = out.indexOf(line, from);
    expect(at, `${g.file} says "${line}"; the run printed:\n${out}`).toBeGreaterThanOrEqual(0);
    from = at + line.length;
  }
  return out;
}

describe.skipIf(!tools)('the setup guides’ examples, as written', () => {
  let dry: LocalProcess;
  let live: LocalProcess;
  let partnerize: FakePartnerize;
  beforeAll(async () => {
    partnerize = await FakePartnerize.start();
    [dry, live] = await Promise.all([
      startLocalProcess({ SEGMENT_SHARED_SECRET: SEGMENT_SECRET }),
      startLocalProcess({ SEGMENT_SHARED_SECRET: SEGMENT_SECRET, PARTNERIZE_MODE: 'live', PARTNERIZE_BASE_URL: partnerize.url }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([dry?.stop(), live?.stop()]);
    await partnerize?.close();
  });

  it.each(GUIDES.map((g) => [g.file, g] as const))(
    '%s: a dry run answers as shown and records the call shown',
    async (_file, g) => {
      const out = await run(g, dry, g.answers);
      const recorded = /call\s+GET (\S+)/.exec(out)?.[1];
      expect(recorded, out).toBeDefined();
      expect(timeless(recorded!)).toBe(timeless(g.call));
    },
    90_000,
  );

  it.each(GUIDES.map((g) => [g.file, g] as const))(
    '%s: live, the recording Partnerize receives exactly the call shown',
    async (_file, g) => {
      partnerize.reset();
      await run(
        g,
        live,
        g.answers.map((a) => a.replace('"outcome":"dry_run"', '"outcome":"sent"')),
      );
      expect(partnerize.requests.map((r) => timeless(r.url))).toEqual([timeless(pathOf(g.call))]);
    },
    90_000,
  );
});
