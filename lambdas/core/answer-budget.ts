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

/** The inline attempt's timeout: the configured one, or what is left of the budget if less. */
export function inlineAttemptTimeoutMs(configuredMs: number, elapsedMs: number): number {
  const left = ANSWER_BUDGET_MS - RECORDING_RESERVE_MS - elapsedMs;
  return Math.max(MIN_ATTEMPT_MS, Math.min(configuredMs, left));
}
