/**
 * Sending an owed conversion: one attempt under a lease, recorded on the record whatever happens.
 * Used by the inline attempt of a postback, by a postback that resumes an owed send, and by the
 * retry sweep.
 */
import {
  APPROVALS_SHARD,
  type Attempt,
  type AttemptOutcome,
  type AttemptStart,
  type AttemptTrigger,
  type ConversionRecord,
  type ConversionStatus,
  type Deps,
  type Log,
  type TrackerConfig,
} from './model.js';
import { METRICS } from './metrics.js';
import { nextDueAt } from './retry-policy.js';
import { DAY_MS, iso } from './time.js';

/**
 * A delivered conversion, with automatic approval on (`autoApproveAfterDays`), waits in the due
 * index's approvals partition until its approval falls due (core/order-update-sweep.ts); the same
 * write that records the delivery puts it there, so approval costs no write of its own.
 */
export const delivered = (
  now: number,
  config: Partial<Pick<TrackerConfig, 'autoApproveAfterDays'>>,
): Pick<AttemptOutcome, 'dueAt' | 'dueShard'> =>
  config.autoApproveAfterDays ? { dueShard: APPROVALS_SHARD, dueAt: now + config.autoApproveAfterDays * DAY_MS } : {};

/**
 * Did an earlier attempt of this record reach Partnerize, or perhaps reach it without us learning
 * its answer (a timeout, a cut connection, a sender that stopped mid-call)? Then a later
 * "duplicate" answer means that attempt landed.
 */
export function mayHaveLandedBefore(record: Pick<ConversionRecord, 'attempts' | 'interrupted'>): boolean {
  // An attempt answered 2xx landed for certain (a replay of a sent conversion meets it again).
  return record.interrupted !== undefined || record.attempts.some((a) => a.uncertain === true || a.result === 'sent');
}

/** Partnerize's answer to a conversionref it already holds, if the configured pattern says so. */
export function isDuplicateAnswer(attempt: Pick<Attempt, 'result' | 'status' | 'body'>, pattern: RegExp | undefined): boolean {
  return attempt.result === 'rejected' && (attempt.status === 409 || pattern?.test(attempt.body ?? '') === true);
}

/** What one attempt's result does to a record: sent, rejected, queued for the next retry, or failed. */
export function outcomeOf(
  record: Pick<ConversionRecord, 'retries' | 'attempts' | 'interrupted'>,
  attempt: Attempt,
  now: number,
  config: Pick<TrackerConfig, 'retryDelaysS' | 'duplicateAnswer'> & Partial<Pick<TrackerConfig, 'autoApproveAfterDays'>>,
  random: () => number,
): AttemptOutcome {
  if (attempt.result === 'sent') return { status: 'sent', attempt, retries: record.retries, ...delivered(now, config) };
  if (isDuplicateAnswer(attempt, config.duplicateAnswer) && mayHaveLandedBefore(record)) {
    return { status: 'sent', attempt: { ...attempt, deliveredEarlier: true }, retries: record.retries, ...delivered(now, config) };
  }
  if (attempt.result === 'rejected') return { status: 'rejected', attempt, retries: record.retries };
  // Partnerize took the call and cut the connection without answering: it has most likely counted
  // it, and a repeat cannot be told apart from a new order. Held, not sent again by itself.
  if (attempt.cause === 'reset') return { status: 'unconfirmed', attempt, retries: record.retries };
  const retries = record.retries + 1;
  const dueAt = nextDueAt(now, retries, config.retryDelaysS, random, attempt.retryAfterS);
  return dueAt === undefined ? { status: 'failed', attempt, retries } : { status: 'queued', attempt, retries, dueAt };
}

/** The audit-trail entry of an attempt whose sender stopped before recording it. */
export const interruptedAttempt = (started: AttemptStart): Attempt => ({
  at: started.at,
  trigger: started.trigger,
  result: 'retryable',
  error: 'interrupted',
  cause: 'interrupted',
  uncertain: true,
  latencyMs: 0,
});

/** Outcomes that wait for an operator, and the metric whose alarm pages for them. */
const PAGED: Partial<Record<ConversionStatus, string>> = {
  failed: METRICS.conversionsFailed,
  unconfirmed: METRICS.conversionsUnconfirmed,
};

export interface AttemptReport {
  outcome: AttemptOutcome;
  /** False when the lease was lost or the store failed: the record was not updated. */
  recorded: boolean;
}

/**
 * Sends `record.request` (the record must be held under `leaseId`) and records the attempt.
 * Never throws for Partnerize's behaviour; a store failure after the send is reported, not thrown,
 * because the send has happened and must not be repeated by the caller.
 */
export async function attemptSend(
  record: ConversionRecord,
  leaseId: string,
  trigger: AttemptTrigger,
  timeoutMs: number,
  deps: Pick<Deps, 'sender' | 'clock' | 'conversions' | 'config' | 'random' | 'metrics'>,
  onStoreError: (err: unknown) => void = () => {},
): Promise<AttemptReport> {
  if (!record.request) throw new Error(`conversion ${record.conversionRef} has no request to send`);
  const startedAt = deps.clock.now();
  const result = await deps.sender.send(record.request, timeoutMs);
  const now = deps.clock.now();
  const outcome: AttemptOutcome = {
    ...outcomeOf(record, { at: iso(startedAt), trigger, ...result }, now, deps.config, deps.random),
    interruptedAttempt: record.interrupted && interruptedAttempt(record.interrupted),
  };
  // A duplicate answer after an uncertain attempt is a delivery, not a rejection to page for.
  deps.metrics.add(METRICS.partnerizeAnswer[outcome.attempt.deliveredEarlier ? 'sent' : result.result], 1);
  deps.metrics.add(METRICS.partnerizeLatency, result.latencyMs, 'Milliseconds');
  if (result.uncertain) deps.metrics.add(METRICS.partnerizeUncertain, 1);
  if (outcome.attempt.deliveredEarlier) deps.metrics.add(METRICS.deliveredEarlier, 1);
  try {
    const recorded = await deps.conversions.finishAttempt(record.conversionRef, leaseId, outcome, now);
    // Counted once it is on record: an unrecorded failure stays owed and will be tried again.
    const paged = PAGED[outcome.status];
    if (recorded && paged) deps.metrics.add(paged, 1);
    return { outcome, recorded };
  } catch (err) {
    onStoreError(err);
    return { outcome, recorded: false };
  }
}

/** One log line per attempt: ids, classes and timings only (no URL: it holds the clickref). */
export function logAttempt(log: Log, conversionRef: string, outcome: AttemptOutcome): void {
  const a = outcome.attempt;
  log.info('partnerize attempt', {
    conversionRef,
    trigger: a.trigger,
    result: a.result,
    httpStatus: a.status,
    error: a.error,
    cause: a.cause,
    uncertain: a.uncertain,
    deliveredEarlier: a.deliveredEarlier,
    interrupted: outcome.interruptedAttempt?.at,
    latencyMs: a.latencyMs,
    status: outcome.status,
    retries: outcome.retries,
  });
}
