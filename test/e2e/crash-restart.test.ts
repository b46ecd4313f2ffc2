/**
 * The local mode killed (SIGKILL) while sends are in flight, then restarted on the same DATA_DIR:
 * every owed send completes, and none is delivered twice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';

const TOKEN = 'crash-token-123456';
const dataDir = mkdtempSync(join(tmpdir(), 'pz-crash-'));
let partnerize: FakePartnerize | undefined;
let local: LocalProcess | undefined;

afterAll(async () => {
  await local?.stop();
  await partnerize?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const settings = (url: string) => ({
  PARTNERIZE_MODE: 'live',
  PARTNERIZE_BASE_URL: url,
  POSTBACK_TOKEN: TOKEN,
  DATA_DIR: dataDir,
  RETRY_DELAYS_S: '0.3,0.6,1,2',
  SWEEP_INTERVAL_S: '0.3',
  LEASE_S: '5',
  INLINE_TIMEOUT_MS: '1000',
  RETRY_TIMEOUT_MS: '1000',
});

const postback = (url: string, orderId: string) =>
  fetch(`${url}/postbacks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      orderId,
      clickref: `Crash${orderId.replace(/\W/g, '')}`,
      currency: 'GBP',
      consent: true,
      items: [{ value: 3 }],
    }),
    signal: AbortSignal.timeout(8000),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as { outcome?: string } }));

describe('crash and restart with DATA_DIR', () => {
  it('every owed send completes after a SIGKILL mid-flight', async () => {
    partnerize = await FakePartnerize.start();
    partnerize.setDefault({ hang: true }); // sends are in flight when the process dies
    local = await startLocalProcess(settings(partnerize.url));
    const orders = Array.from({ length: 20 }, (_, i) => `CRASH-${i}`);
    const answers = orders.map((id) => postback(local!.url, id).catch((err: unknown) => ({ status: 0, body: { error: String(err) } })));
    await partnerize.waitForRequests(10); // at least half are mid-send
    await local.kill();
    const first = await Promise.all(answers);
    expect(first.every((a) => a.status !== 202)).toBe(true); // nobody got an answer: Tealium will retry

    partnerize.setDefault({ status: 200, body: 'OK' });
    local = await startLocalProcess(settings(partnerize.url));
    // Tealium retries the postbacks that got no answer; the outbox resumes or dedupes them.
    const retried = await Promise.all(orders.map((id) => postback(local!.url, id)));
    for (const r of retried) expect(['sent', 'duplicate', 'queued']).toContain(r.body.outcome);

    const deadline = Date.now() + 20_000;
    while (orders.some((id) => partnerize!.acceptedCounts().get(id) !== 1)) {
      if (Date.now() > deadline)
        throw new Error(`not delivered: ${orders.filter((id) => partnerize!.acceptedCounts().get(id) !== 1).join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 5500)); // past a lease: nothing further may be sent
    const counts = partnerize.acceptedCounts();
    for (const id of orders) expect(counts.get(id), id).toBe(1);
  });

  it('a restart alone (no Tealium retry) resumes what was owed', async () => {
    partnerize!.reset();
    partnerize!.setDefault({ status: 503 });
    const r = await postback(local!.url, 'OWED-1');
    expect(r.body.outcome).toBe('queued');
    await local!.stop();
    partnerize!.setDefault({ status: 200 });
    local = await startLocalProcess(settings(partnerize!.url));
    const deadline = Date.now() + 10_000;
    while (partnerize!.acceptedCounts().get('OWED-1') !== 1) {
      if (Date.now() > deadline) throw new Error('owed send not resumed after restart');
      await new Promise((res) => setTimeout(res, 100));
    }
  });
});
