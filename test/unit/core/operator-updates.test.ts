/** `pz approve` / `pz reject` (core/operations.ts operatorUpdate) against in-memory stores. */
import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import { updatesKey } from '#lambdas/core/model.js';
import { OperationError, operatorUpdate } from '#lambdas/core/operations.js';
import { acceptPostback } from '#lambdas/core/postbacks.js';
import { conversionRecord, unitDeps } from '../../support/unit-deps.js';

const sentConversion = (ref: string) =>
  conversionRecord({ conversionRef: ref, orderId: ref.replace(/^TEST-/, ''), status: 'sent', dueAt: undefined, dueShard: undefined });

describe('operatorUpdate', () => {
  it('records an operator reject with its reason, every time a new update (never a repeat of another)', async () => {
    const deps = unitDeps();
    deps.conversions.items.set('ORD-1', sentConversion('ORD-1'));
    expect(await operatorUpdate('ORD-1', '', 'reject', { reason: ' fraud ' }, deps)).toEqual({
      conversionRef: 'ORD-1',
      outcome: 'update_queued',
    });
    expect(await operatorUpdate('ORD-1', '', 'reject', { reason: 'fraud' }, deps)).toEqual({
      conversionRef: 'ORD-1',
      outcome: 'update_queued',
    });
    const entries = Object.values(deps.updates.items.get(updatesKey('ORD-1'))!.entries);
    expect(entries.map((e) => [e.kind, e.source, e.reason])).toEqual([
      ['reject', 'operator', 'fraud'],
      ['reject', 'operator', 'fraud'],
    ]);
  });

  it('a reject needs a reason', async () => {
    const deps = unitDeps();
    await expect(operatorUpdate('ORD-1', '', 'reject', { reason: '  ' }, deps)).rejects.toBeInstanceOf(InputError);
  });

  it('an approve after a cancellation is refused unless forced; forced, it is recorded as such', async () => {
    const deps = unitDeps();
    deps.conversions.items.set('ORD-1', sentConversion('ORD-1'));
    await acceptPostback({ event: 'cancel', orderId: 'ORD-1' }, deps);
    await expect(operatorUpdate('ORD-1', '', 'approve', {}, deps)).rejects.toThrow(OperationError);
    await expect(operatorUpdate('ORD-1', '', 'approve', {}, deps)).rejects.toThrow(/--force/);
    expect(await operatorUpdate('ORD-1', '', 'approve', { force: true }, deps)).toMatchObject({ outcome: 'update_queued' });
    const approve = Object.values(deps.updates.items.get(updatesKey('ORD-1'))!.entries).find((e) => e.kind === 'approve');
    expect(approve).toMatchObject({ source: 'operator', force: true, state: 'owed' });
  });

  it('finds the order by id with the prefix, or by its conversionRef; an unknown order goes by reference', async () => {
    const deps = unitDeps({ env: { CONVERSION_REF_PREFIX: 'TEST-' } });
    deps.conversions.items.set('TEST-ORD-1', sentConversion('TEST-ORD-1'));
    expect((await operatorUpdate('ORD-1', 'TEST-', 'approve', {}, deps)).conversionRef).toBe('TEST-ORD-1');
    expect(await operatorUpdate('LEGACY-9', 'TEST-', 'reject', { reason: 'returned' }, deps)).toEqual({
      conversionRef: 'TEST-LEGACY-9',
      outcome: 'update_queued_unknown_order',
    });
  });
});
