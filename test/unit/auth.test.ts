import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAuthorized, presentedToken } from '#lambdas/core/auth.js';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('postback auth', () => {
  it('reads Bearer and Basic (any user, token as password), case-insensitive schemes', () => {
    expect(presentedToken('Bearer abc')).toBe('abc');
    expect(presentedToken('bearer abc')).toBe('abc');
    expect(presentedToken(basic('tealium', 'abc'))).toBe('abc');
    expect(presentedToken(basic('', 'a:b'))).toBe('a:b');
    expect(presentedToken('Basic !!!')).toBeUndefined();
    expect(presentedToken(`Basic ${Buffer.from('nocolon').toString('base64')}`)).toBeUndefined();
    expect(presentedToken('Token abc')).toBeUndefined();
    expect(presentedToken(undefined)).toBeUndefined();
  });

  it('accepts any of the valid tokens (rotation: current and previous)', () => {
    expect(isAuthorized('Bearer new', ['new', 'old'])).toBe(true);
    expect(isAuthorized('Bearer old', ['new', 'old'])).toBe(true);
    expect(isAuthorized(basic('u', 'old'), ['new', 'old'])).toBe(true);
    expect(isAuthorized('Bearer other', ['new', 'old'])).toBe(false);
    expect(isAuthorized('Bearer ', ['new'])).toBe(false);
    expect(isAuthorized('Bearer x', [''])).toBe(false);
  });

  it('property: only the exact token is accepted', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, unit: fc.constantFrom(...'abcdefXYZ0123_-'.split('')) }),
        fc.string({ minLength: 1, unit: fc.constantFrom(...'abcdefXYZ0123_-'.split('')) }),
        (token, guess) => {
          expect(isAuthorized(`Bearer ${guess}`, [token])).toBe(guess === token);
          expect(isAuthorized(basic('user', guess), [token])).toBe(guess === token);
        },
      ),
    );
  });

  it('property: never throws on arbitrary headers', () => {
    fc.assert(
      fc.property(fc.string(), (h) => void isAuthorized(h, ['secret'])),
      { numRuns: 2000 },
    );
  });
});
