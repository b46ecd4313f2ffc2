/**
 * `npm start` with DATA_DIR: one server per folder (a second one is refused, naming the first; a
 * crashed one does not block a restart), and a generated postback token that survives restarts.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';

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

  it('POSTBACK_TOKEN still wins, and leaves the kept token alone', async () => {
    const chosen = await start({ POSTBACK_TOKEN: 'chosen-token-123456' });
    expect(await postback(chosen, 'chosen-token-123456', 'KEEP-4')).toBe(202);
    expect(await postback(chosen, token, 'KEEP-5')).toBe(401);
    expect(await chosen.stop()).toBe(0);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
  });
});
