import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { METRICS } from '#lambdas/core/metrics.js';
import type { ConversionRecord } from '#lambdas/core/model.js';
import { sweep } from '#lambdas/core/sweep.js';
import { answer, type ScriptedAnswer } from '../../support/scripted-sender.js';
import { conversionRecord, unitDeps, type UnitDeps, type UnitDepsOptions } from '../../support/unit-deps.js';

const SWEEP = { limit: 100, concurrency: 1, budgetMs: 30_000 };

/** Owed records, due `ageMs[i]` ago (a negative age: not due yet). */
function owed(deps: UnitDeps, ...ageMs: number[]): string[] {
  return ageMs.map((age, i) => {
    const r = conversionRecord(
      { conversionRef: `ORD-${i + 1}`, status: 'queued', retries: 1, dueAt: deps.clock.now() - age },
      deps.clock.now(),
    );
    deps.conversions.items.set(r.conversionRef, r);
    return r.conversionRef;
  });
}

const depsWith = (script: ScriptedAnswer[], opts: UnitDepsOptions = {}) => unitDeps({ script, ...opts });
const stored = (deps: UnitDeps, ref: string): ConversionRecord => deps.conversions.items.get(ref)!;
const sentRefs = (deps: UnitDeps) => deps.sender.calls.map((c) => /conversionref:([^/]+)/.exec(c.call.url)?.[1]);
const dueRefs = async (deps: UnitDeps, at = deps.clock.now()) => (await deps.conversions.listDue(at, 100)).map((d) => d.conversionRef);

describe('sweep', () => {
  it('sends the owed records that are due, oldest first, each under a lease with the retry timeout', async () => {
    const deps = depsWith([answer.sent(), answer.sent()]);
    owed(deps, 1_000, 2_000, -1);
    const report = await sweep(deps, SWEEP);
    expect(report).toEqual({ due: 2, claimed: 2, byStatus: { sent: 2 }, unrecorded: 0, durationMs: 0 });
    expect(sentRefs(deps)).toEqual(['ORD-2', 'ORD-1']);
    expect(deps.sender.calls.map((c) => c.timeoutMs)).toEqual([deps.config.retryTimeoutMs, deps.config.retryTimeoutMs]);
    expect(stored(deps, 'ORD-1')).toMatchObject({
      status: 'sent',
      attempts: [expect.objectContaining({ trigger: 'retry', result: 'sent' })],
    });
    expect(stored(deps, 'ORD-3')).toMatchObject({ status: 'queued', attempts: [] });
  });

  it('reports its heartbeat, how many sends are due and how long the oldest has waited', async () => {
    const deps = depsWith([answer.sent(), answer.sent()]);
    owed(deps, 90_000, 1_000);
    await sweep(deps, SWEEP);
    expect([METRICS.retryHeartbeat, METRICS.owedDue, METRICS.oldestOwedAge].map(deps.metrics.get)).toEqual([1, 2, 90]);
    const idle = unitDeps();
    expect(await sweep(idle, SWEEP)).toEqual({ due: 0, claimed: 0, byStatus: {}, unrecorded: 0, durationMs: 0 });
    expect([METRICS.retryHeartbeat, METRICS.owedDue, METRICS.oldestOwedAge].map(idle.metrics.get)).toEqual([1, 0, 0]);
  });

  it('follows the retry schedule, nothing sent before it is due, and the record is failed after the last retry', async () => {
    const deps = depsWith([answer.status(500), answer.status(500), answer.status(500), answer.status(500)]);
    const [ref] = owed(deps, 0);
    deps.conversions.items.set(ref!, { ...stored(deps, ref!), status: 'pending', retries: 0 });
    const runs: Array<[number, string | undefined, number]> = [];
    for (const waitS of [0, 59, 1, 300, 900]) {
      deps.clock.advance(waitS * 1000);
      const report = await sweep(deps, SWEEP);
      runs.push([report.claimed, stored(deps, ref!).status, stored(deps, ref!).retries]);
    }
    expect(runs).toEqual([
      [1, 'queued', 1],
      [0, 'queued', 1],
      [1, 'queued', 2],
      [1, 'queued', 3],
      [1, 'failed', 4],
    ]);
    expect(stored(deps, ref!).attempts.map((a) => [a.trigger, a.status])).toEqual([
      ['retry', 500],
      ['retry', 500],
      ['retry', 500],
      ['retry', 500],
    ]);
    expect(await dueRefs(deps, deps.clock.now() + 10 * 86_400_000)).toEqual([]);
    expect(deps.metrics.get(METRICS.conversionsFailed)).toBe(1);
  });

  it('a 429 stops the run: the rest stays due, and the next attempt waits at least the Retry-After', async () => {
    const deps = depsWith([answer.status(429, { retryAfterS: 600 })]);
    owed(deps, 3_000, 2_000, 1_000);
    const report = await sweep(deps, SWEEP);
    expect(report).toMatchObject({ due: 3, claimed: 1, stoppedBy: 'rate_limited', byStatus: { queued: 1 } });
    expect(sentRefs(deps)).toEqual(['ORD-1']);
    expect(await dueRefs(deps)).toEqual(['ORD-2', 'ORD-3']);
    expect(stored(deps, 'ORD-1').dueAt).toBe(deps.clock.now() + 600_000);
  });

  it('a 429 stops every worker of a concurrent run from claiming more', async () => {
    const deps = depsWith([answer.status(429), answer.sent(), answer.sent()], { otherwise: answer.sent() });
    owed(deps, 10, 9, 8, 7, 6, 5, 4, 3);
    const report = await sweep(deps, { ...SWEEP, concurrency: 3 });
    expect(report.stoppedBy).toBe('rate_limited');
    expect(report.claimed).toBeLessThan(8);
    expect(await dueRefs(deps)).toHaveLength(8 - report.claimed);
  });

  it('five retryable failures in a row stop the run', async () => {
    const deps = depsWith([], { otherwise: answer.noAnswer('refused') });
    owed(deps, 7, 6, 5, 4, 3, 2, 1);
    const report = await sweep(deps, SWEEP);
    expect(report).toMatchObject({ due: 7, claimed: 5, stoppedBy: 'failures', byStatus: { queued: 5 } });
    expect(await dueRefs(deps)).toEqual(['ORD-6', 'ORD-7']);
  });

  it('a success or a rejection in between resets the count; the threshold is an option', async () => {
    const fail = answer.status(503);
    const deps = depsWith([fail, fail, fail, fail, answer.sent(), fail, fail, fail, fail, answer.rejected('bad'), fail, fail, fail, fail]);
    owed(deps, ...Array.from({ length: 14 }, (_, i) => 14 - i));
    const report = await sweep(deps, SWEEP);
    expect(report).toMatchObject({ claimed: 14, byStatus: { queued: 12, sent: 1, rejected: 1 } });
    expect(report.stoppedBy).toBeUndefined();

    const strict = depsWith([fail, fail]);
    owed(strict, 3, 2, 1);
    expect(await sweep(strict, { ...SWEEP, breakerThreshold: 2 })).toMatchObject({ claimed: 2, stoppedBy: 'failures' });
  });

  it('stops claiming when its time budget is spent; the send in flight finishes', async () => {
    const deps = depsWith([answer.sent('OK', 20_000), answer.sent('OK', 20_000)]);
    owed(deps, 3, 2, 1);
    const report = await sweep(deps, SWEEP);
    expect(report).toMatchObject({ claimed: 2, stoppedBy: 'budget', durationMs: 40_000 });
    expect(await dueRefs(deps)).toEqual(['ORD-3']);
  });

  it('dry-run mode holds owed sends: Partnerize is never called, the records stay due', async () => {
    const deps = unitDeps({ env: { PARTNERIZE_MODE: 'dryrun' } });
    owed(deps, 2_000, 1_000);
    const before = new Map(deps.conversions.items);
    const report = await sweep(deps, SWEEP);
    expect(report).toEqual({ due: 2, claimed: 0, byStatus: {}, unrecorded: 0, stoppedBy: 'dry_run', durationMs: 0 });
    expect(deps.sender.calls).toHaveLength(0);
    expect(deps.conversions.items).toEqual(before);
    expect(deps.log.messages('warn')).toEqual(['dry-run mode: owed sends are held, not sent']);
    expect(deps.metrics.get(METRICS.retryHeartbeat)).toBe(1);
  });

  it('a record another sender takes after it was listed is skipped, not sent twice', async () => {
    const deps = unitDeps();
    owed(deps, 2, 1);
    deps.sender.enqueue({
      ...answer.sent(),
      during: () => deps.conversions.claim('ORD-2', deps.clock.now(), deps.clock.now() + deps.config.leaseMs, 'postback', 'resume'),
    });
    expect(await sweep(deps, SWEEP)).toMatchObject({ due: 2, claimed: 1, byStatus: { sent: 1 } });
    expect(sentRefs(deps)).toEqual(['ORD-1']);
    expect(stored(deps, 'ORD-2').leaseId).toBe('postback');
  });

  it('concurrent workers send every due record exactly once', async () => {
    const deps = depsWith([], { otherwise: answer.sent() });
    const refs = owed(deps, ...Array.from({ length: 10 }, (_, i) => 10 - i));
    expect(await sweep(deps, { ...SWEEP, concurrency: 4 })).toMatchObject({ claimed: 10, byStatus: { sent: 10 } });
    expect(sentRefs(deps).sort()).toEqual([...refs].sort());
  });

  it('an attempt interrupted by a crash is recorded; Partnerize’s duplicate answer then means it landed: sent, deliveredEarlier', async () => {
    const deps = depsWith([answer.rejected('Conversion already exists')]);
    const [ref] = owed(deps, 10_000);
    const started = { at: new Date(deps.clock.now() - 40_000).toISOString(), trigger: 'inline' as const };
    deps.conversions.items.set(ref!, { ...stored(deps, ref!), status: 'pending', retries: 0, leaseId: 'crashed', attemptStarted: started });
    expect(await sweep(deps, SWEEP)).toMatchObject({ claimed: 1, byStatus: { sent: 1 } });
    const r = stored(deps, ref!);
    expect(r.status).toBe('sent');
    expect(r.attempts.map((a) => [a.trigger, a.error ?? a.result, a.uncertain ?? false, a.deliveredEarlier ?? false])).toEqual([
      ['inline', 'interrupted', true, false],
      ['retry', 'rejected', false, true],
    ]);
    expect(deps.metrics.get(METRICS.deliveredEarlier)).toBe(1);
  });

  it('the same duplicate answer without an earlier uncertain attempt is a rejection', async () => {
    const deps = depsWith([answer.rejected('Conversion already exists', 409)]);
    const [ref] = owed(deps, 1);
    expect(await sweep(deps, SWEEP)).toMatchObject({ byStatus: { rejected: 1 } });
    expect(stored(deps, ref!).attempts[0]!.deliveredEarlier).toBeUndefined();
  });

  it('counts attempts it could not record (lease lost, store failure); they stay owed', async () => {
    const deps = unitDeps();
    owed(deps, 2, 1);
    deps.sender.enqueue(
      { ...answer.sent(), during: () => deps.conversions.items.set('ORD-1', { ...stored(deps, 'ORD-1'), leaseId: 'other' }) },
      {
        ...answer.sent(),
        during: () => {
          deps.conversions.finishAttempt = () => Promise.reject(new Error('ServiceUnavailable'));
        },
      },
    );
    expect(await sweep(deps, SWEEP)).toMatchObject({ claimed: 2, unrecorded: 2, byStatus: { sent: 2 } });
    expect(stored(deps, 'ORD-2')).toMatchObject({ status: 'queued', attempts: [] });
    expect(deps.log.messages('error')).toEqual(['could not record a retry attempt']);
  });

  describe('the drain rate (sendsPerSecond)', () => {
    /** The unit deps on vitest's fake timers: the clock is Date.now, and waiting is a real setTimeout. */
    const timed = (script: UnitDepsOptions) => {
      const deps = depsWith([], script);
      deps.clock.now = () => Date.now();
      return deps;
    };
    const waitUntil = (at: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
    /** Runs the sweep while fake time passes, timer by timer. */
    async function paced(deps: UnitDeps, opts: Parameters<typeof sweep>[1]) {
      const run = sweep(deps, { ...opts, waitUntil });
      await vi.runAllTimersAsync();
      return run;
    }
    beforeEach(() => void vi.useFakeTimers({ now: Date.UTC(2026, 10, 24, 10) }));
    afterEach(() => void vi.useRealTimers());

    it('spaces the sends evenly across every worker, and reads no more than the rate times the budget', async () => {
      const deps = timed({ otherwise: answer.sent() });
      owed(deps, ...Array.from({ length: 60 }, (_, i) => 60_000 + i));
      const started = deps.clock.now();
      const report = await paced(deps, { limit: 5000, concurrency: 8, budgetMs: 2_000, sendsPerSecond: 10 });
      expect(report.due).toBe(21); // 10/s from 0 to 2 s, both ends included
      const starts = deps.sender.calls.map((c) => c.at - started);
      expect(starts).toEqual(Array.from({ length: 21 }, (_, i) => i * 100));
      expect(report).toMatchObject({ claimed: 21, byStatus: { sent: 21 } });
      expect(await dueRefs(deps)).toHaveLength(39);
    });

    it('property: whatever the workers, the rate and the backlog, no second holds more sends than the rate, and the budget holds', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 64 }),
          fc.integer({ min: 1, max: 100 }),
          fc.integer({ min: 0, max: 400 }),
          fc.integer({ min: 0, max: 5_000 }),
          async (concurrency, rate, backlog, budgetMs) => {
            const deps = timed({ otherwise: answer.sent() });
            owed(deps, ...Array.from({ length: backlog }, (_, i) => 60_000 + i));
            const started = deps.clock.now();
            const report = await paced(deps, { limit: 5000, concurrency, budgetMs, sendsPerSecond: rate });
            const perSecond = new Map<number, number>();
            for (const c of deps.sender.calls) {
              const second = Math.floor((c.at - started) / 1000);
              perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
            }
            expect(Math.max(0, ...perSecond.values())).toBeLessThanOrEqual(rate);
            expect(report.claimed).toBe(Math.min(backlog, Math.floor((rate * budgetMs) / 1000) + 1));
            expect(Math.max(0, ...deps.sender.calls.map((c) => c.at - started))).toBeLessThanOrEqual(budgetMs);
          },
        ),
        { numRuns: 60 },
      );
    });

    it('the retry function drains at its configured rate (SWEEP_SENDS_PER_SECOND, default 50)', () => {
      expect(unitDeps().config.sweepSendsPerSecond).toBe(50);
      expect(unitDeps({ env: { SWEEP_SENDS_PER_SECOND: '20' } }).config.sweepSendsPerSecond).toBe(20);
      expect(() => unitDeps({ env: { SWEEP_SENDS_PER_SECOND: '500' } })).toThrow(
        /SWEEP_SENDS_PER_SECOND must be a whole number from 1 to 100/,
      );
    });
  });
});

describe('sweep when the store fails mid-run', () => {
  it('stops claiming but lets the send in flight finish and be recorded (ending the run would leave it to be sent again)', async () => {
    const deps = depsWith([]);
    owed(deps, 2_000, 1_000);
    const claim = deps.conversions.claim.bind(deps.conversions);
    let calls = 0;
    deps.conversions.claim = async (...args) => {
      calls++;
      if (calls === 2) throw Object.assign(new Error('Throughput exceeds the current capacity'), { name: 'ThrottlingException' });
      return claim(...args);
    };
    // ORD-1 (the oldest) is being sent when the claim of ORD-2 fails.
    deps.sender.enqueue({ ...answer.sent(), during: async () => void (await new Promise((r) => setTimeout(r, 20))) });
    const report = await sweep(deps, { ...SWEEP, concurrency: 2 });
    expect(report).toMatchObject({ claimed: 1, byStatus: { sent: 1 }, unrecorded: 0, stoppedBy: 'store_error' });
    expect(stored(deps, 'ORD-1').status).toBe('sent');
    expect(stored(deps, 'ORD-1').leaseId).toBeUndefined();
    expect(stored(deps, 'ORD-2')).toMatchObject({ status: 'queued' });
  });
});
