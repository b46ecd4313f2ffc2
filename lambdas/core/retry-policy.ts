/**
 * How a Partnerize answer is classified, and when the next attempt is due.
 * 2xx → sent. 408, 429, 5xx, timeout, connection error → retryable. Any other answer → rejected.
 */
import { DAY_MS, SECOND_MS } from './time.js';

export type AnswerClass = 'sent' | 'retryable' | 'rejected';

export function classifyStatus(status: number): AnswerClass {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 408 || status === 429 || status >= 500) return 'retryable';
  return 'rejected';
}

/** The production schedule: about 1 min, 5 min, 15 min, 1 h, 3 h, 6 h, 12 h, 24 h. */
export const DEFAULT_RETRY_DELAYS_S: readonly number[] = [60, 300, 900, 3600, 10800, 21600, 43200, 86400];

/** Fraction of the delay added or removed at random so a backlog does not retry in lockstep. */
export const JITTER = 0.2;

/**
 * When retry number `retry` (1 = the first retry after the initial attempt) is due, in epoch ms;
 * `undefined` when the schedule is exhausted. `retryAfterS` (a 429's Retry-After) is a lower bound.
 */
export function nextDueAt(
  now: number,
  retry: number,
  delaysS: readonly number[],
  random: () => number = Math.random,
  retryAfterS?: number,
): number | undefined {
  const base = delaysS[retry - 1];
  if (base === undefined) return undefined;
  const jittered = base * (1 + JITTER * (2 * random() - 1));
  const delayS = Math.max(jittered, retryAfterS ?? 0);
  return now + Math.round(delayS * SECOND_MS);
}

/**
 * Reads a Retry-After header: delay-seconds or an HTTP date. Returns seconds (≥ 0), capped at a day,
 * or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  let s: number;
  if (/^\d+$/.test(v)) s = Number(v);
  else {
    const t = Date.parse(v);
    if (Number.isNaN(t)) return undefined;
    s = Math.max(0, (t - now) / SECOND_MS);
  }
  return Math.min(s, DAY_MS / SECOND_MS);
}

/** Parses `RETRY_DELAYS_S` ("0.2,0.5,1"): positive numbers of seconds. */
export function parseDelays(value: string): number[] {
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const out = parts.map(Number);
  if (out.length === 0 || out.some((n) => !Number.isFinite(n) || n <= 0)) {
    throw new Error(`RETRY_DELAYS_S must be a comma-separated list of positive seconds, got '${value}'`);
  }
  return out;
}
