import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimatedBits, guessableSessionId } from '#lambdas/core/session-id.js';
import { VISITOR_ID } from '../fixtures/tealium.js';

const RULE = { minSessionIdLength: 8, minSessionIdBits: 32 };
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const uuid = (h: string, version: string) =>
  `${h.slice(0, 8)}-${h.slice(8, 12)}-${version}${h.slice(13, 16)}-${'89ab'[Number.parseInt(h[16]!, 16) % 4]}${h.slice(17, 20)}-${h.slice(20, 32)}`;

/** Random 128-bit ids in the forms the tracker meets: the snippet's, Tealium's visitor ids, UUIDs, base64url tokens. */
const randomIds = fc.oneof(
  bytes16.map(hex),
  bytes16.map((b) => hex(b).toUpperCase()),
  bytes16.map((b) => uuid(hex(b), '4')),
  bytes16.map((b) => Buffer.from(b).toString('base64url')),
  // Tealium's visitor id and UUID v7 start with a millisecond time: 48 bits that are far from random.
  fc
    .tuple(fc.integer({ min: Date.UTC(2015, 0), max: Date.UTC(2035, 0) }), fc.uint8Array({ minLength: 10, maxLength: 10 }))
    .map(([ms, rest]) => ms.toString(16).padStart(12, '0') + hex(rest)),
  fc
    .tuple(fc.integer({ min: Date.UTC(2015, 0), max: Date.UTC(2035, 0) }), fc.uint8Array({ minLength: 10, maxLength: 10 }))
    .map(([ms, rest]) => uuid(ms.toString(16).padStart(12, '0') + hex(rest), '7')),
);

const hexChar = fc.constantFrom(...'0123456789abcdef');
/** Ids a counter, a person or padding makes. */
const guessableIds = fc.oneof(
  // one character repeated
  fc.tuple(fc.constantFrom(...'0aZ9f-x'), fc.integer({ min: 8, max: 64 })).map(([c, n]) => c.repeat(n)),
  // a run: 12345678, 98765432, abcdefgh
  fc
    .tuple(fc.constantFrom('0123456789', 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), fc.nat(), fc.nat(), fc.boolean())
    .map(([alphabet, a, b, up]) => {
      const length = 8 + (a % (alphabet.length - 7));
      const start = b % (alphabet.length - length + 1);
      const run = alphabet.slice(start, start + length);
      return up ? run : [...run].reverse().join('');
    }),
  // a number a counter or a customer table hands out
  fc.integer({ min: 0, max: 999_999_999 }).map((n) => String(n).padStart(8, '0')),
  // a short block repeated: abcabcabc…, deadbeefdeadbeef…
  fc
    .tuple(fc.stringMatching(/^[0-9a-zA-Z]{1,4}$/), fc.integer({ min: 4, max: 16 }))
    .map(([block, n]) => block.repeat(n))
    .filter((s) => s.length >= 8),
  // a UUID of one repeated digit (the all-zero UUID and its siblings)
  hexChar.map((c) => uuid(c.repeat(32), c)),
);

describe('estimatedBits', () => {
  it('refuses the ids a guesser tries first', () => {
    for (const id of [
      '12345678',
      'aaaaaaaa',
      '00000000-0000-0000-0000-000000000000',
      '11111111-1111-1111-1111-111111111111',
      '00000042',
      'abcabcabcabc',
      'abcdabcdabcdabcd',
      'sess-0001',
      'user-12345',
    ]) {
      expect(guessableSessionId(id, RULE), id).toMatch(/^looks guessable/);
    }
  });

  it('takes the snippet’s ids, Tealium’s visitor id, UUIDs, and GA client ids', () => {
    for (const id of [
      VISITOR_ID,
      randomUUID(),
      '0192f5e3-c4a0-7d1b-8e6f-2a9c3b5d7e91',
      'f2Kq9XbT1mWc8pLz0aYdRg',
      '1987342156.1732451234',
    ]) {
      expect(guessableSessionId(id, RULE), id).toBeUndefined();
    }
  });

  it('GA client ids have their own bar: real ones whose digits repeat by chance pass, made-up ones do not', () => {
    // 31 random bits whose digits happen to run and repeat: under 32 bits by the estimate, a real GA id.
    const unlucky = '1123456990.1733333210';
    expect(estimatedBits(unlucky)).toBeLessThan(32);
    expect(guessableSessionId(unlucky, RULE)).toBeUndefined();
    for (const id of ['1234567890.1700000000', '1111111111.1111111111', '12345678.1700000000']) {
      expect(guessableSessionId(id, RULE), id).toMatch(/^looks guessable/);
    }
  });

  it('property: a GA client id (a number below 2^31, a dot, a time in seconds) passes exactly when it reaches 24 bits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10_000, max: 2 ** 31 - 1 }), fc.integer({ min: 1_500_000_000, max: 1_900_000_000 }), (r, t) => {
        const id = `${r}.${t}`;
        expect(guessableSessionId(id, RULE) === undefined).toBe(estimatedBits(id) >= 24);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: random 128-bit ids always pass, with a wide margin', () => {
    fc.assert(
      fc.property(randomIds, (id) => {
        expect(guessableSessionId(id, RULE)).toBeUndefined();
        expect(estimatedBits(id)).toBeGreaterThanOrEqual(64);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: repeated, sequential, short-numeric and block-repeated ids are always refused', () => {
    fc.assert(
      fc.property(guessableIds, (id) => {
        expect(guessableSessionId(id, RULE)).toMatch(/^looks guessable/);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: separators add nothing, so a pattern cannot be dressed up as a UUID', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme-ascii' }), (id) => {
        const dressed = id.replace(/(.{4})/g, '$1-');
        if (!/[-_.:]/.test(id)) expect(estimatedBits(dressed)).toBeCloseTo(estimatedBits(id), 6);
      }),
    );
  });

  it('the shorter-than rule comes first, and 0 bits switches the estimate off', () => {
    expect(guessableSessionId('a1b2c3', RULE)).toMatch(/^must be at least 8 characters/);
    expect(guessableSessionId('aaaaaaaa', { ...RULE, minSessionIdBits: 0 })).toBeUndefined();
  });
});
