/**
 * Storing an order update (core/order-update-record.ts): what the conversion's state means for it
 * (updateOutcomeFor), and the one write that makes it durable and deduped (recordUpdate), against
 * the in-memory stores.
 */
import { describe, expect, it } from 'vitest';
import { UPDATES_SHARD, updatesKey, type ConversionStatus, type OrderUpdatesRecord } from '#lambdas/core/model.js';
import { recordUpdate, updateOutcomeFor, type NewUpdate } from '#lambdas/core/order-update-record.js';
import { expiresAfterDays } from '#lambdas/core/time.js';
import { CAMPAIGN, conversionRecord, unitDeps, type UnitDeps } from '../../support/unit-deps.js';

const cancel: NewUpdate = { kind: 'cancel', source: 'native', reason: 'changed my mind', id: 'cancel' };

function withConversion(status: ConversionStatus, env: Record<string, string> = {}): UnitDeps {
  const deps = unitDeps({ env });
  deps.conversions.items.set(
    'ORD-1',
    conversionRecord({ conversionRef: 'ORD-1', orderId: 'order-1', status, campaignId: 'camp-7', dueAt: undefined, dueShard: undefined }),
  );
  return deps;
}
const stored = (deps: UnitDeps, ref = 'ORD-1'): OrderUpdatesRecord | undefined => deps.updates.items.get(updatesKey(ref));

describe('updateOutcomeFor', () => {
  it.each([
    ['sent', 'update_queued'],
    ['pending', 'update_held'],
    ['queued', 'update_held'],
    ['failed', 'update_held'],
    ['unattributed', 'update_not_applicable'],
    ['no_consent', 'update_not_applicable'],
    ['dry_run', 'update_not_applicable'],
    ['rejected', 'update_not_applicable'],
  ] as const)('a %s conversion: %s', (status, outcome) => {
    expect(updateOutcomeFor({ status }, 'live')).toBe(outcome);
  });

  it('an order the tracker has no conversion for is queued as an unknown order', () => {
    expect(updateOutcomeFor(undefined, 'live')).toBe('update_queued_unknown_order');
  });

  it('in dry-run mode an update is held as a dry run, unless there is nothing to update', () => {
    expect(updateOutcomeFor({ status: 'sent' }, 'dryrun')).toBe('update_dry_run');
    expect(updateOutcomeFor(undefined, 'dryrun')).toBe('update_dry_run');
    expect(updateOutcomeFor({ status: 'unattributed' }, 'dryrun')).toBe('update_not_applicable');
  });
});

describe('recordUpdate', () => {
  it("stores an update of a sent conversion as owed and due now, under the conversion's order and campaign", async () => {
    const deps = withConversion('sent');
    const now = deps.clock.now();
    expect(await recordUpdate({ conversionRef: 'ORD-1' }, cancel, deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'update_queued' });
    expect(stored(deps)).toMatchObject({
      ref: 'ORD-1',
      orderId: 'order-1',
      campaignId: 'camp-7',
      dueShard: UPDATES_SHARD,
      dueAt: now,
      expiresAt: expiresAfterDays(now, deps.config.conversionRetentionDays),
      entries: {
        cancel: {
          id: 'cancel',
          kind: 'cancel',
          source: 'native',
          reason: 'changed my mind',
          seq: now,
          acceptedAt: new Date(now).toISOString(),
          updatedAt: new Date(now).toISOString(),
          state: 'owed',
          retries: 0,
        },
      },
    });
    expect(deps.log.lines).toEqual([
      {
        level: 'info',
        message: 'order update',
        fields: { conversionRef: 'ORD-1', kind: 'cancel', source: 'native', outcome: 'update_queued' },
      },
    ]);
  });

  it('the same update again is a duplicate: one entry, the record unchanged', async () => {
    const deps = withConversion('sent');
    await recordUpdate({ conversionRef: 'ORD-1' }, cancel, deps);
    const before = structuredClone(stored(deps));
    deps.clock.advance(5_000);
    expect(await recordUpdate({ conversionRef: 'ORD-1' }, { ...cancel, reason: 'again' }, deps)).toEqual({
      conversionRef: 'ORD-1',
      outcome: 'update_duplicate',
    });
    expect(stored(deps)).toEqual(before);
    expect(deps.log.lines.at(-1)?.fields).toMatchObject({ outcome: 'update_duplicate' });
  });

  it('an update of a conversion still being sent is held, yet stored due now (the outbox waits for the conversion)', async () => {
    const deps = withConversion('queued');
    expect(await recordUpdate({ conversionRef: 'ORD-1' }, cancel, deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'update_held' });
    expect(stored(deps)).toMatchObject({ dueAt: deps.clock.now(), entries: { cancel: { state: 'owed' } } });
  });

  it('an update of a conversion never sent is stored as not applicable, not due, and says why (once)', async () => {
    const deps = withConversion('unattributed');
    expect(await recordUpdate({ conversionRef: 'ORD-1' }, cancel, deps)).toEqual({
      conversionRef: 'ORD-1',
      outcome: 'update_not_applicable',
      reason: 'the conversion was never sent to Partnerize (unattributed)',
    });
    const r = stored(deps)!;
    expect(r.entries.cancel).toMatchObject({ state: 'not_applicable', note: 'the conversion was never sent to Partnerize (unattributed)' });
    expect([r.dueShard, r.dueAt]).toEqual([undefined, undefined]);
    expect(await recordUpdate({ conversionRef: 'ORD-1' }, cancel, deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'update_duplicate' });
  });

  it("an order the tracker never accepted: queued under the order's id and campaign when given, else the configured campaign", async () => {
    const deps = unitDeps();
    expect(await recordUpdate({ conversionRef: 'LEGACY-1', orderId: 'legacy-1', campaignId: 'camp-9' }, cancel, deps)).toEqual({
      conversionRef: 'LEGACY-1',
      outcome: 'update_queued_unknown_order',
    });
    expect(stored(deps, 'LEGACY-1')).toMatchObject({ ref: 'LEGACY-1', orderId: 'legacy-1', campaignId: 'camp-9', dueAt: deps.clock.now() });
    await recordUpdate({ conversionRef: 'LEGACY-2' }, cancel, deps);
    expect(stored(deps, 'LEGACY-2')).toMatchObject({ orderId: 'LEGACY-2', campaignId: CAMPAIGN });
  });

  it("the conversion's campaign wins over the one the caller names", async () => {
    const deps = withConversion('sent');
    await recordUpdate({ conversionRef: 'ORD-1', campaignId: 'camp-other' }, cancel, deps);
    expect(stored(deps)?.campaignId).toBe('camp-7');
  });

  it('in dry-run mode the update is stored and due like any other, answered as a dry run', async () => {
    const deps = withConversion('sent', { PARTNERIZE_MODE: 'dryrun' });
    expect(await recordUpdate({ conversionRef: 'ORD-1' }, cancel, deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'update_dry_run' });
    expect(stored(deps)).toMatchObject({ dueAt: deps.clock.now(), entries: { cancel: { state: 'owed' } } });
  });

  it('an update with its refunded lines and force keeps them', async () => {
    const deps = withConversion('sent');
    await recordUpdate({ conversionRef: 'ORD-1' }, { kind: 'approve', source: 'operator', force: true, id: 'approve-forced' }, deps);
    await recordUpdate(
      { conversionRef: 'ORD-1' },
      { kind: 'return', source: 'native', items: [{ sku: 'SKU-1', quantity: 1 }], id: 'r1' },
      deps,
    );
    expect(stored(deps)?.entries).toMatchObject({
      'approve-forced': { kind: 'approve', source: 'operator', force: true, state: 'owed' },
      r1: { kind: 'return', items: [{ sku: 'SKU-1', quantity: 1 }], state: 'owed' },
    });
  });
});
