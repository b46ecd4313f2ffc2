/**
 * `npm start` with DATA_DIR: one server per folder (a second one is refused, naming the first; a
 * crashed one does not block a restart), and a generated postback token that survives restarts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';
import { claimDataDir, DataDirInUse, LOCK_FILE } from '../../lib/local/data-dir.js';

const dataDir = mkdtempSync(join(tmpdir(), 'pz-datadir-'));
const running: LocalProcess[] = [];

afterAll(async () => {
  for (const p of running) await p.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const start = async (env: Record<string, string> = {}): Promise<LocalProcess> => {
  const p = await startLocalProcess({ DATA_DIR: dataDir, ...env });
  running.push(p);
  return p;
};

const printedToken = (p: LocalProcess): string | undefined => /token:\s+(\S+)/.exec(p.output())?.[1];

const postback = async (p: LocalProcess, token: string, orderId: string): Promise<number> =>
  (
    await fetch(`${p.url}/postbacks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ orderId, clickref: 'Kept1', currency: 'GBP', consent: true, items: [{ value: 1 }] }),
    })
  ).status;

describe('DATA_DIR', () => {
  let first: LocalProcess;
  let token: string;
  const tokenFile = join(dataDir, 'postback-token');

  it('keeps a generated token with the data (mode 0600) and says where', async () => {
    first = await start();
    token = printedToken(first)!;
    expect(token).toMatch(/^[\w-]{20,}$/);
    expect(first.output()).toContain(tokenFile);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(await postback(first, token, 'KEEP-1')).toBe(202);
  });

  it('a second server on the same DATA_DIR is refused, naming the process that holds it', async () => {
    const second = await startLocalProcess({ DATA_DIR: dataDir }).catch((err: Error) => err);
    if (!(second instanceof Error)) running.push(second);
    expect(second).toBeInstanceOf(Error);
    const message = (second as Error).message;
    expect(message).toMatch(/exited \(1\)/);
    expect(message).toContain(`DATA_DIR ${dataDir} is in use`);
    expect(message).toContain(`pid ${first.child.pid}`);
    expect(message).not.toMatch(/Database is closed|ECONNREFUSED/);
    // The first one is untouched.
    expect(await postback(first, token, 'KEEP-2')).toBe(202);
  });

  it('a server killed without cleaning up does not block a restart, and the restart keeps the token', async () => {
    await first.kill();
    const again = await start();
    expect(printedToken(again)).toBe(token);
    expect(await postback(again, token, 'KEEP-3')).toBe(202);
    expect(await again.stop()).toBe(0);
  });

  it("POSTBACK_TOKEN wins and is kept with the data: a restart without it keeps the brand's configured token", async () => {
    const chosen = await start({ POSTBACK_TOKEN: 'chosen-token-123456' });
    expect(await postback(chosen, 'chosen-token-123456', 'KEEP-4')).toBe(202);
    expect(await postback(chosen, token, 'KEEP-5')).toBe(401);
    expect(await chosen.stop()).toBe(0);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe('chosen-token-123456');
    const restarted = await start();
    expect(printedToken(restarted)).toBe('chosen-token-123456');
    expect(await postback(restarted, 'chosen-token-123456', 'KEEP-6')).toBe(202);
    expect(await restarted.stop()).toBe(0);
  });
});

describe('the DATA_DIR lock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pz-lock-'));
  const lock = join(dir, LOCK_FILE);
  const holder = (h: Record<string, unknown>) => writeFileSync(lock, JSON.stringify({ since: '2026-01-01T00:00:00Z', ...h }));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the running process that holds it and its URL; is released by its owner only', () => {
    holder({ pid: process.ppid, url: 'http://127.0.0.1:3999' }); // a running process other than this one
    expect(() => claimDataDir(dir)).toThrow(DataDirInUse);
    expect(() => claimDataDir(dir)).toThrow(`pid ${process.ppid} at http://127.0.0.1:3999`);
    rmSync(lock);
    const claim = claimDataDir(dir);
    claim.announce('http://127.0.0.1:3998');
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: process.pid, url: 'http://127.0.0.1:3998' });
    holder({ pid: process.ppid }); // taken over by someone else meanwhile: not ours to remove
    claim.release();
    expect(existsSync(lock)).toBe(true);
    holder({ pid: process.pid });
    claim.release();
    expect(existsSync(lock)).toBe(false);
  });

  it('ignores a lock whose process is gone, or is this process (a restarted container reuses pids)', () => {
    holder({ pid: 2 ** 22 + 12345 }); // above Linux's pid_max: no such process
    claimDataDir(dir).release();
    holder({ pid: process.pid });
    claimDataDir(dir).release();
    writeFileSync(lock, '{"pid":'); // half-written
    claimDataDir(dir).release();
    expect(existsSync(lock)).toBe(false);
  });

  it.skipIf(process.platform !== 'linux')('ignores a lock whose pid now belongs to a process started at another time (Linux)', () => {
    holder({ pid: process.ppid, startTime: '1' });
    claimDataDir(dir).release();
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    holder({ pid: process.ppid, startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] });
    expect(() => claimDataDir(dir)).toThrow(DataDirInUse);
    rmSync(lock);
  });
});
