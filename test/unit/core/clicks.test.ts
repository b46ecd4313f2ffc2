import { describe, expect, it } from 'vitest';
import { recordClick } from '#lambdas/core/clicks.js';
import { METRICS } from '#lambdas/core/metrics.js';
import { DAY_MS } from '#lambdas/core/time.js';
import { DESKTOP_UA, IPHONE_UA, tealiumPageView, VISITOR_ID } from '../../fixtures/tealium.js';
import { unitDeps } from '../../support/unit-deps.js';

const SESSION = 'session-0001';

describe('recordClick', () => {
  it('stores the clickref exactly as given, with the time, the device and the end of the attribution window', async () => {
    const deps = unitDeps({ env: { ATTRIBUTION_WINDOW_DAYS: '7' } });
    expect(await recordClick({ sessionId: SESSION, clickref: 'aBc-DeF_09' }, IPHONE_UA, deps)).toEqual({ recorded: true });
    const now = deps.clock.now();
    expect(await deps.clicks.get(SESSION)).toEqual({
      sessionId: SESSION,
      clickref: 'aBc-DeF_09',
      clickedAt: now,
      device: 'mobile',
      expiresAt: Math.ceil((now + 7 * DAY_MS) / 1000),
    });
    expect(deps.metrics.get(METRICS.clicksRecorded)).toBe(1);
  });

  it('the latest click of a session wins (design contract): clicks without a session key never lock', async () => {
    const deps = unitDeps();
    await recordClick({ sessionId: SESSION, clickref: 'First1' }, undefined, deps);
    deps.clock.advance(60_000);
    expect(await recordClick({ sessionId: SESSION, clickref: 'Second2' }, undefined, deps)).toEqual({ recorded: true });
    expect((await deps.clicks.get(SESSION))!.clickref).toBe('Second2');
  });

  describe('the click lock', () => {
    const KEY = '5f0c9a1e7b3d4c2a8e6f1b0d9c7a5e3f';
    const OTHER_KEY = 'c41d8e2b6a0f9e7d3c5b1a8f2e4d6c0b';

    it('the shopper’s own browser (same session key) replaces its click at once: a second affiliate link wins', async () => {
      const deps = unitDeps();
      await recordClick({ sessionId: SESSION, clickref: 'Content1', sessionKey: KEY }, undefined, deps);
      deps.clock.advance(60_000);
      expect(await recordClick({ sessionId: SESSION, clickref: 'Voucher2', sessionKey: KEY }, undefined, deps)).toEqual({ recorded: true });
      expect((await deps.clicks.get(SESSION))!.clickref).toBe('Voucher2');
    });

    it('someone who knows the session id but not its key cannot replace a recent click: 204, not recorded, counted', async () => {
      const deps = unitDeps();
      await recordClick({ sessionId: SESSION, clickref: 'Shopper1', sessionKey: KEY }, undefined, deps);
      for (const attempt of [{}, { sessionKey: OTHER_KEY }]) {
        deps.clock.advance(60_000);
        expect(await recordClick({ sessionId: SESSION, clickref: 'Thief666', ...attempt }, undefined, deps)).toEqual({ recorded: false });
      }
      expect(await deps.clicks.get(SESSION)).toMatchObject({ clickref: 'Shopper1' });
      expect(deps.metrics.get(METRICS.clicksLocked)).toBe(2);
      expect(deps.metrics.get(METRICS.clicksRecorded)).toBe(1);
    });

    it('a keyed click is locked against clicks without its key until the lock passes; then the latest wins', async () => {
      const deps = unitDeps({ env: { CLICK_LOCK_MINUTES: '10' } });
      await recordClick({ sessionId: SESSION, clickref: 'First1', sessionKey: KEY }, undefined, deps);
      deps.clock.advance(10 * 60_000);
      expect(await recordClick({ sessionId: SESSION, clickref: 'Second2' }, undefined, deps)).toEqual({ recorded: false });
      deps.clock.advance(1);
      expect(await recordClick({ sessionId: SESSION, clickref: 'Third3' }, undefined, deps)).toEqual({ recorded: true });
      expect((await deps.clicks.get(SESSION))!.clickref).toBe('Third3');
      // Third3 came without a key: the session is unlocked, the next click wins at once.
      deps.clock.advance(1);
      expect(await recordClick({ sessionId: SESSION, clickref: 'Fourth4' }, undefined, deps)).toEqual({ recorded: true });
    });

    it('the same clickref again is recorded, but never drops the key a locked click came with', async () => {
      const deps = unitDeps();
      await recordClick({ sessionId: SESSION, clickref: 'Same1' }, undefined, deps);
      deps.clock.advance(1_000);
      // The snippet reports the landing a second after a Tealium click event did: its key now guards the click.
      expect(await recordClick({ sessionId: SESSION, clickref: 'Same1', sessionKey: KEY }, undefined, deps)).toEqual({ recorded: true });
      deps.clock.advance(1_000);
      expect(await recordClick({ sessionId: SESSION, clickref: 'Same1' }, undefined, deps)).toEqual({ recorded: false });
      deps.clock.advance(60_000);
      expect(await recordClick({ sessionId: SESSION, clickref: 'Next2', sessionKey: KEY }, undefined, deps)).toEqual({ recorded: true });
    });

    it('keeps a digest of the key, never the key', async () => {
      const deps = unitDeps();
      await recordClick({ sessionId: SESSION, clickref: 'Ref1', sessionKey: KEY }, undefined, deps);
      const stored = (await deps.clicks.get(SESSION))!;
      expect(stored.keyDigest).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(JSON.stringify(stored)).not.toContain(KEY);
    });

    it('CLICK_LOCK_MINUTES=0: the latest click always wins', async () => {
      const deps = unitDeps({ env: { CLICK_LOCK_MINUTES: '0' } });
      await recordClick({ sessionId: SESSION, clickref: 'First1', sessionKey: KEY }, undefined, deps);
      deps.clock.advance(1);
      expect(await recordClick({ sessionId: SESSION, clickref: 'Second2' }, undefined, deps)).toEqual({ recorded: true });
    });

    it('a malformed or guessable session key is a 400 naming it', async () => {
      for (const sessionKey of ['short', 'x'.repeat(40), 'has spaces in it and more', 1234567890123456]) {
        await expect(recordClick({ sessionId: SESSION, clickref: 'Ref1', sessionKey }, undefined, unitDeps())).rejects.toMatchObject({
          code: 'invalid_field',
          field: 'sessionKey',
        });
      }
    });
  });

  it('device: the page’s hint, else the user agent in the body, else the request’s, else none', async () => {
    const deps = unitDeps();
    const device = async (body: Record<string, unknown>, header: string | undefined) => {
      await recordClick({ sessionId: SESSION, clickref: 'Ref1', ...body }, header, deps);
      deps.clock.advance(1);
      return (await deps.clicks.get(SESSION))!.device;
    };
    expect(await device({ device: 'tablet', userAgent: DESKTOP_UA }, IPHONE_UA)).toBe('tablet');
    expect(await device({ userAgent: DESKTOP_UA }, IPHONE_UA)).toBe('desktop');
    expect(await device({}, IPHONE_UA)).toBe('mobile');
    expect(await device({}, undefined)).toBeUndefined();
  });

  it('consent false: deliberately not recorded, counted', async () => {
    const deps = unitDeps();
    expect(await recordClick({ sessionId: SESSION, clickref: 'Ref1', consent: false }, undefined, deps)).toEqual({ recorded: false });
    expect(deps.clicks.items.size).toBe(0);
    expect(deps.metrics.get(METRICS.clicksNotRecorded)).toBe(1);
    expect(deps.metrics.get(METRICS.clicksRecorded)).toBe(0);
  });

  it('a Tealium page view: the clickref from its page URL, the session from the visitor id, the device from its user agent', async () => {
    const deps = unitDeps();
    expect(await recordClick(tealiumPageView(), DESKTOP_UA, deps)).toEqual({ recorded: true });
    expect(await deps.clicks.get(VISITOR_ID)).toMatchObject({ clickref: 'AbC123xYz', device: 'mobile' });
  });

  it('a Tealium event without the affiliates consent category is not recorded', async () => {
    const deps = unitDeps();
    expect(await recordClick(tealiumPageView({ consent_categories: 'analytics' }), undefined, deps)).toEqual({ recorded: false });
    expect(await recordClick(tealiumPageView({ consent_categories: 'analytics,affiliates' }), undefined, deps)).toEqual({ recorded: true });
  });

  describe('bad input: a 400 naming the field, nothing stored', () => {
    it.each([
      ['a blank clickref', { sessionId: SESSION, clickref: '  ' }, 'blank_clickref', 'clickref'],
      ['a clickref with other characters', { sessionId: SESSION, clickref: 'a/b' }, 'invalid_clickref', 'clickref'],
      ['no clickref', { sessionId: SESSION }, 'missing_clickref', 'clickref'],
      ['no session', { clickref: 'Ref1' }, 'missing_field', 'sessionId'],
      ['a short session id', { sessionId: 'abc', clickref: 'Ref1' }, 'invalid_field', 'sessionId'],
      ['a sequential session id', { sessionId: '12345678', clickref: 'Ref1' }, 'invalid_field', 'sessionId'],
      ['a repeated session id', { sessionId: 'aaaaaaaa', clickref: 'Ref1' }, 'invalid_field', 'sessionId'],
      ['the all-zero UUID', { sessionId: '00000000-0000-0000-0000-000000000000', clickref: 'Ref1' }, 'invalid_field', 'sessionId'],
    ])('%s', async (_, body, code, field) => {
      const deps = unitDeps();
      await expect(recordClick(body, undefined, deps)).rejects.toMatchObject({ name: 'InputError', code, field });
      expect(deps.clicks.items.size).toBe(0);
    });

    it('the minimum session id length is configured, and a Tealium event’s field is named as Tealium spells it', async () => {
      const deps = unitDeps({ env: { MIN_SESSION_ID_LENGTH: '40' } });
      await expect(recordClick(tealiumPageView(), undefined, deps)).rejects.toMatchObject({
        field: 'data.udo.tealium_visitor_id',
        message:
          'data.udo.tealium_visitor_id must be at least 40 characters (a short, guessable session id lets anyone overwrite its clickref)',
      });
    });

    it('a guessable session id is refused with the reason and the estimate; MIN_SESSION_ID_BITS sets the bar', async () => {
      await expect(recordClick({ sessionId: '00000042', clickref: 'Ref1' }, undefined, unitDeps())).rejects.toMatchObject({
        message: expect.stringMatching(/^sessionId looks guessable: .*about 9 bits, at least 32 needed/),
      });
      const lax = unitDeps({ env: { MIN_SESSION_ID_BITS: '0' } });
      expect(await recordClick({ sessionId: '00000042', clickref: 'Ref1' }, undefined, lax)).toEqual({ recorded: true });
    });

    it('a body that is not a JSON object', async () => {
      const deps = unitDeps();
      for (const body of [null, 'clickref=Ref1', ['Ref1']]) {
        await expect(recordClick(body, undefined, deps)).rejects.toMatchObject({ code: 'invalid_body' });
      }
    });
  });
});
