/**
 * `pz reconcile` over thousands of orders on real parts: the local mode in this process (its
 * embedded dynalite, its report route that adds the API keys), the operator CLI, the strict fake of
 * Partnerize's API serving the report over HTTP in pages of 300 (with 429s on the way) and the S2S
 * fake that `--fix` re-sends to. Differences of every class are seeded among 3,000 orders: each is
 * found and classed, nothing else is; `--fix` re-sends exactly the missing ones; a second
 * reconciliation is clean except for what no command can put right.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConversionAdmin } from '#lambdas/adapters/dynamodb-stores.js';
import { localDynamoClient } from '../../lib/local/embedded-dynamodb.js';
import { startLocal, type LocalServer } from '../../lib/local/server.js';
import { PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { toItem } from '#lambdas/adapters/marshal.js';
import { updatesKey, type ConversionRecord, type OrderUpdatesRecord } from '#lambdas/core/model.js';
import { buildConversionUrl, formatConversionTime } from '#lambdas/core/partnerize-url.js';
import { DAY_MS, HOUR_MS, iso } from '#lambdas/core/time.js';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { FakePartnerizeApi } from '../support/fake-partnerize-api.js';
import { runPz } from '../support/pz.js';

const CAMPAIGN = '1011l270';
const ORDERS = 3_000;
const NOW = Date.now();
const DAY = Math.floor(NOW / DAY_MS) * DAY_MS - DAY_MS;
const DATE = iso(DAY).slice(0, 10);

let s2s: FakePartnerize;
let api: FakePartnerizeApi;
let local: LocalServer;
let db: DynamoDBClient;

/** What was seeded, by class: the differences the reconciliation must find, and nothing else. */
const seeded = {
  missing: [] as string[],
  recent: [] as string[],
  unexpected: [] as string[],
  value: [] as string[],
  items: [] as string[],
  status: [] as string[],
};

interface Line {
  sku: string;
  value: string;
  quantity: number;
}

function record(
  ref: string,
  orderTime: number,
  lines: Line[],
  status: ConversionRecord['status'] = 'sent',
  deliveredAt = orderTime + 60_000,
): ConversionRecord {
  const url = buildConversionUrl(s2s.url, {
    campaignId: CAMPAIGN,
    clickref: `Ck${ref.replace(/\W/g, '')}`,
    conversionRef: ref,
    currency: 'GBP',
    conversionTime: orderTime,
    items: lines,
  });
  return {
    conversionRef: ref,
    writeId: `w-${ref}`,
    orderId: ref,
    campaignId: CAMPAIGN,
    campaign: 'default',
    status,
    createdAt: iso(orderTime),
    updatedAt: iso(deliveredAt),
    orderTime,
    mode: 'live',
    source: 'native',
    clickref: `Ck${ref.replace(/\W/g, '')}`,
    clickrefSource: 'postback',
    consent: status !== 'no_consent',
    consentPolicy: 'required',
    currency: 'GBP',
    itemCount: lines.length,
    orderValue: '0',
    request: { method: 'GET', url },
    attempts:
      status === 'sent' ? [{ at: iso(deliveredAt), trigger: 'inline', result: 'sent', status: 200, body: 'OK', latencyMs: 20 }] : [],
    retries: 0,
    expiresAt: Math.ceil(NOW / 1000) + 400 * 86_400,
  };
}

function appliedCancel(ref: string, at: number): OrderUpdatesRecord {
  return {
    conversionRef: updatesKey(ref),
    recordType: 'order_updates',
    ref,
    orderId: ref,
    campaignId: CAMPAIGN,
    createdAt: iso(at),
    updatedAt: iso(at),
    version: 3,
    entries: {
      c1: {
        id: 'c1',
        seq: 1,
        kind: 'cancel',
        source: 'native',
        acceptedAt: iso(at),
        updatedAt: iso(at),
        state: 'applied',
        retries: 0,
        jobId: '77l77',
        sent: { form: 'conversion_references', campaignId: CAMPAIGN, effect: 'reject', updates: { [ref]: { status: 'rejected' } } },
      },
    },
    expiresAt: Math.ceil(NOW / 1000) + 400 * 86_400,
  };
}

beforeAll(async () => {
  s2s = await FakePartnerize.start();
  api = await FakePartnerizeApi.start();
  api.linkTo(s2s);
  local = await startLocal({
    PORT: '0',
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: s2s.url,
    PARTNERIZE_CAMPAIGN_ID: CAMPAIGN,
    ...api.env,
    POSTBACK_TOKEN: 'reconcile-integration-token',
    // Nothing is due; the retry loop stays out of the way of what the test counts.
    SWEEP_INTERVAL_S: '3600',
  });
  db = localDynamoClient(local.info.dynamodbEndpoint);
  const conversions = new DynamoConversionAdmin(db, local.info.tables.conversions);

  const records: ConversionRecord[] = [];
  const updates: OrderUpdatesRecord[] = [];
  for (let i = 0; i < ORDERS; i++) {
    const ref = `ORD-${String(i).padStart(5, '0')}`;
    // Spread over the day's first 16 hours: every delivery is well past the 6 h grace.
    const orderTime = DAY + Math.floor((i * 16 * HOUR_MS) / ORDERS);
    const lines: Line[] = [
      { sku: `SKU-${i % 7}`, value: ['19.99', '5.5', '0.1', '120'][i % 4]!, quantity: 1 + (i % 3) },
      { sku: 'GIFT-WRAP', value: '2.95', quantity: 1 },
    ];
    const kind = i % 100;
    let rec = record(ref, orderTime, lines);
    if (kind === 50 && i < 1000) {
      // Delivered an hour ago, not yet in the report: inside the grace period, not judged.
      rec = record(ref, orderTime, lines, 'sent', NOW - HOUR_MS);
      seeded.recent.push(ref);
    }
    if (kind === 60) rec = record(ref, orderTime, lines, 'no_consent');
    records.push(rec);
    const held = api.addConversion({
      reference: ref,
      campaignId: CAMPAIGN,
      time: formatConversionTime(orderTime),
      currency: 'GBP',
      clickref: rec.clickref!,
      items: lines.map((l) => ({ sku: l.sku, value: Math.round(Number(l.value) * l.quantity * 10_000) / 10_000, quantity: l.quantity })),
    });
    if (kind === 10 || (kind === 50 && i < 1000)) {
      api.forget(ref);
      if (kind === 10) seeded.missing.push(ref);
    } else if (kind === 20) {
      held.items[0]!.value += 1; // another price, same basket
      seeded.value.push(ref);
    } else if (kind === 21) {
      held.currency = 'EUR';
      seeded.value.push(ref);
    } else if (kind === 30) {
      held.items.pop(); // the gift wrap is gone
      seeded.items.push(ref);
    } else if (kind === 31) {
      held.items[0]!.sku = 'SKU-OTHER';
      seeded.items.push(ref);
    } else if (kind === 40) {
      // The tracker applied a cancellation; Partnerize still says pending.
      updates.push(appliedCancel(ref, orderTime + HOUR_MS));
      seeded.status.push(ref);
    } else if (kind === 41) {
      // Applied, and reflected: not a difference.
      updates.push(appliedCancel(ref, orderTime + HOUR_MS));
      for (const it of held.items) it.status = 'rejected';
    } else if (kind === 60) {
      // Held by Partnerize, never sent by the tracker (no consent): the legacy pixel sent it.
      seeded.unexpected.push(ref);
    }
  }
  // Conversions the tracker has no record of at all.
  for (let i = 0; i < 20; i++) {
    const ref = `PIXEL-${i}`;
    api.addConversion({
      reference: ref,
      campaignId: CAMPAIGN,
      time: formatConversionTime(DAY + i * HOUR_MS),
      items: [{ sku: 'X', value: 12 }],
    });
    seeded.unexpected.push(ref);
  }
  for (let i = 0; i < records.length; i += 50)
    await Promise.all(records.slice(i, i + 50).map(async (r) => expect(await conversions.create(r)).toMatchObject({ created: true })));
  for (const u of updates) await db.send(new PutItemCommand({ TableName: local.info.tables.conversions, Item: toItem(u) }));
}, 180_000);

afterAll(async () => {
  db?.destroy();
  await local?.close();
  await api?.close();
  await s2s?.close();
});

const pz = (...args: string[]) => runPz(['reconcile', '--from', DATE, '--to', DATE, '--local', local.url, ...args], {});
const byClass = (rows: Array<{ class: string; conversionRef: string }>) => {
  const out: Record<string, string[]> = { missing: [], unexpected: [], value: [], items: [], status: [] };
  for (const r of rows) out[r.class]!.push(r.conversionRef);
  for (const k of Object.keys(out)) out[k]!.sort();
  return out;
};

describe('pz reconcile over 3,000 orders', () => {
  it('finds each seeded difference in its class and nothing else, reading every page politely', async () => {
    api.rateLimit(2, 1);
    const before = api.reportRequests.length;
    const r = await pz('--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(3);
    const out = r.json();
    expect(byClass(out.rows)).toEqual({
      missing: [...seeded.missing].sort(),
      unexpected: [...seeded.unexpected].sort(),
      value: [...seeded.value].sort(),
      items: [...seeded.items].sort(),
      status: [...seeded.status].sort(),
    });
    expect(out.summary.recent).toBe(seeded.recent.length);
    expect(out.summary.notSent).toEqual({});
    // 3,000 orders and 20 pixel conversions, less the 40 forgotten: 11 pages of 300, and two 429s waited out.
    const requests = api.reportRequests.slice(before);
    expect(requests.filter((q) => q.status === 429)).toHaveLength(2);
    expect(requests.filter((q) => q.status === 200)).toHaveLength(Math.ceil((ORDERS + 20 - 40) / 300));
    expect(out.campaigns[0].pages).toBe(Math.ceil((ORDERS + 20 - 40) / 300));
    // The report is read with the local mode's keys: they never reach the CLI.
    expect(requests.every((q) => q.authorized)).toBe(true);
    // A missing row carries the exact call that was answered 2xx.
    const missing = out.rows.find((x: { class: string }) => x.class === 'missing');
    expect(missing.ours.call.url.startsWith(`${s2s.url}/conversion/`)).toBe(true);
    expect(missing.ours.call.url).toContain(`/conversionref:${missing.conversionRef}/`);
  }, 120_000);

  it('the table names every differing order; CSV has one line per difference', async () => {
    const table = await pz();
    expect(table.code).toBe(3);
    for (const ref of Object.values(seeded).flat()) if (!seeded.recent.includes(ref)) expect(table.out).toContain(ref);
    const csv = await pz('--csv');
    expect(csv.code).toBe(3);
    const lines = csv.out.trim().split('\n');
    expect(lines[0]).toMatch(/^class,campaign_id,order_id,conversion_ref,/);
    expect(lines).toHaveLength(
      1 + seeded.missing.length + seeded.unexpected.length + seeded.value.length + seeded.items.length + seeded.status.length,
    );
    expect(csv.err).toMatch(/Something differs: exit code 3/);
  }, 120_000);

  it('--fix re-sends exactly the missing conversions and re-queues the drifted updates; then only what no command fixes is left', async () => {
    const sentBefore = s2s.requests.length;
    const fix = await pz('--fix', '--yes', '--json');
    expect(fix.code).toBe(3);
    const resent = s2s.requests.slice(sentBefore).map((q) => decodeURIComponent(/\/conversionref:([^/]+)\//.exec(q.url)![1]!));
    expect(resent.sort()).toEqual([...seeded.missing].sort());
    expect(fix.err).toMatch(/re-send 30 missing conversion\(s\)/);
    expect(fix.err).toMatch(/re-queue 30 update\(s\)/);

    const after = await pz('--grace', '0', '--json');
    expect(after.code).toBe(3);
    expect(byClass(after.json().rows)).toEqual({
      // With no grace, the recent ones (still not held) are judged now; the re-sent ones are held.
      missing: [...seeded.recent].sort(),
      unexpected: [...seeded.unexpected].sort(),
      value: [...seeded.value].sort(),
      items: [...seeded.items].sort(),
      // Re-queued: owed again (the retry function sends them), no longer an applied update that is not reflected.
      status: [],
    });
  }, 120_000);
});
