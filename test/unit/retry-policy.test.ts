import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyStatus, DEFAULT_RETRY_DELAYS_S, JITTER, nextDueAt, parseDelays, parseRetryAfter } from '#lambdas/core/retry-policy.js';

describe('classifyStatus', () => {
  it('2xx sent; 408, 429, 5xx retryable; other answers rejected', () => {
    expect(classifyStatus(200)).toBe('sent');
    expect(classifyStatus(204)).toBe('sent');
    for (const s of [408, 429, 500, 502, 503, 504, 599]) expect(classifyStatus(s)).toBe('retryable');
    for (const s of [400, 401, 403, 404, 409, 410, 422, 301, 302, 100]) expect(classifyStatus(s)).toBe('rejected');
  });
});

describe('schedule', () => {
  it('follows the production schedule with bounded jitter, then ends', () => {
    expect(DEFAULT_RETRY_DELAYS_S).toEqual([60, 300, 900, 3600, 10800, 21600, 43200, 86400]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.double({ min: 0, max: 0.9999, noNaN: true }), (retry, r) => {
        const base = DEFAULT_RETRY_DELAYS_S[retry - 1]! * 1000;
        const due = nextDueAt(0, retry, DEFAULT_RETRY_DELAYS_S, () => r)!;
        expect(due).toBeGreaterThanOrEqual(Math.floor(base * (1 - JITTER)));
        expect(due).toBeLessThanOrEqual(Math.ceil(base * (1 + JITTER)));
      }),
    );
    expect(nextDueAt(0, 9, DEFAULT_RETRY_DELAYS_S)).toBeUndefined();
  });

  it('never schedules sooner than a Retry-After', () => {
    expect(nextDueAt(1000, 1, [1], () => 0.5, 30)).toBe(31_000);
  });

  it('reads Retry-After as seconds or an HTTP date, capped at a day', () => {
    const now = Date.UTC(2026, 10, 24, 10);
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30);
    expect(parseRetryAfter('999999', now)).toBe(86400);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('parses RETRY_DELAYS_S', () => {
    expect(parseDelays('0.2, 0.5,1')).toEqual([0.2, 0.5, 1]);
    expect(() => parseDelays('1,-1')).toThrow(/RETRY_DELAYS_S/);
    expect(() => parseDelays('')).toThrow(/RETRY_DELAYS_S/);
  });
});
