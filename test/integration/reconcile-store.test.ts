/**
 * The reconciliation's store calls (ReconciliationStore, UpdateAdmin.requeueEntry), run against both
 * implementations as the store contract is (test/integration/store-contract.test.ts): the DynamoDB
 * adapter on dynalite, through the `campaignTime` index and BatchGetItem, and the memory store.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoReconciliation, DynamoUpdateAdmin } from '#lambdas/adapters/dynamodb-reconcile.js';
import { DynamoConversionAdmin } from '#lambdas/adapters/dynamodb-stores.js';
import { toItem } from '#lambdas/adapters/marshal.js';
import {
  reconcileRunKey,
  UPDATES_SHARD,
  updatesKey,
  type ConversionAdmin,
  type ConversionRecord,
  type OrderUpdatesRecord,
  type ReconcileRunRecord,
  type ReconciliationStore,
  type UpdateAdmin,
} from '#lambdas/core/model.js';
import { emptySummary } from '#lambdas/core/reconcile.js';
import { iso } from '#lambdas/core/time.js';
import { ensureTables, startEmbeddedDynamo, type EmbeddedDynamo } from '../../lib/local/embedded-dynamodb.js';
import { MemoryConversionAdmin, MemoryReconciliation, MemoryUpdateOutbox } from '../support/memory-stores.js';
import { conversionRecord } from '../support/unit-deps.js';

interface Stores {
  conversions: ConversionAdmin;
  updates: UpdateAdmin;
  reconciliation: ReconciliationStore;
  /** Writes an order updates record as it is (the outbox's own writes are tested by the store contract). */
  putUpdates(r: OrderUpdatesRecord): Promise<void>;
}

let dynamo: EmbeddedDynamo;
let tableNo = 0;
beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
});
afterAll(async () => dynamo?.close());

const BACKENDS: Array<[string, () => Promise<Stores>]> = [
  [
    'memory',
    async () => {
      const conversions = new MemoryConversionAdmin();
      const updates = new MemoryUpdateOutbox(conversions);
      return {
        conversions,
        updates,
        reconciliation: new MemoryReconciliation(conversions, updates),
        putUpdates: async (r) => void updates.items.set(r.conversionRef, structuredClone(r)),
      };
    },
  ],
  [
    'dynamodb (dynalite)',
    async () => {
      const tables = { clicks: `RClicks${++tableNo}`, conversions: `RConversions${tableNo}` };
      await ensureTables(dynamo.client, tables);
      return {
        conversions: new DynamoConversionAdmin(dynamo.client, tables.conversions),
        updates: new DynamoUpdateAdmin(dynamo.client, tables.conversions),
        reconciliation: new DynamoReconciliation(dynamo.client, tables.conversions),
        putUpdates: async (r) => void (await dynamo.client.send(new PutItemCommand({ TableName: tables.conversions, Item: toItem(r) }))),
      };
    },
  ],
];

const T = Date.UTC(2026, 10, 23, 0, 0, 0);
const sent = (ref: string, orderTime: number, campaignId: string | null = 'A'): ConversionRecord =>
  conversionRecord(
    { conversionRef: ref, status: 'sent', campaignId: campaignId ?? undefined, orderTime, dueShard: undefined, dueAt: undefined },
    T,
  );

const updates = (ref: string, state: 'applied' | 'owed', over: Partial<OrderUpdatesRecord> = {}): OrderUpdatesRecord => ({
  conversionRef: updatesKey(ref),
  recordType: 'order_updates',
  ref,
  orderId: ref,
  campaignId: 'A',
  createdAt: iso(T),
  updatedAt: iso(T),
  version: 2,
  entries: {
    u1: {
      id: 'u1',
      seq: 1,
      kind: 'cancel',
      source: 'native',
      acceptedAt: iso(T),
      updatedAt: iso(T),
      state,
      retries: 3,
      notBefore: T + 1000,
      group: 'g1',
      sent: { form: 'conversion_references', campaignId: 'A', effect: 'reject', updates: { [ref]: { status: 'rejected' } } },
    },
  },
  expiresAt: 0,
  ...over,
});

const refs = (rs: readonly { conversionRef: string }[]) => rs.map((r) => r.conversionRef).sort();

describe.each(BACKENDS)('%s', (_, make) => {
  let s: Stores;
  beforeEach(async () => {
    s = await make();
  });

  it('conversionsIn: a campaign’s records with the order time in [from, to), nothing else', async () => {
    const DAY = 86_400_000;
    for (const r of [
      sent('FIRST', T),
      sent('LAST', T + DAY - 1),
      sent('NEXT-DAY', T + DAY),
      sent('DAY-BEFORE', T - 1),
      sent('OTHER-CAMPAIGN', T + 5, 'B'),
      sent('NO-CAMPAIGN', T + 5, null),
      conversionRecord({ conversionRef: 'OWED', status: 'queued', campaignId: 'A', orderTime: T + 10 }, T),
    ])
      expect(await s.conversions.create(r)).toMatchObject({ created: true });
    await s.putUpdates(updates('FIRST', 'applied'));
    await s.reconciliation.putRun(run('A', T, T + DAY));
    const got = await s.reconciliation.conversionsIn('A', T, T + DAY);
    expect(refs(got)).toEqual(['FIRST', 'LAST', 'OWED']);
    expect(got.find((r) => r.conversionRef === 'FIRST')).toEqual(sent('FIRST', T));
    expect(refs(await s.reconciliation.conversionsIn('B', T, T + DAY))).toEqual(['OTHER-CAMPAIGN']);
  });

  it('conversionsIn and conversionsByRef read past one batch (BatchGetItem takes 100 keys)', async () => {
    const many = Array.from({ length: 250 }, (_, i) => sent(`ORD-${String(i).padStart(3, '0')}`, T + i * 1000));
    for (const r of many) await s.conversions.create(r);
    expect(refs(await s.reconciliation.conversionsIn('A', T, T + 86_400_000))).toEqual(refs(many));
    const asked = [...many.map((r) => r.conversionRef), 'ORD-000', 'NOT-THERE', updatesKey('ORD-001')];
    expect(refs(await s.reconciliation.conversionsByRef(asked))).toEqual(refs(many));
  });

  it('updatesOf: the order updates records of these conversions that exist', async () => {
    await s.putUpdates(updates('X', 'applied'));
    await s.putUpdates(updates('Y', 'owed'));
    expect((await s.reconciliation.updatesOf(['X', 'Y', 'Z', 'X'])).map((u) => u.ref).sort()).toEqual(['X', 'Y']);
    expect(await s.reconciliation.updatesOf([])).toEqual([]);
  });

  it('putRun / getRun: one record per campaign and window, a re-run replaces it', async () => {
    const first = run('A', T, T + 1000);
    await s.reconciliation.putRun(first);
    expect(await s.reconciliation.getRun(first.conversionRef)).toEqual(first);
    const again = { ...first, ranAt: iso(T + 5000), rowsLeftOut: 3 };
    await s.reconciliation.putRun(again);
    expect(await s.reconciliation.getRun(first.conversionRef)).toEqual(again);
    expect(await s.reconciliation.getRun(reconcileRunKey('B', iso(T), iso(T + 1000)))).toBeUndefined();
  });

  it('requeueEntry: an applied update owed again, fresh schedule, due now; never one that is not applied or is held', async () => {
    await s.putUpdates(updates('X', 'applied'));
    expect(await s.updates.requeueEntry('X', 'u1', 'not reflected', T + 60_000)).toBe(true);
    const r = await s.updates.get('X');
    expect(r?.entries['u1']).toEqual({
      ...updates('X', 'applied').entries['u1'],
      state: 'owed',
      retries: 0,
      note: 'not reflected',
      updatedAt: iso(T + 60_000),
      notBefore: undefined,
      group: undefined,
    });
    expect(r).toMatchObject({ dueShard: UPDATES_SHARD, dueAt: T + 60_000, version: 3 });
    expect((await s.updates.listDue(UPDATES_SHARD, T + 60_000, 10)).map((d) => d.conversionRef)).toEqual([updatesKey('X')]);
    // Owed now: a second requeue does nothing.
    expect(await s.updates.requeueEntry('X', 'u1', 'again', T + 61_000)).toBe(false);

    await s.putUpdates(updates('HELD', 'applied', { leaseId: 'retry-fn', dueShard: UPDATES_SHARD, dueAt: T + 90_000 }));
    expect(await s.updates.requeueEntry('HELD', 'u1', 'x', T + 60_000)).toBe(false);
    // Once the holder's lease has run out, it may.
    expect(await s.updates.requeueEntry('HELD', 'u1', 'x', T + 90_000)).toBe(true);
    expect(await s.updates.requeueEntry('NONE', 'u1', 'x', T)).toBe(false);
    expect(await s.updates.requeueEntry('X', 'no-such-entry', 'x', T)).toBe(false);
  });
});

function run(campaignId: string, from: number, to: number): ReconcileRunRecord {
  return {
    conversionRef: reconcileRunKey(campaignId, iso(from), iso(to)),
    recordType: 'reconcile_run',
    campaignId,
    campaignName: 'default',
    from: iso(from),
    to: iso(to),
    graceMs: 0,
    ranAt: iso(to),
    durationMs: 12,
    pages: 1,
    summary: emptySummary(),
    rows: [],
    rowsLeftOut: 0,
    expiresAt: 0,
  };
}
