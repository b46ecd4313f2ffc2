/**
 * The retry sweep: sends the owed conversions that are due. Every record is claimed with a lease
 * before it is sent, so overlapping sweeps (or a postback resuming a send) never send it twice.
 * A sweep bounds its own work: at most `limit` records, `concurrency` at a time, at most
 * `sendsPerSecond` (the drain rate: docs/capacity.md), within a time budget, and it stops claiming
 * when Partnerize signals trouble (a 429, or a run of retryable failures), leaving the rest due for
 * the next run instead of hammering Partnerize.
 */
import { attemptSend, logAttempt } from './delivery.js';
import { METRICS } from './metrics.js';
import type { AttemptOutcome, Clock, ConversionRecord, ConversionStatus, Deps, DueRef, OwedDeps } from './model.js';
import { SECOND_MS } from './time.js';

export interface SweepOptions {
  /** Records read from the due index per run. */
  limit: number;
  /** Sends in flight at once. */
  concurrency: number;
  /** Stop claiming new records after this long (ms); in-flight sends finish. */
  budgetMs: number;
  /** Stop claiming after this many retryable failures in a row. */
  breakerThreshold?: number;
  /**
   * The drain rate: claims (so sends) start at most this often per second across all workers,
   * evenly spaced; absent, as fast as `concurrency` allows. Needs `waitUntil`.
   */
  sendsPerSecond?: number;
  /** Resolves at epoch ms `at` (the clock's time): how the workers keep to the drain rate. */
  waitUntil?: (at: number) => Promise<void>;
}

export interface SweepReport {
  due: number;
  claimed: number;
  byStatus: Partial<Record<ConversionStatus, number>>;
  /** Attempts whose result could not be recorded (lease lost or store error). */
  unrecorded: number;
  /**
   * Why the run stopped early, if it did (`dry_run`: nothing is sent in dry-run mode, owed sends
   * wait; `store_error`: claiming failed, the sends in flight were still recorded).
   */
  stoppedBy?: 'rate_limited' | 'failures' | 'budget' | 'dry_run' | 'store_error';
  durationMs: number;
}

export async function sweep(deps: OwedDeps, opts: SweepOptions): Promise<SweepReport> {
  const { clock, config, log } = deps;
  const started = clock.now();
  const due = await listOwed(deps, opts, started);
  const report: SweepReport = { due: due.length, claimed: 0, byStatus: {}, unrecorded: 0, durationMs: 0 };
  // Dry run means no call leaves the process. Sends still owed from a live period wait for the
  // next live one (their dueAt keeps them first in line).
  if (config.partnerizeMode === 'dryrun') {
    if (due.length > 0) log.warn('dry-run mode: owed sends are held, not sent', { due: due.length });
    return { ...report, stoppedBy: 'dry_run', durationMs: clock.now() - started };
  }
  const breaker = failureBreaker(opts.breakerThreshold ?? 5);
  let next = 0;
  const rate = opts.waitUntil ? (opts.sendsPerSecond ?? 0) : 0;
  const nextSlot = drainSlots(clock, started, rate);

  const worker = async (): Promise<void> => {
    while (next < due.length && report.stoppedBy === undefined) {
      if (rate > 0) {
        const slot = nextSlot();
        if (slot > clock.now()) await opts.waitUntil!(slot);
        if (report.stoppedBy !== undefined) break;
      }
      if (clock.now() - started > opts.budgetMs) {
        report.stoppedBy = 'budget';
        break;
      }
      const ref = due[next++];
      if (!ref) break;
      const sent = await claimAndSend(deps, ref.conversionRef, report);
      if (sent === 'store_error') break;
      if (sent) breaker(sent, report);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  report.durationMs = clock.now() - started;
  return report;
}

/** The owed sends due now, oldest first, as many as the run can send; the backlog is measured as they are read. */
async function listOwed(deps: OwedDeps, opts: SweepOptions, started: number): Promise<DueRef[]> {
  // At the drain rate a run has one slot every 1000 / rate ms from 0 to its budget: read no more.
  const slots = opts.sendsPerSecond && opts.waitUntil ? Math.floor((opts.sendsPerSecond * opts.budgetMs) / SECOND_MS) + 1 : opts.limit;
  const due = await deps.conversions.listDue(started, Math.min(opts.limit, slots));
  deps.metrics.add(METRICS.retryHeartbeat, 1);
  deps.metrics.add(METRICS.owedDue, due.length);
  deps.metrics.add(METRICS.oldestOwedAge, due[0] ? Math.max(0, (started - due[0].dueAt) / SECOND_MS) : 0, 'Seconds');
  return due;
}

/**
 * The drain rate: claim k of a run starts at the k-th slot, `1000 / rate` ms apart (in whole ms,
 * so any second holds at most `rate`). Slots a slow run fell behind on are not banked for a burst.
 */
function drainSlots(clock: Clock, started: number, rate: number): () => number {
  let base = started;
  let k = 0;
  return () => {
    let at = base + Math.ceil((k * SECOND_MS) / rate);
    if (at < clock.now()) {
      base = at = clock.now();
      k = 0;
    }
    k++;
    return at;
  };
}

/**
 * Claims one owed record and sends it: its outcome, undefined when it was not claimed (sent
 * meanwhile, or another run holds it), or `store_error` when claiming failed and the run stops claiming.
 */
async function claimAndSend(deps: Deps, conversionRef: string, report: SweepReport): Promise<AttemptOutcome | 'store_error' | undefined> {
  const { clock, config, log } = deps;
  const leaseId = deps.newId();
  const now = clock.now();
  let record: ConversionRecord | undefined;
  try {
    record = await deps.conversions.claim(conversionRef, now, now + config.leaseMs, leaseId, 'retry');
  } catch (err) {
    // The store is failing: stop claiming, but let the sends already in flight finish and be
    // recorded — ending the run now would freeze them unrecorded, to be sent again.
    log.error('could not claim an owed send; the run stops claiming', { conversionRef, error: String(err) });
    report.stoppedBy ??= 'store_error';
    return 'store_error';
  }
  if (!record) return undefined;
  report.claimed++;
  const { outcome, recorded } = await attemptSend(record, leaseId, 'retry', config.retryTimeoutMs, deps, (err) =>
    log.error('could not record a retry attempt', { conversionRef, error: String(err) }),
  );
  if (!recorded) report.unrecorded++;
  report.byStatus[outcome.status] = (report.byStatus[outcome.status] ?? 0) + 1;
  logAttempt(log, conversionRef, outcome);
  return outcome;
}

/** Stops the run on a 429, or after `threshold` retryable failures in a row (across the workers). */
function failureBreaker(threshold: number): (outcome: AttemptOutcome, report: SweepReport) => void {
  let consecutiveFailures = 0;
  return (outcome, report) => {
    if (outcome.attempt.result !== 'retryable') {
      consecutiveFailures = 0;
      return;
    }
    consecutiveFailures++;
    if (outcome.attempt.status === 429) report.stoppedBy ??= 'rate_limited';
    else if (consecutiveFailures >= threshold) report.stoppedBy ??= 'failures';
  };
}
