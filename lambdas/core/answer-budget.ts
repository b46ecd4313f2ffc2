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

/** Kept for the answer's way back to the caller (Lambda, API Gateway, the network). */
export const ANSWER_WAY_BACK_MS = 500;

/**
 * Every store and secret call of a request gives up by then, counted from the request's arrival
 * (one deadline per request: http/http-function.ts).
 */
export const ANSWER_BUDGET_MS = CALLER_TIMEOUT_MS - ANSWER_WAY_BACK_MS;

/** The inline attempt ends this long before the budget, so its result can be written. */
export const RECORDING_RESERVE_MS = 500;

/** The longest an inline attempt may wait: the budget, less the writing of its result. */
export const MAX_INLINE_TIMEOUT_MS = ANSWER_BUDGET_MS - RECORDING_RESERVE_MS;

/** Below this an attempt is not worth making: the send stays owed for the retry function. */
export const MIN_ATTEMPT_MS = 250;

/**
 * The inline attempt's timeout: the configured one, or what is left of the budget if less;
 * undefined when that is under {@link MIN_ATTEMPT_MS} — the send then waits for the retry function
 * (an attempt cut that short mostly ends uncertain, and may be counted twice).
 */
export function inlineAttemptTimeoutMs(configuredMs: number, elapsedMs: number): number | undefined {
  const left = Math.min(configuredMs, MAX_INLINE_TIMEOUT_MS - elapsedMs);
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
 * Every DynamoDB call is bounded (runtime/dynamodb.ts configures the client with these): DynamoDB
 * answers in milliseconds, so a try without an answer after 1 s is abandoned, and 3 tries are made
 * in all — about 3.5 s at worst with the SDK's backoff between them.
 */
export const DYNAMODB_TRY_TIMEOUT_MS = SECOND_MS;
export const DYNAMODB_TRIES = 3;

/** Beyond the tries themselves: the SDK's backoff between them, and slack. */
const DYNAMODB_BACKOFF_AND_SLACK_MS = SECOND_MS;

/**
 * How long recording an attempt's result may take at worst: the DynamoDB client's own bound, which
 * no request deadline shortens (the recording is exempt: DynamoConversionStore.finishAttempt).
 */
export const RECORDING_BOUND_MS = DYNAMODB_TRIES * DYNAMODB_TRY_TIMEOUT_MS + DYNAMODB_BACKOFF_AND_SLACK_MS;

/** The lease a sender holds on a record: long enough that no one takes it over while it still sends. */
export const DEFAULT_LEASE_MS = 30_000;

/**
 * A lease shorter than an attempt plus its recording lets a second sender take the record while the
 * first one still waits for Partnerize: the same conversion sent twice. Returns the shortest safe lease.
 */
export const minimumLeaseMs = (c: { inlineTimeoutMs: number; retryTimeoutMs: number }): number =>
  Math.max(c.inlineTimeoutMs, c.retryTimeoutMs) + RECORDING_BOUND_MS;

/**
 * Reading a secret while a request waits (the postback token, the origin-verify value): two tries
 * of at most 1.5 s, within the answer budget. The Partnerize API keys are read by the scheduled
 * functions, where nobody waits: 3 s a try.
 */
export const SECRET_READ = { tries: 2, connectTimeoutMs: SECOND_MS, requestTimeoutMs: 1_500 } as const;
export const API_KEYS_READ = { ...SECRET_READ, requestTimeoutMs: 3 * SECOND_MS } as const;
