/** Units of time in milliseconds, and the one way the tracker writes a time (ISO 8601, UTC). */
export const SECOND_MS = 1_000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

export const iso = (ms: number): string => new Date(ms).toISOString();

/** Epoch seconds `days` after `now` (ms): a DynamoDB TTL. */
export const expiresAfterDays = (now: number, days: number): number => Math.ceil((now + days * DAY_MS) / SECOND_MS);
