/**
 * The rules of the order lifecycle (core/order-update-plan.ts, core/order-update-sweep.ts's
 * jobResults): when an update waits, what is sent for it, precedence between updates, partial
 * refunds, and how a job's result lands on each update.
 */
import { describe, expect, it } from 'vitest';
import { updatesKey, type ConversionRecord, type OrderUpdatesRecord, type PartnerizeItem, type UpdateEntry } from '#lambdas/core/model.js';
import {
  FAILED_CONVERSION_RECHECK_MS,
  itemsOfCall,
  itemUpdatesFor,
  orderQuantities,
  planUpdates,
  SUBMITTED_TIMEOUT_MS,
  type PlanContext,
} from '#lambdas/core/order-update-plan.js';
import { jobResults } from '#lambdas/core/order-update-sweep.js';
import { requestFor } from '#lambdas/core/partnerize-request.js';
import { conversionRecord, unitConfig } from '../../support/unit-deps.js';

const T = Date.UTC(2026, 11, 1, 12);
const at = (ms: number) => new Date(ms).toISOString();
const ctx: PlanContext = { now: T, recheckMs: 60_000, unknownOrderGraceMs: 60_000, campaignId: 'default-camp', autoApproveAfterDays: 30 };

let seq = 0;
const entry = (over: Partial<UpdateEntry> = {}): UpdateEntry => {
  seq++;
  return {
    id: `e${seq}`,
    seq: T - 10_000 + seq,
    kind: 'cancel',
    source: 'native',
    acceptedAt: at(T - 10_000),
    updatedAt: at(T - 10_000),
    state: 'owed',
    retries: 0,
    ...over,
  };
};
const record = (entries: UpdateEntry[], over: Partial<OrderUpdatesRecord> = {}): OrderUpdatesRecord => ({
  conversionRef: updatesKey('ORD-1'),
  recordType: 'order_updates',
  ref: 'ORD-1',
  orderId: 'ORD-1',
  campaignId: 'camp-1',
  createdAt: at(T),
  updatedAt: at(T),
  version: 1,
  entries: Object.fromEntries(entries.map((e) => [e.id, e])),
  expiresAt: 2_000_000_000,
  ...over,
});
const call = (items: Array<{ sku?: string; value: string; quantity: number }>) =>
  requestFor({ baseUrl: 'https://prf.hn', method: 'GET', campaignId: 'camp-1', conversionRef: 'ORD-1', currency: 'GBP', items }, 'AbC')
    .request;
const sent = (over: Partial<ConversionRecord> = {}): ConversionRecord =>
  conversionRecord({
    conversionRef: 'ORD-1',
    status: 'sent',
    campaignId: 'camp-1',
    dueAt: undefined,
    dueShard: undefined,
    request: call([
      { sku: 'SKU-1', value: '20', quantity: 2 },
      { sku: 'SKU-2', value: '5', quantity: 1 },
    ]),
    ...over,
  });
const applied = (over: Partial<UpdateEntry>, effect: 'reject' | 'approve' | 'items', updates: Record<string, object> = { 'ORD-1': {} }) =>
  entry({
    state: 'applied',
    ...over,
    sent: { form: effect === 'items' ? 'conversion_items' : 'conversion_references', campaignId: 'camp-1', effect, updates },
  });

describe('planUpdates: an update never overtakes its conversion', () => {
  it('held while its conversion is owed, looked at again after the first retry delay (or when the conversion is due)', () => {
    const e = entry();
    for (const status of ['pending', 'queued'] as const) {
      const p = planUpdates(record([e]), sent({ status, dueAt: T + 300_000 }), ctx);
      expect(p.send).toBeUndefined();
      expect(p.changed).toEqual([
        expect.objectContaining({ id: e.id, state: 'held', note: `waiting for its conversion to be sent (${status})` }),
      ]);
      expect(p.dueAt).toBe(T + 300_000);
    }
    expect(planUpdates(record([e]), sent({ status: 'queued', dueAt: T }), ctx).dueAt).toBe(T + 60_000);
    expect(planUpdates(record([e]), sent({ status: 'failed' }), ctx)).toMatchObject({ dueAt: T + FAILED_CONVERSION_RECHECK_MS });
    // Unconfirmed (its call was cut): Partnerize may hold it, so the update waits, never dropped.
    const cut = planUpdates(record([e]), sent({ status: 'unconfirmed' }), ctx);
    expect(cut).toMatchObject({ dueAt: T + FAILED_CONVERSION_RECHECK_MS });
    expect(cut.send).toBeUndefined();
    expect(cut.changed).toEqual([expect.objectContaining({ state: 'held', note: expect.stringContaining('unconfirmed') })]);
  });

  it('a conversion never sent: nothing to update (not_applicable), and the next update is looked at', () => {
    const p = planUpdates(record([entry(), entry({ kind: 'approve' })]), sent({ status: 'unattributed' }), ctx);
    expect(p.changed.map((e) => e.state)).toEqual(['not_applicable', 'not_applicable']);
    expect(p.send).toBeUndefined();
    expect(p.dueAt).toBeUndefined();
  });

  it('an order the tracker has no record of waits for its postback during the grace period, then goes by reference', () => {
    const young = entry({ acceptedAt: at(T - 30_000) });
    expect(planUpdates(record([young]), undefined, ctx)).toMatchObject({ changed: [{ state: 'held' }], dueAt: T + 60_000 });
    const old = entry({ acceptedAt: at(T - 61_000) });
    const p = planUpdates(record([old], { campaignId: 'default-camp' }), undefined, ctx);
    expect(p.send).toMatchObject({
      form: 'conversion_references',
      campaignId: 'default-camp',
      unknownOrder: true,
      updates: [['ORD-1', { status: 'rejected', reason: 'order cancelled' }]],
    });
  });

  it('an update waits while an earlier one is in a job; one whose job was never followed up is sent again', () => {
    const inJob = entry({ state: 'submitted', jobId: '1l1', updatedAt: at(T - 1_000) });
    const later = entry({ kind: 'approve' });
    expect(planUpdates(record([inJob, later]), sent(), ctx)).toEqual({ changed: [], dueAt: T - 1_000 + SUBMITTED_TIMEOUT_MS });
    const lost = { ...inJob, updatedAt: at(T - SUBMITTED_TIMEOUT_MS - 1) };
    expect(planUpdates(record([lost, later]), sent(), ctx).send?.entry.id).toBe(lost.id);
  });

  it('an update scheduled for a retry waits until then', () => {
    expect(planUpdates(record([entry({ notBefore: T + 5_000 })]), sent(), ctx)).toEqual({ changed: [], dueAt: T + 5_000 });
  });
});

describe('planUpdates: what is sent', () => {
  it('a cancel, a whole return or refund, an operator reject: the conversion rejected by reference, with the reason', () => {
    for (const kind of ['cancel', 'return', 'refund', 'reject'] as const) {
      const p = planUpdates(record([entry({ kind, reason: 'Customer: "changed mind"' })]), sent(), ctx);
      expect(p.send).toMatchObject({
        form: 'conversion_references',
        campaignId: 'camp-1',
        effect: 'reject',
        updates: [['ORD-1', { status: 'rejected', reason: 'Customer: "changed mind"' }]],
      });
    }
  });

  it('an approve: approved by reference', () => {
    expect(planUpdates(record([entry({ kind: 'approve' })]), sent(), ctx).send).toMatchObject({
      effect: 'approve',
      updates: [['ORD-1', { status: 'approved', reason: 'order approved' }]],
    });
  });
});

describe('planUpdates: precedence', () => {
  it('approve after a cancel was applied is superseded; an operator approve with --force re-approves', () => {
    const cancelled = applied({ kind: 'cancel' }, 'reject');
    expect(planUpdates(record([cancelled, entry({ kind: 'approve' })]), sent(), ctx)).toEqual({
      changed: [expect.objectContaining({ state: 'superseded' })],
    });
    expect(planUpdates(record([cancelled, entry({ kind: 'auto_approve' })]), sent(), ctx)).toMatchObject({
      changed: [{ state: 'superseded' }],
    });
    expect(planUpdates(record([cancelled, entry({ kind: 'approve', source: 'operator', force: true })]), sent(), ctx).send).toMatchObject({
      effect: 'approve',
    });
  });

  it('a second cancel, or a partial refund after a cancel, has nothing left to do', () => {
    const cancelled = applied({ kind: 'cancel' }, 'reject');
    const p = planUpdates(
      record([cancelled, entry({ kind: 'return' }), entry({ kind: 'refund', items: [{ sku: 'SKU-1', quantity: 1 }] })]),
      sent(),
      ctx,
    );
    expect(p.changed.map((e) => e.state)).toEqual(['superseded', 'superseded']);
    expect(p.send).toBeUndefined();
  });

  it('the automatic approval is once: superseded after an approval', () => {
    expect(planUpdates(record([applied({ kind: 'approve' }, 'approve'), entry({ kind: 'auto_approve' })]), sent(), ctx).changed).toEqual([
      expect.objectContaining({ state: 'superseded', note: 'the conversion was approved already' }),
    ]);
  });

  it('a cancel after an approval is still sent (Partnerize decides whether an approved conversion may change)', () => {
    expect(planUpdates(record([applied({ kind: 'approve' }, 'approve'), entry({ kind: 'cancel' })]), sent(), ctx).send).toMatchObject({
      effect: 'reject',
    });
  });

  it('an update whose earlier update failed is still sent (the failure is on record)', () => {
    expect(planUpdates(record([entry({ kind: 'cancel', state: 'failed' }), entry({ kind: 'approve' })]), sent(), ctx).send).toMatchObject({
      effect: 'approve',
    });
  });
});

describe('partial refunds', () => {
  const items: PartnerizeItem[] = [
    { id: '9l1', sku: 'SKU-1', value: 40, status: 'pending' },
    { id: '9l2', sku: 'SKU-2', value: 5, status: 'pending' },
  ];

  it("needs Partnerize's item ids first", () => {
    expect(planUpdates(record([entry({ kind: 'refund', items: [{ sku: 'SKU-1', quantity: 1 }] })]), sent(), ctx)).toEqual({
      changed: [],
      needsItems: true,
    });
  });

  it('lowers the value of an item of which some units went back; rejects an item when all did', () => {
    const p = planUpdates(
      record(
        [
          entry({
            kind: 'refund',
            items: [
              { sku: 'SKU-1', quantity: 1 },
              { sku: 'SKU-2', quantity: 1 },
            ],
          }),
        ],
        { items },
      ),
      sent(),
      ctx,
    );
    expect(p.send).toMatchObject({
      form: 'conversion_items',
      effect: 'items',
      updates: [
        ['9l1', { itemValue: 20, reason: 'order refunded' }],
        ['9l2', { status: 'rejected', reason: 'order refunded' }],
      ],
    });
  });

  it('when every unit of every line went back (over several refunds), the whole conversion is rejected by reference', () => {
    const first = applied({ kind: 'refund', items: [{ sku: 'SKU-1', quantity: 1 }] }, 'items', { '9l1': { item_value: 20 } });
    const p = planUpdates(
      record([
        first,
        entry({
          kind: 'return',
          items: [
            { sku: 'SKU-1', quantity: 1 },
            { sku: 'SKU-2', quantity: 1 },
          ],
        }),
      ]),
      sent(),
      ctx,
    );
    expect(p.send).toMatchObject({ form: 'conversion_references', effect: 'reject', updates: [['ORD-1', { status: 'rejected' }]] });
  });

  it('an approve after items were rejected approves the remaining items one by one', () => {
    const refunded = applied({ kind: 'refund', items: [{ sku: 'SKU-2', quantity: 1 }] }, 'items', { '9l2': { status: 'rejected' } });
    const p = planUpdates(record([refunded, entry({ kind: 'auto_approve' })], { items }), sent(), ctx);
    expect(p.send).toMatchObject({
      form: 'conversion_items',
      effect: 'approve',
      updates: [['9l1', { status: 'approved', reason: 'approved automatically after 30 days' }]],
    });
  });

  it('a refund naming no SKU of the conversion fails (on record, paged); one naming some sends those', () => {
    const none = planUpdates(record([entry({ kind: 'refund', items: [{ sku: 'NOPE', quantity: 1 }] })], { items }), sent(), ctx);
    expect(none.changed).toEqual([expect.objectContaining({ state: 'failed', note: expect.stringContaining('NOPE') })]);
    const some = planUpdates(
      record(
        [
          entry({
            kind: 'refund',
            items: [
              { sku: 'NOPE', quantity: 1 },
              { sku: 'SKU-2', quantity: 1 },
            ],
          }),
        ],
        { items },
      ),
      sent(),
      ctx,
    );
    expect(some.send?.updates).toEqual([['9l2', { status: 'rejected', reason: 'order refunded' }]]);
    expect(some.send?.entry.note).toMatch(/NOPE/);
  });

  describe('itemUpdatesFor', () => {
    it('one item per unit at Partnerize: rejects as many as units went back', () => {
      const perUnit: PartnerizeItem[] = [
        { id: '1l1', sku: 'A', value: 10 },
        { id: '1l2', sku: 'A', value: 10 },
        { id: '1l3', sku: 'A', value: 10, status: 'rejected' },
      ];
      expect(itemUpdatesFor([{ sku: 'A', quantity: 1 }], perUnit, new Map([['A', 3]]), new Map(), 'r').updates).toEqual([
        ['1l2', { status: 'rejected', reason: 'r' }],
      ]);
      expect(itemUpdatesFor([{ sku: 'A', quantity: 5 }], perUnit, undefined, new Map(), 'r').updates).toHaveLength(2);
    });

    it('by the refunded value when the line gives it, else in proportion to the units left, else rejected', () => {
      const one: PartnerizeItem[] = [{ id: '1l1', sku: 'A', value: 30 }];
      expect(itemUpdatesFor([{ sku: 'A', quantity: 1, value: '7.5' }], one, new Map([['A', 3]]), new Map(), 'r').updates).toEqual([
        ['1l1', { itemValue: 22.5, reason: 'r' }],
      ]);
      expect(itemUpdatesFor([{ sku: 'A', quantity: 1 }], one, new Map([['A', 3]]), new Map([['A', 1]]), 'r').updates).toEqual([
        ['1l1', { itemValue: 15, reason: 'r' }],
      ]);
      expect(itemUpdatesFor([{ sku: 'A', quantity: 2 }], one, new Map([['A', 3]]), new Map([['A', 1]]), 'r').updates).toEqual([
        ['1l1', { status: 'rejected', reason: 'r' }],
      ]);
      expect(itemUpdatesFor([{ sku: 'A', quantity: 1 }], one, undefined, new Map(), 'r').updates).toEqual([
        ['1l1', { status: 'rejected', reason: 'r' }],
      ]);
      expect(itemUpdatesFor([{ sku: 'A', quantity: 1, value: '40' }], one, undefined, new Map(), 'r').updates).toEqual([
        ['1l1', { status: 'rejected', reason: 'r' }],
      ]);
    });
  });

  it("the order's quantities come from the exact call (or the stored order of a condensed basket); unknown without SKUs", () => {
    expect([...orderQuantities(sent())!]).toEqual([
      ['SKU-1', 2],
      ['SKU-2', 1],
    ]);
    expect(itemsOfCall(call([{ sku: 'a/b:c[d]%', value: '1', quantity: 3 }]).url)).toEqual([{ sku: 'a/b:c[d]%', quantity: 3 }]);
    expect(orderQuantities(sent({ request: call([{ value: '1', quantity: 1 }]) }))).toBeUndefined();
    const condensed = sent({
      call: {
        baseUrl: 'x',
        method: 'GET',
        campaignId: 'c',
        conversionRef: 'ORD-1',
        currency: 'GBP',
        items: [{ sku: 'Z', value: '1', quantity: 4 }],
      },
    });
    expect([...orderQuantities(condensed)!]).toEqual([['Z', 4]]);
  });
});

describe('jobResults', () => {
  const deps = { config: unitConfig(), random: () => 0.5 };
  const now = T;
  const job = {
    jobId: '5l5',
    members: [
      { record: 'k1', entry: 'a', keys: ['ORD-1'], retries: 0, version: 1, followUp: false },
      { record: 'k2', entry: 'b', keys: ['ORD-2'], retries: 0, version: 1, followUp: false },
      { record: 'k3', entry: 'c', keys: ['LEGACY-3'], retries: 1, unknownOrder: true, version: 1, followUp: false },
      { record: 'k4', entry: 'd', keys: ['ORD-4'], retries: 0, version: 1, followUp: false },
    ],
  };

  it("applied, failed with the task's message, and an unknown order not found is retried (its conversion may come)", () => {
    const tasks = [
      {
        id: 't',
        status: 'complete',
        itemErrorCount: 2,
        resultData: JSON.stringify({
          errors: [
            { id: 'ORD-2', message: 'invoiced' },
            { id: 'LEGACY-3', message: 'not found' },
          ],
        }),
      },
    ];
    const r = jobResults(job, { id: '5l5', status: 'complete', itemErrorCount: 2 }, tasks, now, deps);
    expect(r.map((p) => p.state)).toEqual(['applied', 'failed', 'owed', 'applied']);
    expect(r[1]).toMatchObject({ note: 'Partnerize: ORD-2: invoiced', attempt: { jobId: '5l5', result: 'rejected' } });
    expect(r[2]).toMatchObject({ retries: 2, notBefore: now + 300_000 });
  });

  it('failures the tasks do not name: the unnamed updates are split in two groups to find them', () => {
    const tasks = [{ id: 't', status: 'complete', itemErrorCount: 1, resultData: 'Processed with errors' }];
    const r = jobResults(job, { id: '5l5', status: 'complete', itemErrorCount: 1 }, tasks, now, deps);
    expect(r.map((p) => [p.state, p.group])).toEqual([
      ['owed', '5l5/a'],
      ['owed', '5l5/a'],
      ['owed', '5l5/b'],
      ['owed', '5l5/b'],
    ]);
    const alone = jobResults(
      { jobId: '6l6', members: [job.members[0]!] },
      { id: '6l6', status: 'complete', itemErrorCount: 1 },
      tasks,
      now,
      deps,
    );
    expect(alone).toEqual([expect.objectContaining({ state: 'failed', note: 'Partnerize reported this update failed (job 6l6)' })]);
  });

  it('a failed job retries every update on the schedule; the last retry ends failed', () => {
    const r = jobResults(job, { id: '5l5', status: 'failed' }, [], now, deps);
    expect(r.every((p) => p.state === 'owed')).toBe(true);
    const exhausted = jobResults(
      { jobId: '5l5', members: [{ ...job.members[0]!, retries: 3 }] },
      { id: '5l5', status: 'failed' },
      [],
      now,
      deps,
    );
    expect(exhausted[0]).toMatchObject({ state: 'failed', retries: 4 });
  });
});
