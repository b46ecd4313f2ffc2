import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLICKREF_PATTERN, parseClickref } from '#lambdas/core/clickref.js';
import { InputError } from '#lambdas/core/errors.js';

const clickrefChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'.split(''));

describe('parseClickref', () => {
  it('property: an accepted clickref is returned unaltered (support question Q1)', () => {
    fc.assert(
      fc.property(fc.string({ unit: clickrefChar, minLength: 1, maxLength: 256 }), (ref) => {
        expect(parseClickref(ref)).toBe(ref);
      }),
    );
  });

  it('property: anything else is rejected with the field named, never altered into something valid', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        if (CLICKREF_PATTERN.test(s)) {
          expect(parseClickref(s, 'clickref')).toBe(s);
        } else {
          try {
            parseClickref(s, 'data.udo.clickref');
            expect.unreachable();
          } catch (err) {
            expect(err).toBeInstanceOf(InputError);
            expect((err as InputError).field).toBe('data.udo.clickref');
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('names blank, missing and malformed clickrefs differently', () => {
    expect(() => parseClickref('   ')).toThrow(expect.objectContaining({ code: 'blank_clickref' }));
    expect(() => parseClickref(undefined)).toThrow(expect.objectContaining({ code: 'missing_clickref' }));
    expect(() => parseClickref('a b')).toThrow(expect.objectContaining({ code: 'invalid_clickref' }));
    expect(() => parseClickref(' AbC')).toThrow(expect.objectContaining({ code: 'invalid_clickref' }));
    expect(() => parseClickref('x'.repeat(257))).toThrow(expect.objectContaining({ code: 'invalid_clickref' }));
    expect(() => parseClickref(12345)).toThrow(expect.objectContaining({ code: 'invalid_clickref' }));
  });
});
