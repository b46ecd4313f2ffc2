/**
 * `npm start` as users run it: through npm (backgrounded and killed by npm's pid), and refusing a
 * live run that would send demo conversions to Partnerize's real host.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { localSettings } from '../../lib/local/server.js';
import { startLocalProcess } from '../support/local-process.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** `npm start & kill [-9] $!`: npm's pid is killed, not the server's. */
async function killNpm(signal: NodeJS.Signals): Promise<void> {
  const npm = spawn('npm', ['start'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', PORT: '0', POWERTOOLS_LOG_LEVEL: 'WARN' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!/Ready: listening on/.test(out)) {
    if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`npm start not ready:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = /Ready: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  const serverPid = Number(/pid (\d+)/.exec(out)?.[1]);
  try {
    expect(serverPid, out).toBeGreaterThan(0);
    expect(serverPid).not.toBe(npm.pid);
    expect((await fetch(`${url}/_local/info`)).status).toBe(200);
    npm.kill(signal);
    const stopBy = Date.now() + 10_000;
    while (alive(serverPid) && Date.now() < stopBy) await new Promise((r) => setTimeout(r, 100));
    expect(alive(serverPid), `server pid ${serverPid} still running after npm (pid ${npm.pid}) got ${signal}:\n${out}`).toBe(false);
    await expect(fetch(`${url}/_local/info`)).rejects.toThrow();
  } finally {
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
    if (serverPid > 0 && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
  }
}

describe('npm start, backgrounded and killed by npm’s pid', () => {
  it('kill $! (SIGTERM to npm) stops the server', async () => {
    await killNpm('SIGTERM');
  }, 60_000);

  it('kill -9 $! (npm cannot pass anything on) stops the server too', async () => {
    await killNpm('SIGKILL');
  }, 60_000);
});

describe('live mode with the demo campaign', () => {
  it('npm start refuses to send demo conversions to Partnerize, naming PARTNERIZE_CAMPAIGN_ID', async () => {
    const started = await startLocalProcess({ PARTNERIZE_MODE: 'live' }).catch((err: Error) => err);
    if (!(started instanceof Error)) await started.stop(); // it must not have started; do not leave it running
    expect(started).toBeInstanceOf(Error);
    expect((started as Error).message).toMatch(/exited \(1\)[\s\S]*PARTNERIZE_CAMPAIGN_ID/);
  });

  it('refuses every Partnerize host, allows a real campaign id and local base URLs', () => {
    const live = { PARTNERIZE_MODE: 'live' };
    for (const base of [
      'https://prf.hn',
      'https://PRF.HN/',
      'http://prf.hn.',
      'https://eu.prf.hn',
      'https://partnerize.com',
      'https://api.partnerize.com',
      'https://x.y.partnerize.com:8443/path',
    ]) {
      expect(() => localSettings({ ...live, PARTNERIZE_BASE_URL: base }), base).toThrow(/PARTNERIZE_CAMPAIGN_ID/);
      expect(() => localSettings({ ...live, PARTNERIZE_BASE_URL: base, PARTNERIZE_CAMPAIGN_ID: '1011l0000' }), base).toThrow(
        /PARTNERIZE_CAMPAIGN_ID/,
      );
      expect(localSettings({ ...live, PARTNERIZE_BASE_URL: base, PARTNERIZE_CAMPAIGN_ID: '1011l270' }).functions.partnerizeCampaignId).toBe(
        '1011l270',
      );
      expect(localSettings({ PARTNERIZE_BASE_URL: base }).functions.partnerizeMode).toBe('dryrun');
    }
    for (const base of [
      'http://127.0.0.1:9999',
      'http://localhost:8080',
      'http://[::1]:9999',
      'https://notprf.hn',
      'https://partnerize.com.example',
    ]) {
      expect(localSettings({ ...live, PARTNERIZE_BASE_URL: base }).functions.partnerizeCampaignId, base).toBe('1011l0000');
    }
  });

  it('names PARTNERIZE_BASE_URL when it is not an http(s) URL', () => {
    expect(() => localSettings({ PARTNERIZE_BASE_URL: 'prf.hn' })).toThrow(/PARTNERIZE_BASE_URL/);
    expect(() => localSettings({ PARTNERIZE_BASE_URL: 'ftp://prf.hn' })).toThrow(/PARTNERIZE_BASE_URL/);
  });
});
