/**
 * Accepting order updates on the postbacks route (core/order-updates.ts through acceptPostback):
 * what each kind of update answers for each state of its conversion, what is stored, dedupe, and
 * the 400s that name the sender's field.
 */
import { describe, expect, it } from 'vitest';
import { METRICS } from '#lambdas/core/metrics.js';
import { updatesKey, type ConversionStatus, type OrderUpdatesRecord } from '#lambdas/core/model.js';
import { updateIdOf, updateKindOf } from '#lambdas/core/order-updates.js';
import { acceptPostback } from '#lambdas/core/postbacks.js';
import { InputError } from '#lambdas/core/errors.js';
import { tealiumOrderUpdate } from '../../fixtures/tealium.js';
import { CAMPAIGN, conversionRecord, unitDeps, type UnitDeps } from '../../support/unit-deps.js';

const seed = (deps: UnitDeps, status: ConversionStatus, ref = 'ORD-1', over = {}) =>
  deps.conversions.items.set(
    ref,
    conversionRecord({ conversionRef: ref, status, dueAt: undefined, dueShard: undefined, campaignId: 'other-camp', ...over }),
  );
const updatesOf = (deps: UnitDeps, ref = 'ORD-1'): OrderUpdatesRecord | undefined => deps.updates.items.get(updatesKey(ref));
const entries = (deps: UnitDeps, ref = 'ORD-1') => Object.values(updatesOf(deps, ref)?.entries ?? {});

describe('updateKindOf', () => {
  const config = unitDeps().config;
  it('the native shape always knows cancel, refund, return and approve (any case), whatever the lists say', () => {
    const custom = unitDeps({ env: { CANCEL_EVENTS: 'storno', REFUND_EVENTS: '', RETURN_EVENTS: '', APPROVE_EVENTS: '' } }).config;
    for (const [name, kind] of [
      ['cancel', 'cancel'],
      [' Refund', 'refund'],
      ['RETURN', 'return'],
      ['approve', 'approve'],
      ['storno', 'cancel'],
    ] as const)
      expect(updateKindOf({ name, source: 'native' }, custom)).toBe(kind);
    expect(updateKindOf({ name: 'purchase', source: 'native' }, config)).toBeUndefined();
    expect(updateKindOf({ name: undefined, source: 'native' }, config)).toBeUndefined();
  });

  it("a tag manager's event names are the configured ones (Tealium's retail names by default)", () => {
    expect(updateKindOf({ name: 'order_cancel', source: 'tealium' }, config)).toBe('cancel');
    expect(updateKindOf({ name: 'order_refund', source: 'tealium' }, config)).toBe('refund');
    expect(updateKindOf({ name: 'return', source: 'tealium' }, config)).toBe('return');
    expect(updateKindOf({ name: 'order_approve', source: 'tealium' }, config)).toBe('approve');
    expect(updateKindOf({ name: 'cancel', source: 'tealium' }, config)).toBeUndefined();
  });

  it('a source whose specification fixes the meaning says it (intent), and the lists do not apply', () => {
    expect(updateKindOf({ name: 'refund', source: 'tealium', intent: 'refund' }, config)).toBe('refund');
    expect(updateKindOf({ name: 'order_cancel', source: 'tealium', intent: 'ignore' }, config)).toBeUndefined();
  });
});

describe('updateIdOf', () => {
  it('the same update is the same id whatever the order of its lines; another kind or line is another id; updateId wins', () => {
    const a = updateIdOf(
      'refund',
      [
        { sku: 'A', quantity: 1 },
        { sku: 'B', quantity: 2, value: '5' },
      ],
      undefined,
    );
    expect(
      updateIdOf(
        'refund',
        [
          { sku: 'B', quantity: 2, value: '5' },
          { sku: 'A', quantity: 1 },
        ],
        undefined,
      ),
    ).toBe(a);
    expect(
      updateIdOf(
        'return',
        [
          { sku: 'A', quantity: 1 },
          { sku: 'B', quantity: 2, value: '5' },
        ],
        undefined,
      ),
    ).not.toBe(a);
    expect(
      updateIdOf(
        'refund',
        [
          { sku: 'A', quantity: 2 },
          { sku: 'B', quantity: 2, value: '5' },
        ],
        undefined,
      ),
    ).not.toBe(a);
    expect(updateIdOf('refund', undefined, 'RF-9')).toBe('id:RF-9');
  });
});

describe('accepting an order update', () => {
  it('a cancel of a sent conversion is stored, due now, and answered update_queued', async () => {
    const deps = unitDeps();
    seed(deps, 'sent');
    expect(await acceptPostback({ event: 'cancel', orderId: 'ORD-1', reason: 'customer changed mind' }, deps)).toEqual({
      conversionRef: 'ORD-1',
      outcome: 'update_queued',
    });
    expect(updatesOf(deps)).toMatchObject({
      ref: 'ORD-1',
      orderId: 'ORD-1',
      campaignId: 'other-camp',
      dueAt: deps.clock.now(),
      dueShard: 'updates',
    });
    expect(entries(deps)).toEqual([
      expect.objectContaining({
        kind: 'cancel',
        source: 'native',
        state: 'owed',
        reason: 'customer changed mind',
        retries: 0,
        seq: deps.clock.now(),
      }),
    ]);
    expect(deps.metrics.get(METRICS.postbackOutcome.update_queued)).toBe(1);
    expect(deps.metrics.get(METRICS.purchases)).toBe(0);
    expect(deps.sender.calls).toEqual([]);
  });

  it('the same update again is update_duplicate and adds nothing', async () => {
    const deps = unitDeps();
    seed(deps, 'sent');
    await acceptPostback({ event: 'cancel', orderId: 'ORD-1' }, deps);
    expect(await acceptPostback({ event: 'cancel', orderId: 'ORD-1', reason: 'said again' }, deps)).toEqual({
      conversionRef: 'ORD-1',
      outcome: 'update_duplicate',
    });
    expect(entries(deps)).toHaveLength(1);
  });

  it('for a conversion still owed the update is held (answered update_held), to be sent after it', async () => {
    for (const status of ['pending', 'queued', 'failed'] as const) {
      const deps = unitDeps();
      seed(deps, status);
      expect((await acceptPostback({ event: 'return', orderId: 'ORD-1' }, deps)).outcome).toBe('update_held');
      expect(entries(deps)[0]).toMatchObject({ state: 'owed' });
    }
  });

  it('for an order the tracker never accepted: forwarded by reference under the configured campaign (update_queued_unknown_order)', async () => {
    const deps = unitDeps();
    expect(await acceptPostback({ event: 'cancel', orderId: 'LEGACY-7' }, deps)).toEqual({
      conversionRef: 'LEGACY-7',
      outcome: 'update_queued_unknown_order',
    });
    expect(updatesOf(deps, 'LEGACY-7')).toMatchObject({ campaignId: CAMPAIGN, dueShard: 'updates' });
  });

  it('for a conversion never sent (unattributed, no consent, dry run, refused): nothing to update, recorded, not due', async () => {
    for (const status of ['unattributed', 'no_consent', 'dry_run', 'rejected'] as const) {
      const deps = unitDeps();
      seed(deps, status);
      expect(await acceptPostback({ event: 'cancel', orderId: 'ORD-1' }, deps)).toEqual({
        conversionRef: 'ORD-1',
        outcome: 'update_not_applicable',
        reason: `the conversion was never sent to Partnerize (${status})`,
      });
      expect(updatesOf(deps)).toMatchObject({ entries: { [entries(deps)[0]!.id]: { state: 'not_applicable' } } });
      expect(updatesOf(deps)?.dueAt).toBeUndefined();
    }
  });

  it('in dry-run mode the update is recorded and answered update_dry_run (the retry function holds it)', async () => {
    const deps = unitDeps({ env: { PARTNERIZE_MODE: 'dryrun' } });
    seed(deps, 'sent');
    expect((await acceptPostback({ event: 'cancel', orderId: 'ORD-1' }, deps)).outcome).toBe('update_dry_run');
    expect(entries(deps)[0]).toMatchObject({ state: 'owed' });
  });

  it('the conversionRef prefix applies, as for purchases', async () => {
    const deps = unitDeps({ env: { CONVERSION_REF_PREFIX: 'TEST-' } });
    seed(deps, 'sent', 'TEST-ORD-1');
    expect(await acceptPostback({ event: 'cancel', orderId: 'ORD-1' }, deps)).toEqual({
      conversionRef: 'TEST-ORD-1',
      outcome: 'update_queued',
    });
  });

  it('a partial refund keeps its lines; a cancel or approve ignores lines (they are of the whole order)', async () => {
    const deps = unitDeps();
    seed(deps, 'sent');
    await acceptPostback({ event: 'refund', orderId: 'ORD-1', items: [{ sku: 'SKU-1', quantity: '1', value: '9.99' }] }, deps);
    await acceptPostback({ event: 'cancel', orderId: 'ORD-1', items: [{ sku: 'SKU-1', quantity: 1 }] }, deps);
    const byKind = Object.fromEntries(entries(deps).map((e) => [e.kind, e]));
    expect(byKind['refund']!.items).toEqual([{ sku: 'SKU-1', quantity: 1, value: '9.99' }]);
    expect(byKind['cancel']!.items).toBeUndefined();
  });

  it('two identical partial refunds are one, unless each carries its own updateId', async () => {
    const deps = unitDeps();
    seed(deps, 'sent');
    const refund = { event: 'refund', orderId: 'ORD-1', items: [{ sku: 'SKU-1', quantity: 1 }] };
    expect((await acceptPostback(refund, deps)).outcome).toBe('update_queued');
    expect((await acceptPostback(refund, deps)).outcome).toBe('update_duplicate');
    expect((await acceptPostback({ ...refund, updateId: 'RF-2' }, deps)).outcome).toBe('update_queued');
    expect(entries(deps)).toHaveLength(2);
  });

  it('bad input is a 400 naming the field; nothing is stored', async () => {
    const deps = unitDeps();
    const cases: Array<[unknown, string]> = [
      [{ event: 'cancel' }, 'orderId'],
      [{ event: 'refund', orderId: 'ORD-1', items: [{ quantity: 1 }] }, 'items[0].sku'],
      [{ event: 'refund', orderId: 'ORD-1', items: [{ sku: 'A', quantity: 0 }] }, 'items[0].quantity'],
      [{ event: 'refund', orderId: 'ORD-1', items: [{ sku: 'A', value: '-1' }] }, 'items[0].value'],
      [{ event: 'refund', orderId: 'ORD-1', items: [{ sku: 'A' }, { sku: 'A' }] }, 'items[1].sku'],
      [{ event: 'refund', orderId: 'ORD-1', items: 'all' }, 'items'],
    ];
    for (const [body, field] of cases) {
      const err = await acceptPostback(body, deps).catch((e: unknown) => e);
      expect(err, JSON.stringify(body)).toBeInstanceOf(InputError);
      expect((err as InputError).field).toBe(field);
    }
    expect(deps.updates.items.size).toBe(0);
  });

  it("a Tealium refund event: the returned products from the retail layer's arrays; errors name the Tealium field", async () => {
    const deps = unitDeps();
    seed(deps, 'sent', 'ORD-1001');
    const event = tealiumOrderUpdate('order_refund', {
      product_sku: ['SKU-1'],
      product_price: ['19.99'],
      product_quantity: ['1'],
      refund_reason: 'damaged in transit',
      refund_id: 'RF-77',
    });
    expect(await acceptPostback(event, deps)).toEqual({ conversionRef: 'ORD-1001', outcome: 'update_queued' });
    expect(entries(deps, 'ORD-1001')).toEqual([
      expect.objectContaining({
        id: 'id:RF-77',
        kind: 'refund',
        source: 'tealium',
        reason: 'damaged in transit',
        items: [{ sku: 'SKU-1', quantity: 1, value: '19.99' }],
      }),
    ]);
    const bad = await acceptPostback(
      tealiumOrderUpdate('order_refund', { product_sku: ['SKU-1'], product_price: ['1'], product_quantity: ['-2'] }),
      deps,
    ).catch((e: unknown) => e);
    expect((bad as InputError).field).toBe('data.udo.product_quantity[0]');
    const noId = await acceptPostback(tealiumOrderUpdate('order_cancel', { order_id: '' }), deps).catch((e: unknown) => e);
    expect((noId as InputError).field).toBe('data.udo.order_id');
  });

  it('a Tealium order_cancel with no products cancels the whole order', async () => {
    const deps = unitDeps();
    seed(deps, 'sent', 'ORD-1001');
    expect((await acceptPostback(tealiumOrderUpdate('order_cancel'), deps)).outcome).toBe('update_queued');
    expect(entries(deps, 'ORD-1001')[0]).toMatchObject({ kind: 'cancel', items: undefined });
  });
});
