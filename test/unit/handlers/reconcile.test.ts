/**
 * The reconcile function's handler over the daily use case, with in-memory stores and a scripted
 * report: what the schedule and an operator may hand it, what it answers, and that it fails (so the
 * alarm pages) only when a campaign could not be reconciled.
 */
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { ApiOutcome, PartnerizeApi, ReportPage, ReportQuery } from '#lambdas/core/model.js';
import { RECONCILE_METRICS } from '#lambdas/core/metrics.js';
import { ReconcileError, type DailyDeps } from '#lambdas/core/reconcile-run.js';
import { DAY_MS, HOUR_MS } from '#lambdas/core/time.js';
import { createReconcileHandler, RESERVE_MS, type ReconcileResult } from '#lambdas/handlers/reconcile.js';
import { MemoryReconciliation } from '../../support/memory-stores.js';
import { CAMPAIGN, conversionRecord, unitDeps } from '../../support/unit-deps.js';

/** The unit clock's day (unitDeps: 2026-11-24T10:00Z). */
const TODAY = Date.UTC(2026, 10, 24);

type Page = ApiOutcome<ReportPage>;
const page = (conversions: ReportPage['conversions']): Page => ({ ok: true, value: { conversions, offset: 0 }, status: 200, latencyMs: 1 });

/** Partnerize's report as a script of answers (the last repeats); the keys set unless told. */
class ScriptedReport implements PartnerizeApi {
  readonly queries: Array<{ campaignId: string; query: ReportQuery }> = [];
  constructor(
    private readonly answers: Page[],
    private readonly keys = true,
  ) {}
  hasCredentials = async () => this.keys;
  bulkUpdate = () => Promise.reject(new Error('the reconciliation sends no update'));
  job = () => Promise.reject(new Error('the reconciliation polls no job'));
  tasks = () => Promise.reject(new Error('the reconciliation reads no task'));
  async conversions(campaignId: string, query: ReportQuery): Promise<Page> {
    this.queries.push({ campaignId, query });
    return this.answers[Math.min(this.queries.length - 1, this.answers.length - 1)]!;
  }
}

function setup(o: { env?: Record<string, string>; report?: Page[]; keys?: boolean } = {}) {
  const u = unitDeps({ env: o.env ?? {} });
  const store = new MemoryReconciliation(u.conversions, u.updates);
  const api = new ScriptedReport(o.report ?? [page([])], o.keys ?? true);
  const slept: number[] = [];
  let flushed = 0;
  const metrics = Object.assign(u.metrics, { flush: () => void flushed++ });
  const deps: DailyDeps = {
    store,
    api,
    now: u.clock.now,
    sleep: async (ms) => {
      slept.push(ms);
      u.clock.advance(ms);
    },
    config: u.config,
    metrics,
    log: u.log,
  };
  const today = Math.floor(u.clock.t / DAY_MS) * DAY_MS;
  expect(today).toBe(TODAY);
  const handler = createReconcileHandler(deps);
  const context = (leftMs = 900_000) => ({ getRemainingTimeInMillis: () => leftMs }) as unknown as Context;
  const run = (event: unknown, leftMs?: number) => handler(event, context(leftMs)) as Promise<ReconcileResult>;
  return { u, store, api, slept, flushed: () => flushed, today, run };
}

/** A conversion delivered (2xx) `hoursAgo` before the clock, for an order placed at `orderTime`. */
function delivered(ref: string, orderTime: number, at: number) {
  return conversionRecord({
    conversionRef: ref,
    campaignId: CAMPAIGN,
    status: 'sent',
    orderTime,
    dueShard: undefined,
    dueAt: undefined,
    attempts: [{ at: new Date(at).toISOString(), trigger: 'inline', result: 'sent', status: 200, body: 'OK', latencyMs: 40 }],
  } as Parameters<typeof conversionRecord>[0]);
}

describe('the reconcile handler', () => {
  it("a scheduled run reconciles the previous days, keeps the run's record, emits a metric per class and the shares", async () => {
    // Yesterday: one order Partnerize never recorded; two days ago, one Partnerize holds that nobody sent from here.
    const s = setup({
      report: [
        page([
          {
            conversionId: '111l1',
            conversionReference: 'PIXEL-9',
            status: 'pending',
            conversionTime: new Date(TODAY - 2 * DAY_MS + 3 * HOUR_MS).toISOString().slice(0, 19).replace('T', ' '),
            currency: 'GBP',
            value: 25,
            items: [],
          },
        ]),
      ],
    });
    const missing = delivered('ORDER-1', s.today - DAY_MS + 10 * HOUR_MS, s.today - DAY_MS + 10 * HOUR_MS);
    s.u.conversions.items.set(missing.conversionRef, missing);
    const r = await s.run({ lookbackDays: 2, graceHours: 6 });
    expect(r).toMatchObject({
      ok: true,
      from: new Date(s.today - 2 * DAY_MS).toISOString(),
      to: new Date(s.today).toISOString(),
      campaigns: [{ campaignId: CAMPAIGN, differs: true, counts: { missing: 1, unexpected: 1, value: 0, items: 0, status: 0 } }],
    });
    // The report is read for the whole window (an hour wider each side), for the deployment's campaign.
    expect(s.api.queries).toHaveLength(1);
    expect(s.api.queries[0]!.campaignId).toBe(CAMPAIGN);
    expect(s.api.queries[0]!.query.from).toBeLessThanOrEqual(s.today - 2 * DAY_MS);
    expect(s.api.queries[0]!.query.to).toBeGreaterThanOrEqual(s.today);
    const [run] = [...s.store.runs.values()];
    expect(run).toMatchObject({ recordType: 'reconcile_run', campaignId: CAMPAIGN, graceMs: 6 * HOUR_MS, rowsLeftOut: 0 });
    expect(run!.rows.map((x) => [x.class, x.conversionRef])).toEqual([
      ['missing', 'ORDER-1'],
      ['unexpected', 'PIXEL-9'],
    ]);
    const m = s.u.metrics;
    expect(m.get(RECONCILE_METRICS.missing)).toBe(1);
    expect(m.get(RECONCILE_METRICS.unexpected)).toBe(1);
    expect(m.get(RECONCILE_METRICS.checked)).toBe(1);
    expect(m.get(RECONCILE_METRICS.held)).toBe(1);
    expect(m.get(RECONCILE_METRICS.missingShare)).toBe(100);
    expect(m.get(RECONCILE_METRICS.unexpectedShare)).toBe(100);
    expect(m.get(RECONCILE_METRICS.failed)).toBe(0);
    expect(s.flushed()).toBe(1);
  });

  it("EventBridge's own envelope (a rule without an input) runs over yesterday with the default grace", async () => {
    const s = setup();
    const r = await s.run({ version: '0', source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });
    expect(r).toMatchObject({ ok: true, from: new Date(s.today - DAY_MS).toISOString(), to: new Date(s.today).toISOString() });
    expect([...s.store.runs.values()][0]!.graceMs).toBe(6 * HOUR_MS);
  });

  it("an operator's window is reconciled as given", async () => {
    const s = setup();
    const r = await s.run({ from: '2026-11-01T00:00:00Z', to: '2026-11-08T00:00:00Z', graceHours: 0 });
    expect(r).toMatchObject({ ok: true, from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z' });
    expect([...s.store.runs.values()][0]!.graceMs).toBe(0);
  });

  it.each([
    [{ lookback: 2 }, 'lookback', 'unknown_field'],
    [{ lookbackDays: '2' }, 'lookbackDays', 'invalid_field'],
    [{ lookbackDays: 0 }, 'lookbackDays', 'invalid_field'],
    [{ graceHours: -1 }, 'graceHours', 'invalid_field'],
    [{ from: '2026-11-01' }, 'to', 'invalid_field'],
    [{ from: 20261101, to: '2026-11-02' }, 'from', 'invalid_field'],
    [{ from: '2026-11-02', to: '2026-11-01' }, 'to', 'invalid_field'],
    [{ from: '2026-11-01', to: '2026-11-02', lookbackDays: 3 }, 'lookbackDays', 'invalid_field'],
  ])('a bad invoke %j answers naming %s, and runs nothing', async (event, field, code) => {
    const s = setup();
    const r = await s.run(event);
    expect(r).toMatchObject({ ok: false, error: { code, field } });
    expect(r.ok === false && r.error.message).toContain(field);
    expect(s.api.queries).toEqual([]);
    expect(s.store.runs.size).toBe(0);
    expect(s.u.metrics.totals.size).toBe(0);
  });

  it('an event that is not an object is refused', async () => {
    const s = setup();
    expect(await s.run([1, 2])).toMatchObject({ ok: false, error: { code: 'invalid_event' } });
    expect(await s.run('yesterday')).toMatchObject({ ok: false, error: { code: 'invalid_event' } });
  });

  it('skips, with a metric and without calling Partnerize, in a dry run or while the API keys are not set', async () => {
    const dry = setup({ env: { PARTNERIZE_MODE: 'dryrun' } });
    expect(await dry.run({})).toEqual({ ok: true, skipped: 'dry_run', campaigns: [] });
    const noKeys = setup({ keys: false });
    expect(await noKeys.run({})).toEqual({ ok: true, skipped: 'no_keys', campaigns: [] });
    for (const s of [dry, noKeys]) {
      expect(s.api.queries).toEqual([]);
      expect(s.u.metrics.get(RECONCILE_METRICS.skipped)).toBe(1);
      // No share: the alarms treat the missing datapoint as no breach.
      expect(s.u.metrics.totals.has(RECONCILE_METRICS.missingShare)).toBe(false);
    }
  });

  it('keys refused: the run fails after keeping a record with the error and counting the failed campaign (metrics flushed)', async () => {
    const s = setup({ report: [{ ok: false, result: 'rejected', status: 401, message: 'Unauthorized', latencyMs: 3 }] });
    await expect(s.run({ lookbackDays: 1 })).rejects.toBeInstanceOf(ReconcileError);
    const [run] = [...s.store.runs.values()];
    expect(run!.error).toMatch(/refused the API keys/);
    expect(s.u.metrics.get(RECONCILE_METRICS.failed)).toBe(1);
    expect(s.flushed()).toBe(1);
  });

  it("hands the use case Lambda's deadline less a reserve: a 429 wait that would outlast it ends the run in time", async () => {
    const left = RESERVE_MS + 20_000;
    const s = setup({ report: [{ ok: false, result: 'retryable', status: 429, retryAfterS: 30, latencyMs: 2 }] });
    await expect(s.run({}, left)).rejects.toThrow(/out of time/);
    expect(s.slept).toEqual([]);
    // With the time, the same wait is waited out.
    const t = setup({ report: [{ ok: false, result: 'retryable', status: 429, retryAfterS: 30, latencyMs: 2 }, page([])] });
    expect(await t.run({}, 900_000)).toMatchObject({ ok: true });
    expect(t.slept).toEqual([30_000]);
  });
});
