/**
 * How long a postback may take. Tealium's webhook connector waits 5 s for an answer; an answer
 * slower than that counts as a failed delivery on Tealium's side, so everything a postback does —
 * reading the click, writing the record, the inline Partnerize attempt and recording it — must end
 * in time for the answer (a 202, or a 5xx that Tealium retries) to travel back.
 *
 * This is the one place those numbers live: the store deadline (adapters/deadline.ts) and the
 * inline attempt's timeout are derived from them.
 */
import { SECOND_MS } from './time.js';

/** What the caller (Tealium) waits for an answer. */
export const CALLER_TIMEOUT_MS = 5 * SECOND_MS;

/** Every store and secret call of a request gives up by then: the rest is the answer's way back. */
export const ANSWER_BUDGET_MS = 4_500;

/** The inline attempt ends this long before the budget, so its result can be written. */
export const RECORDING_RESERVE_MS = 500;

/** Below this an attempt is not worth making: the send stays owed for the retry function. */
export const MIN_ATTEMPT_MS = 250;

/**
 * The inline attempt's timeout: the configured one, or what is left of the budget if less;
 * undefined when that is under {@link MIN_ATTEMPT_MS} — the send then waits for the retry function
 * (an attempt cut that short mostly ends uncertain, and may be counted twice).
 */
export function inlineAttemptTimeoutMs(configuredMs: number, elapsedMs: number): number | undefined {
  const left = Math.min(configuredMs, ANSWER_BUDGET_MS - RECORDING_RESERVE_MS - elapsedMs);
  return left < MIN_ATTEMPT_MS ? undefined : left;
}

/**
 * The inline attempt's timeout. Partnerize's S2S call is not idempotent (nothing documents a dedupe
 * by conversionref), so an attempt abandoned before Partnerize answers may be counted once now and
 * once more by the retry. The longer the inline attempt waits, the fewer such doubles: 3.5 s still
 * leaves the reads, the write and the recording of the result inside the answer budget.
 */
export const DEFAULT_INLINE_TIMEOUT_MS = 3_500;

/**
 * A retry's timeout: nobody waits on it, so it waits for Partnerize's slow tail (each abandoned
 * call may double a conversion). It must end, with its recording, well inside the 30 s lease.
 */
export const DEFAULT_RETRY_TIMEOUT_MS = 15_000;

/**
 * What Partnerize's answer to a conversionref it already holds looks like. Partnerize documents no
 * such answer; this matches the wordings such services use ("duplicate", "already exists"). A 409
 * counts too. Only after an attempt of ours that may have landed does it mean "delivered".
 */
export const DEFAULT_DUPLICATE_ANSWER = 'duplicat|already';

/**
 * How long recording an attempt's result may take at worst: the DynamoDB client's own bound (three
 * tries of at most 1 s with backoff, commons/dynamodb.ts) with slack.
 */
export const RECORDING_BOUND_MS = 4_000;

/** The lease a sender holds on a record: long enough that no one takes it over while it still sends. */
export const DEFAULT_LEASE_MS = 30_000;

/**
 * A lease shorter than an attempt plus its recording lets a second sender take the record while the
 * first one still waits for Partnerize: the same conversion sent twice. Returns the shortest safe lease.
 */
export const minimumLeaseMs = (c: { inlineTimeoutMs: number; retryTimeoutMs: number }): number =>
  Math.max(c.inlineTimeoutMs, c.retryTimeoutMs) + RECORDING_BOUND_MS;
