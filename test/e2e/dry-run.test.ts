/**
 * A dry run is dry: a local mode started with PARTNERIZE_MODE=dryrun never calls Partnerize —
 * not for sends owed from an earlier live run (the sweep holds them), not for `pz replay` or
 * `pz requeue` — unless the operator says --live. And a no-consent order can be sent by an
 * operator who confirms consent, with the reason on the record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';
import { runPz } from '../support/pz.js';

const TOKEN = 'dry-run-token-123456';
const dataDir = mkdtempSync(join(tmpdir(), 'pz-dry-'));
let partnerize: FakePartnerize;
let local: LocalProcess | undefined;

const start = (mode: 'live' | 'dryrun') =>
  startLocalProcess({
    PARTNERIZE_MODE: mode,
    PARTNERIZE_BASE_URL: partnerize.url,
    POSTBACK_TOKEN: TOKEN,
    DATA_DIR: dataDir,
    RETRY_DELAYS_S: Array.from({ length: 50 }, () => '0.1').join(','), // too many to run out while the test runs: the record stays owed
    SWEEP_INTERVAL_S: '0.2',
  });
const post = (body: unknown) =>
  fetch(`${local!.url}/postbacks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then(async (r) => (await r.json()) as { outcome?: string });
const order = (orderId: string, extra: Record<string, unknown> = {}) => ({
  orderId,
  clickref: 'Dry1',
  currency: 'GBP',
  consent: true,
  items: [{ sku: 'S', value: '4.00', quantity: 1 }],
  ...extra,
});
const pz = (...argv: string[]) => runPz(argv, { PZ_LOCAL_URL: local!.url });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  partnerize = await FakePartnerize.start();
  // OWED-1 stays owed (its retries in the live run keep failing); REJ-1 is refused.
  partnerize.setDefault((req) => (req.url.includes('conversionref:REJ-1/') ? { status: 400, body: 'bad' } : { status: 503, body: 'down' }));
  local = await start('live');
  expect((await post(order('OWED-1'))).outcome).toBe('queued'); // owed, with retries due in 0.1 s
  // Only REJ-1 is refused: the live sweep may retry OWED-1 before the process stops, and must find Partnerize still down.
  partnerize.setDefault((req) =>
    req.url.includes('/conversionref:REJ-1/') ? { status: 400, body: 'bad' } : { status: 503, body: 'down' },
  );
  expect((await post(order('REJ-1'))).outcome).toBe('rejected');
  await local.stop();
  partnerize.reset();
  local = await start('dryrun');
});
afterAll(async () => {
  await local?.stop();
  await partnerize?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a dry-run process', () => {
  it('holds sends owed from a live run: the sweep calls nobody', async () => {
    await sleep(1500); // seven sweeps
    expect(partnerize.requests).toHaveLength(0);
    expect((await pz('lookup', 'OWED-1', '--json')).json().status).toBe('queued');
  });

  it('pz replay says the mode, refuses without --live, and sends with it', async () => {
    const refused = await pz('replay', 'OWED-1', '--yes');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('dry run: nothing is sent to Partnerize (--live sends)');
    expect(refused.err).toContain('Pass --live');
    expect(partnerize.requests).toHaveLength(0);
    partnerize.setDefault({ status: 200, body: 'OK' });
    const sent = await pz('replay', 'OWED-1', '--yes', '--live', '--json');
    expect(sent.code).toBe(0);
    expect(sent.err).toContain('but --live: calls go to Partnerize');
    expect(partnerize.requestsFor('OWED-1')).toHaveLength(1);
  });

  it('a dry-run postback does not use the order id up (dry-run mode records, live sends later)', async () => {
    expect((await post(order('LATER-1'))).outcome).toBe('dry_run');
    expect(partnerize.requestsFor('LATER-1')).toHaveLength(0);
    expect((await pz('lookup', 'LATER-1')).out).toContain('DRY_RUN');
  });

  it('pz requeue moves records but sends nothing while the tracker is dry', async () => {
    partnerize.reset();
    const r = await pz('requeue', '--rejected', '--yes');
    expect(r.code).toBe(0);
    expect(r.err).toContain('dry run');
    expect(r.out).toContain('1 of 1 requeued; they are sent when the tracker runs live');
    await sleep(600);
    expect(partnerize.requests).toHaveLength(0);
    expect((await pz('lookup', 'REJ-1', '--json')).json().status).toBe('queued');
    expect((await pz('lookup', 'REJ-1')).out).toContain('held: the tracker now runs a dry run');
  });

  it('pz reconcile says the mode and reads no report without --live (the report is a call to Partnerize)', async () => {
    partnerize.reset();
    const r = await pz('reconcile', '--from', '2026-12-01', '--to', '2026-12-01');
    expect(r.code).toBe(1);
    expect(r.err).toContain('dry run: nothing is sent to Partnerize');
    expect(r.err).toContain('Pass --live to read it');
    expect(partnerize.requests).toHaveLength(0);
  });
});

describe('an order that arrived without consent', () => {
  it('is sent by an operator who confirms consent (the reason is kept), and by nobody else', async () => {
    await local!.stop();
    partnerize.reset();
    local = await start('live');
    await fetch(`${local.url}/clicks`, { method: 'POST', body: JSON.stringify({ sessionId: 'consent-session-01', clickref: 'Cons1' }) });
    expect((await post(order('NOC-1', { clickref: undefined, sessionId: 'consent-session-01', consent: false }))).outcome).toBe(
      'no_consent',
    );
    const refused = await pz('replay', 'NOC-1', '--yes');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('--consent-confirmed');
    expect(partnerize.requestsFor('NOC-1')).toHaveLength(0);
    // Live again: what was requeued during the dry run goes out now.
    await sleep(600);
    expect(partnerize.requestsFor('REJ-1')).toHaveLength(1);
    const r = await pz('replay', 'NOC-1', '--yes', '--consent-confirmed', 'CMP bug on 2026-11-30: consent banner answer lost');
    expect(r.code).toBe(0);
    expect(partnerize.requestsFor('NOC-1')).toHaveLength(1);
    expect(partnerize.requestsFor('NOC-1')[0]!.url).toContain('/clickref:Cons1/');
    const rec = (await pz('lookup', 'NOC-1', '--json')).json();
    expect(rec).toMatchObject({
      status: 'sent',
      consent: true,
      clickrefSource: 'click',
      operatorConsent: { reason: 'CMP bug on 2026-11-30: consent banner answer lost' },
    });
    expect((await pz('lookup', 'NOC-1')).out).toContain('confirmed by an operator');
  });

  it('pz lookup shows why a call got no answer: cause and host; a cut call is held unconfirmed until an operator confirms it', async () => {
    partnerize.setDefault({ drop: true, recorded: true });
    expect((await post(order('CUT-1'))).outcome).toBe('queued');
    const out = (await pz('lookup', 'CUT-1')).out;
    expect(out).toMatch(/connection: reset \(127\.0\.0\.1:\d+\), may have landed/);
    expect(out).toContain('UNCONFIRMED — Partnerize cut the connection');
    await sleep(600); // sweeps: none sends it again
    expect(partnerize.requestsFor('CUT-1')).toHaveLength(1);
    const noReason = await pz('confirm', 'CUT-1', '--yes');
    expect(noReason.code).toBe(2);
    const r = await pz('confirm', 'CUT-1', '--yes', '--reason', 'in the conversion report');
    expect(r.code).toBe(0);
    expect(r.err).toContain('no call is made');
    expect(r.out).toContain('CUT-1 is now sent (confirmed by an operator: in the conversion report); nothing was sent.');
    expect((await pz('lookup', 'CUT-1', '--json')).json().status).toBe('sent');
    expect((await pz('lookup', 'CUT-1')).out).toContain('SENT — an operator confirmed that Partnerize holds it');
    expect(partnerize.requestsFor('CUT-1')).toHaveLength(1);
    const again = await pz('confirm', 'CUT-1', '--yes', '--reason', 'twice');
    expect(again.code).toBe(1);
    expect(again.err).toContain('only an unconfirmed conversion can be confirmed');
  });
});
