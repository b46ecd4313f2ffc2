/**
 * Sending an owed conversion: one attempt under a lease, recorded on the record whatever happens.
 * Used by the inline attempt of a postback, by a postback that resumes an owed send, and by the
 * retry sweep.
 */
import type { AttemptOutcome, AttemptTrigger, ConversionRecord, Deps, Log } from './model.js';
import { METRICS } from './metrics.js';
import { nextDueAt } from './retry-policy.js';

export const DUE_SHARD = 'owed';

export const iso = (ms: number): string => new Date(ms).toISOString();

/** What one attempt's result does to a record: sent, rejected, queued for the next retry, or failed. */
export function outcomeOf(
  record: Pick<ConversionRecord, 'retries'>,
  attempt: AttemptOutcome['attempt'],
  now: number,
  delaysS: readonly number[],
  random: () => number,
): AttemptOutcome {
  if (attempt.result === 'sent') return { status: 'sent', attempt, retries: record.retries };
  if (attempt.result === 'rejected') return { status: 'rejected', attempt, retries: record.retries };
  const retries = record.retries + 1;
  const dueAt = nextDueAt(now, retries, delaysS, random, attempt.retryAfterS);
  return dueAt === undefined ? { status: 'failed', attempt, retries } : { status: 'queued', attempt, retries, dueAt };
}

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
  const outcome = outcomeOf(record, { at: iso(startedAt), trigger, ...result }, now, deps.config.retryDelaysS, deps.random);
  deps.metrics.add(METRICS.partnerizeAnswer[result.result], 1);
  deps.metrics.add(METRICS.partnerizeLatency, result.latencyMs, 'Milliseconds');
  try {
    const recorded = await deps.conversions.finishAttempt(record.conversionRef, leaseId, outcome, now);
    // Counted once it is on record: an unrecorded failure stays owed and will be tried again.
    if (recorded && outcome.status === 'failed') deps.metrics.add(METRICS.conversionsFailed, 1);
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
    latencyMs: a.latencyMs,
    status: outcome.status,
    retries: outcome.retries,
  });
}
