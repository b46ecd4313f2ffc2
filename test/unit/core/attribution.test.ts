import { describe, expect, it } from 'vitest';
import { isLive, liveClick } from '#lambdas/core/attribution.js';
import type { ClickRecord } from '#lambdas/core/model.js';
import { DAY_MS } from '#lambdas/core/time.js';
import { MemoryClickStore } from '../../support/memory-stores.js';

const T = Date.UTC(2026, 10, 24, 10);
const click = (over: Partial<ClickRecord> = {}): ClickRecord => ({
  sessionId: 'session-0001',
  clickref: 'AbC123',
  clickedAt: T,
  expiresAt: (T + 30 * DAY_MS) / 1000,
  ...over,
});

describe('isLive', () => {
  it('live until the attribution window has passed since the click, not a millisecond longer', () => {
    expect(isLive(click(), T, 30)).toBe(true);
    expect(isLive(click(), T + 30 * DAY_MS - 1, 30)).toBe(true);
    expect(isLive(click(), T + 30 * DAY_MS, 30)).toBe(false);
  });

  it('the window in force at lookup counts, also when it is shorter than when the click was stored', () => {
    expect(isLive(click(), T + 8 * DAY_MS, 7)).toBe(false);
    expect(isLive(click(), T + 8 * DAY_MS, 30)).toBe(true);
  });

  it("past the record's own expiry (DynamoDB's TTL, which deletes late) it is not live either", () => {
    const c = click({ expiresAt: (T + DAY_MS) / 1000 });
    expect(isLive(c, T + DAY_MS - 1, 30)).toBe(true);
    expect(isLive(c, T + DAY_MS, 30)).toBe(false);
  });
});

describe('liveClick', () => {
  it("the session's click while it is live, else nothing", async () => {
    const clicks = new MemoryClickStore();
    await clicks.put(click());
    expect(await liveClick('session-0001', T + DAY_MS, 30, clicks)).toEqual(click());
    expect(await liveClick('session-0001', T + 31 * DAY_MS, 30, clicks)).toBeUndefined();
    expect(await liveClick('session-other', T, 30, clicks)).toBeUndefined();
  });

  it('without a session id the store is not read', async () => {
    let reads = 0;
    const clicks = {
      get: async () => {
        reads++;
        return click();
      },
    };
    expect(await liveClick(undefined, T, 30, clicks)).toBeUndefined();
    expect(await liveClick('', T, 30, clicks)).toBeUndefined();
    expect(reads).toBe(0);
  });
});
