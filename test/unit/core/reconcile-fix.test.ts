/**
 * Acting on a reconciliation (core/reconcile-fix.ts, `pz reconcile --fix`) on in-memory stores and a
 * scripted Partnerize, with a fake clock: which differences the plan acts on, what a replay of a
 * missing conversion and a re-queue of a drifted update do to the records, and what the fix refuses
 * to do (a record changed since it was read or held by another process, a demo-campaign call, an
 * update no longer applied or held by the retry function).
 */
import { describe, expect, it } from 'vitest';
import {
  DUE_SHARD,
  UPDATES_SHARD,
  updatesKey,
  type ConversionRecord,
  type Difference,
  type OrderUpdatesRecord,
} from '#lambdas/core/model.js';
import { emptySummary } from '#lambdas/core/reconcile.js';
import { applyFix, fixPlanOf, type FixPlan } from '#lambdas/core/reconcile-fix.js';
import type { CampaignReconciliation, CampaignTarget } from '#lambdas/core/reconcile-run.js';
import { DEMO_CAMPAIGN_ID } from '#lambdas/core/settings.js';
import { DAY_MS, iso, MINUTE_MS } from '#lambdas/core/time.js';
import { answer } from '../../support/scripted-sender.js';
import { CAMPAIGN, conversionRecord, unitDeps } from '../../support/unit-deps.js';

const NOW = Date.UTC(2026, 10, 24, 10, 0, 0);
const READ_AT = iso(NOW - DAY_MS / 2);
const TARGET: CampaignTarget = { campaignId: CAMPAIGN, name: 'default', prefixes: [''] };

/** A delivered conversion as the reconciliation read it. */
const sentRecord = (ref: string, over: Partial<ConversionRecord> = {}): ConversionRecord =>
  conversionRecord({
    conversionRef: ref,
    status: 'sent',
    campaignId: CAMPAIGN,
    orderTime: NOW - DAY_MS / 2,
    updatedAt: READ_AT,
    dueShard: undefined,
    dueAt: undefined,
    attempts: [{ at: READ_AT, trigger: 'inline', result: 'sent', status: 200, body: 'OK', latencyMs: 5 }],
    ...over,
  });

const missing = (r: ConversionRecord): Difference => ({
  class: 'missing',
  campaignId: CAMPAIGN,
  conversionRef: r.conversionRef,
  orderId: r.orderId,
  detail: `delivered ${READ_AT} (HTTP 200), not in Partnerize's report`,
  fix: 'replay',
});

const drift = (ref: string, entryId: string, detail = 'cancel applied, Partnerize says approved (expected rejected)'): Difference => ({
  class: 'status',
  campaignId: CAMPAIGN,
  conversionRef: ref,
  detail,
  update: { entryId, kind: 'cancel', appliedAt: iso(NOW - DAY_MS), expected: 'rejected' },
  fix: 'requeue_update',
});

const told = (ref: string, cls: Difference['class']): Difference => ({ class: cls, campaignId: CAMPAIGN, conversionRef: ref, detail: cls });

/** One campaign's reconciliation: its rows, and the records it read. */
const reconciliation = (rows: Difference[], records: ConversionRecord[] = [], campaign = TARGET): CampaignReconciliation => ({
  campaign,
  window: { from: NOW - DAY_MS, to: NOW },
  pages: 1,
  summary: emptySummary(),
  rows,
  records: new Map(records.map((r) => [r.conversionRef, r])),
});

/** A conversion's updates record with one cancel the retry function applied (sent and acknowledged). */
const appliedCancel = (ref: string, entryId: string, over: Partial<OrderUpdatesRecord['entries'][string]> = {}): OrderUpdatesRecord => ({
  conversionRef: updatesKey(ref),
  recordType: 'order_updates',
  ref,
  orderId: ref,
  campaignId: CAMPAIGN,
  createdAt: iso(NOW - DAY_MS),
  updatedAt: iso(NOW - DAY_MS),
  version: 3,
  entries: {
    [entryId]: {
      id: entryId,
      seq: 1,
      kind: 'cancel',
      source: 'native',
      acceptedAt: iso(NOW - DAY_MS),
      updatedAt: iso(NOW - DAY_MS),
      state: 'applied',
      retries: 2,
      notBefore: NOW - DAY_MS,
      group: 'g1',
      sent: { form: 'conversion_references', campaignId: CAMPAIGN, effect: 'reject', updates: { [ref]: { status: 'rejected' } } },
      ...over,
    },
  },
  expiresAt: 0,
});

/** Fresh stores holding `records` as the reconciliation read them; Partnerize answers `script`, then 200. */
function world(records: ConversionRecord[] = [], script = [answer.sent()]) {
  const deps = unitDeps({ script, otherwise: answer.sent() });
  deps.clock.t = NOW;
  for (const r of records) deps.conversions.items.set(r.conversionRef, structuredClone(r));
  return deps;
}

const byRef = <T extends { conversionRef: string }>(xs: T[]): T[] => [...xs].sort((a, b) => a.conversionRef.localeCompare(b.conversionRef));

describe('fixPlanOf', () => {
  it('replays a missing conversion as the reconciliation read it, and re-queues the update a status drift names', () => {
    const read = sentRecord('MISSING');
    const plan = fixPlanOf([reconciliation([missing(read), drift('CANCELLED', 'u1')], [read])]);
    expect(plan.replay).toHaveLength(1);
    // The record the operator was shown, not a fresh read: the replay is conditional on it.
    expect(plan.replay[0]!.record).toBe(read);
    expect(plan.replay[0]!.row.class).toBe('missing');
    expect(plan.requeue.map((x) => [x.row.conversionRef, x.entryId])).toEqual([['CANCELLED', 'u1']]);
    expect(plan.manual).toEqual([]);
  });

  it('re-queues one update per conversion: a second drift of the same conversion is left to the operator', () => {
    const second = drift('CANCELLED', 'u2', 'item 7 was updated, it is not in Partnerize’s report');
    const plan = fixPlanOf([reconciliation([drift('CANCELLED', 'u1'), second])]);
    expect(plan.requeue.map((x) => x.entryId)).toEqual(['u1']);
    expect(plan.manual).toEqual([second]);
  });

  it('leaves to the operator what no command puts right, in the rows’ order', () => {
    const unread = sentRecord('NOT-READ');
    const noUpdate: Difference = { ...drift('X', 'u1'), update: undefined };
    const rows = [told('LEGACY', 'unexpected'), told('VALUE', 'value'), told('ITEMS', 'items'), missing(unread), noUpdate];
    const plan = fixPlanOf([reconciliation(rows)]);
    expect(plan.replay).toEqual([]);
    expect(plan.requeue).toEqual([]);
    // A missing conversion whose record the reconciliation did not read, a drift without its update.
    expect(plan.manual.map((d) => `${d.conversionRef}:${d.class}`)).toEqual([
      'LEGACY:unexpected',
      'VALUE:value',
      'ITEMS:items',
      'NOT-READ:missing',
      'X:status',
    ]);
  });

  it('gathers one plan over several campaigns, in their order', () => {
    const a = sentRecord('A');
    const b = sentRecord('DE-B', { campaignId: '1011l999' });
    const other: CampaignTarget = { campaignId: '1011l999', name: 'de', prefixes: ['DE-'] };
    const plan = fixPlanOf([
      reconciliation([missing(a), told('L1', 'unexpected')], [a]),
      reconciliation([missing(b), drift('DE-C', 'u9')], [b], other),
    ]);
    expect(plan.replay.map((x) => x.record.conversionRef)).toEqual(['A', 'DE-B']);
    expect(plan.requeue.map((x) => x.row.conversionRef)).toEqual(['DE-C']);
    expect(plan.manual.map((d) => d.conversionRef)).toEqual(['L1']);
  });

  it('an empty reconciliation plans nothing', () => {
    expect(fixPlanOf([])).toEqual({ replay: [], requeue: [], confirm: [], manual: [] });
    expect(fixPlanOf([reconciliation([])])).toEqual({ replay: [], requeue: [], confirm: [], manual: [] });
  });
});

describe('applyFix: unconfirmed conversions the report holds', () => {
  it('records each as sent with the report as the reason, makes no call, and leaves a changed one alone', async () => {
    const cut = (ref: string) =>
      sentRecord(ref, {
        status: 'unconfirmed',
        attempts: [
          { at: READ_AT, trigger: 'inline', result: 'retryable', error: 'connection', cause: 'reset', uncertain: true, latencyMs: 3 },
        ],
      });
    const [landed, changed] = [cut('LANDED'), cut('CHANGED')];
    const deps = world([landed, changed], []);
    deps.conversions.items.get('CHANGED')!.status = 'sent'; // confirmed by an operator meanwhile
    const row = (r: ConversionRecord): Difference => ({ ...told(r.conversionRef, 'unexpected'), conversionId: '99l1', fix: 'confirm' });
    const plan = fixPlanOf([reconciliation([row(landed), row(changed)], [landed, changed])]);
    expect(plan.confirm.map((x) => x.record.conversionRef)).toEqual(['LANDED', 'CHANGED']);
    const outcomes = await applyFix(plan, deps);
    expect(outcomes.map((o) => [o.conversionRef, o.action, o.result])).toEqual([
      ['LANDED', 'confirm', 'sent'],
      ['CHANGED', 'confirm', 'skipped'],
    ]);
    expect(deps.sender.calls).toHaveLength(0);
    expect(deps.conversions.items.get('LANDED')!.attempts.at(-1)).toMatchObject({
      trigger: 'confirm',
      result: 'sent',
      deliveredEarlier: true,
      body: expect.stringContaining("in Partnerize's conversion report (conversion 99l1)"),
    });
  });
});

describe('applyFix: replay of missing conversions', () => {
  it('sends each missing conversion’s own exact call once, recorded on its audit trail as a replay', async () => {
    const records = ['M1', 'M2', 'M3'].map((ref) => sentRecord(ref));
    const deps = world(records, []);
    const outcomes = await applyFix(fixPlanOf([reconciliation(records.map(missing), records)]), deps);
    expect(byRef(outcomes)).toEqual(records.map((r) => ({ conversionRef: r.conversionRef, action: 'replay', result: 'sent' })));
    expect(deps.sender.calls.map((c) => c.call).sort((x, y) => x.url.localeCompare(y.url))).toEqual(records.map((r) => r.request));
    for (const r of records) {
      const now = deps.conversions.items.get(r.conversionRef)!;
      expect(now.status).toBe('sent');
      expect(now.leaseId).toBeUndefined();
      expect(now.attempts).toHaveLength(2);
      expect(now.attempts[1]).toMatchObject({ trigger: 'replay', result: 'sent', status: 200, at: iso(NOW) });
    }
  });

  it('tells Partnerize’s answer: a retryable failure leaves the conversion owed for the retry function, a refusal is final', async () => {
    const [busy, refused] = [sentRecord('BUSY'), sentRecord('REFUSED')];
    const deps = world([busy, refused], [answer.status(503), answer.rejected('invalid conversion')]);
    // One at a time, so the script's answers go to the conversions in the plan's order.
    const outcomes = await applyFix(fixPlanOf([reconciliation([missing(busy), missing(refused)], [busy, refused])]), deps, undefined, 1);
    expect(outcomes).toEqual([
      { conversionRef: 'BUSY', action: 'replay', result: 'queued' },
      { conversionRef: 'REFUSED', action: 'replay', result: 'rejected' },
    ]);
    expect(deps.conversions.items.get('BUSY')).toMatchObject({ status: 'queued', dueShard: DUE_SHARD });
    expect(deps.conversions.items.get('BUSY')!.dueAt).toBeGreaterThan(NOW);
    expect(deps.conversions.items.get('REFUSED')).toMatchObject({ status: 'rejected' });
    expect(deps.conversions.items.get('REFUSED')!.dueShard).toBeUndefined();
  });

  it('replays several conversions at a time, each exactly once', async () => {
    const records = Array.from({ length: 9 }, (_, i) => sentRecord(`M${i}`));
    const deps = world(records, []);
    const outcomes = await applyFix(fixPlanOf([reconciliation(records.map(missing), records)]), deps, undefined, 3);
    expect(byRef(outcomes).map((o) => [o.conversionRef, o.result])).toEqual(records.map((r) => [r.conversionRef, 'sent']));
    expect(new Set(deps.sender.calls.map((c) => c.call.url)).size).toBe(9);
    expect(deps.sender.calls).toHaveLength(9);
  });
});

describe('applyFix: re-queue of status drift', () => {
  it('makes the applied update owed again now, with a fresh schedule and a note that says why; nothing is sent here', async () => {
    const deps = world();
    deps.updates.items.set(updatesKey('CANCELLED'), appliedCancel('CANCELLED', 'u1'));
    const row = drift('CANCELLED', 'u1');
    const outcomes = await applyFix(fixPlanOf([reconciliation([row])]), deps);
    expect(outcomes).toEqual([{ conversionRef: 'CANCELLED', action: 'requeue_update', result: 'requeued', message: undefined }]);
    const updates = deps.updates.items.get(updatesKey('CANCELLED'))!;
    const entry = updates.entries['u1']!;
    expect(entry).toMatchObject({ state: 'owed', retries: 0, updatedAt: iso(NOW) });
    expect(entry.note).toBe(`re-queued by pz reconcile ${iso(NOW)}: ${row.detail}`);
    // The old schedule and bulk group are gone: the retry function plans the update afresh.
    expect(entry.notBefore).toBeUndefined();
    expect(entry.group).toBeUndefined();
    expect(updates).toMatchObject({ dueShard: UPDATES_SHARD, dueAt: NOW, version: 4 });
    // The retry function sends it, in bulk: the fix itself calls nobody.
    expect(deps.sender.calls).toEqual([]);
  });

  it('keeps the note within 500 characters', async () => {
    const deps = world();
    deps.updates.items.set(updatesKey('LONG'), appliedCancel('LONG', 'u1'));
    await applyFix(fixPlanOf([reconciliation([drift('LONG', 'u1', 'x'.repeat(600))])]), deps);
    const note = deps.updates.items.get(updatesKey('LONG'))!.entries['u1']!.note!;
    expect(note).toHaveLength(500);
    expect(note.startsWith(`re-queued by pz reconcile ${iso(NOW)}: xxx`)).toBe(true);
  });

  it('replays first, then re-queues, and reports progress after each action', async () => {
    const m = sentRecord('MISSING');
    const deps = world([m]);
    deps.updates.items.set(updatesKey('CANCELLED'), appliedCancel('CANCELLED', 'u1'));
    const progress: Array<[number, number]> = [];
    const plan = fixPlanOf([reconciliation([drift('CANCELLED', 'u1'), missing(m), told('LEGACY', 'unexpected')], [m])]);
    const outcomes = await applyFix(plan, deps, (done, total) => progress.push([done, total]));
    expect(outcomes.map((o) => `${o.conversionRef}:${o.action}:${o.result}`)).toEqual([
      'MISSING:replay:sent',
      'CANCELLED:requeue_update:requeued',
    ]);
    // What is left to the operator is not an action: it counts in neither the outcomes nor the progress.
    expect(progress).toEqual([
      [1, 2],
      [2, 2],
    ]);
  });
});

describe('applyFix: what it refuses', () => {
  const plan = (records: ConversionRecord[]): FixPlan => fixPlanOf([reconciliation(records.map(missing), records)]);

  it('never replays a record that changed since the reconciliation read it', async () => {
    const read = sentRecord('MISSING');
    const changed = {
      ...read,
      updatedAt: iso(NOW - MINUTE_MS),
      attempts: [...read.attempts, { ...read.attempts[0]!, trigger: 'replay' as const }],
    };
    const deps = world([changed]);
    const outcomes = await applyFix(plan([read]), deps);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ conversionRef: 'MISSING', action: 'replay', result: 'skipped' });
    expect(outcomes[0]!.message).toMatch(/changed since it was shown.*nothing was sent/);
    expect(deps.sender.calls).toEqual([]);
    expect(deps.conversions.items.get('MISSING')).toEqual(changed);
  });

  it('never replays a record another process is sending', async () => {
    const read = sentRecord('MISSING');
    const deps = world([{ ...read, leaseId: 'sweep-lease', dueAt: NOW + MINUTE_MS }]);
    const [outcome] = await applyFix(plan([read]), deps);
    expect(outcome).toMatchObject({ conversionRef: 'MISSING', action: 'replay', result: 'skipped' });
    expect(outcome!.message).toMatch(/being sent right now by another process/);
    expect(deps.sender.calls).toEqual([]);
    expect(deps.conversions.items.get('MISSING')).toMatchObject({ leaseId: 'sweep-lease', dueAt: NOW + MINUTE_MS });
  });

  it('never sends a call recorded for the demo campaign, and does not take the record', async () => {
    const demo = sentRecord('DEMO', {
      campaignId: DEMO_CAMPAIGN_ID,
      request: {
        method: 'GET',
        url: `https://prf.hn/conversion/tracking_mode:api/campaign:${DEMO_CAMPAIGN_ID}/clickref:AbC123/conversionref:DEMO/currency:GBP/[value:10/quantity:1]`,
      },
    });
    const deps = world([demo]);
    const [outcome] = await applyFix(plan([demo]), deps);
    expect(outcome).toMatchObject({ conversionRef: 'DEMO', action: 'replay', result: 'skipped' });
    expect(outcome!.message).toMatch(/demo campaign/);
    expect(deps.sender.calls).toEqual([]);
    expect(deps.conversions.items.get('DEMO')).toEqual(demo);
  });

  it('does not re-queue an update that is no longer applied, that the retry function holds, or that is not there', async () => {
    const deps = world();
    const owedAgain = appliedCancel('OWED', 'u1', { state: 'owed' });
    const held = { ...appliedCancel('HELD', 'u1'), leaseId: 'sweep-lease', dueShard: UPDATES_SHARD, dueAt: NOW + MINUTE_MS };
    deps.updates.items.set(updatesKey('OWED'), owedAgain);
    const otherEntry = appliedCancel('OTHER-ENTRY', 'u1');
    deps.updates.items.set(updatesKey('HELD'), held);
    deps.updates.items.set(updatesKey('OTHER-ENTRY'), otherEntry);
    const rows = [drift('OWED', 'u1'), drift('HELD', 'u1'), drift('GONE', 'u1'), drift('OTHER-ENTRY', 'u7')];
    const outcomes = await applyFix(fixPlanOf([reconciliation(rows)]), deps);
    expect(outcomes.map((o) => [o.conversionRef, o.result])).toEqual([
      ['OWED', 'skipped'],
      ['HELD', 'skipped'],
      ['GONE', 'skipped'],
      ['OTHER-ENTRY', 'skipped'],
    ]);
    for (const o of outcomes) expect(o.message).toBe('the update changed meanwhile, or the retry function holds it: look again later');
    expect(deps.updates.items.get(updatesKey('OWED'))).toEqual(owedAgain);
    expect(deps.updates.items.get(updatesKey('HELD'))).toEqual(held);
    expect(deps.updates.items.get(updatesKey('OTHER-ENTRY'))).toEqual(otherEntry);
    expect(deps.updates.items.has(updatesKey('GONE'))).toBe(false);
  });

  it('stops at a failure that is not a refusal (a store error), without re-queueing anything', async () => {
    const read = sentRecord('MISSING');
    const deps = world([read]);
    deps.updates.items.set(updatesKey('CANCELLED'), appliedCancel('CANCELLED', 'u1'));
    deps.conversions.takeLease = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    await expect(applyFix(fixPlanOf([reconciliation([missing(read), drift('CANCELLED', 'u1')], [read])]), deps)).rejects.toThrow(
      'ProvisionedThroughputExceededException',
    );
    expect(deps.sender.calls).toEqual([]);
    expect(deps.updates.items.get(updatesKey('CANCELLED'))!.entries['u1']!.state).toBe('applied');
  });
});
