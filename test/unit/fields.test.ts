import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consent,
  country,
  currency,
  customerType,
  decimal,
  device,
  instant,
  MAX_VALUE,
  plainDecimal,
  quantity,
  text,
} from '#lambdas/core/fields.js';
import { parseJsonText } from '#lambdas/core/json-text.js';

const value = <T>(r: { ok: boolean; value?: T }) => (r.ok ? r.value : 'FAIL');

describe('plainDecimal', () => {
  it('property: any non-negative finite number is written without exponent and reads back exactly', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), (n) => {
        const s = plainDecimal(n)!;
        expect(s).toMatch(/^\d+(\.\d+)?$/);
        expect(Number(s)).toBe(n === 0 ? 0 : n);
      }),
      { numRuns: 2000 },
    );
  });

  it('expands exponents both ways', () => {
    expect(plainDecimal(1e-7)).toBe('0.0000001');
    expect(plainDecimal(1.5e-10)).toBe('0.00000000015');
    expect(plainDecimal(1e21)).toBe('1000000000000000000000');
    expect(plainDecimal(2.5e22)).toBe('25000000000000000000000');
    expect(plainDecimal(19.99)).toBe('19.99');
    expect(plainDecimal(-0)).toBe('0');
    expect(plainDecimal(-1)).toBeUndefined();
    expect(plainDecimal(Number.NaN)).toBeUndefined();
  });
});

describe('decimal (money values)', () => {
  it('takes numbers and numeric strings (Tealium sends strings)', () => {
    expect(value(decimal(19.99))).toBe('19.99');
    expect(value(decimal('19.99'))).toBe('19.99');
    expect(value(decimal(' 19.90 '))).toBe('19.90');
    expect(value(decimal('007.5'))).toBe('7.5');
    expect(value(decimal(0))).toBe('0');
    expect(value(decimal('19.9000'))).toBe('19.9000');
  });

  it('is bounded by Partnerize: at most 4 decimal places and 99,999,999.9999, with a reason', () => {
    const precise = "must have at most 4 decimal places (Partnerize's limit), e.g. 19.99";
    const large = "must be at most 99999999.9999 (Partnerize's limit)";
    expect(decimal(`12.${'9'.repeat(3000)}`)).toEqual({ ok: false, message: precise });
    expect(decimal('19.99001')).toEqual({ ok: false, message: precise });
    expect(decimal(19.99001)).toEqual({ ok: false, message: precise });
    expect(decimal(1e-7)).toEqual({ ok: false, message: precise });
    expect(decimal('100000000')).toEqual({ ok: false, message: large });
    expect(decimal(100_000_000)).toEqual({ ok: false, message: large });
    expect(decimal(`${'9'.repeat(3000)}.5`)).toEqual({ ok: false, message: large });
    expect(value(decimal('99999999.9999'))).toBe('99999999.9999');
    expect(value(decimal(99_999_999.9999))).toBe('99999999.9999');
    expect(decimal(`${'0'.repeat(40)}1.5`).ok).toBe(false);
  });

  it('reads a double printed with its binary noise as the value it stands for (data layers compute prices)', () => {
    expect(value(decimal(0.1 + 0.2))).toBe('0.3');
    expect(value(decimal('0.30000000000000004'))).toBe('0.3');
    expect(value(decimal(19.99 * 3))).toBe('59.97');
    expect(value(decimal(String(1.1 * 1.1)))).toBe('1.21');
  });

  it('a JSON number with more digits than a double holds is refused, not rounded away by JSON.parse', () => {
    const body = parseJsonText(`{"value": 12.${'9'.repeat(3000)}}`) as { value: unknown };
    expect(decimal(body.value).ok).toBe(false);
  });

  it('property: a value within the bounds, as text, comes back exactly as written (leading zeros dropped)', () => {
    fc.assert(
      fc.property(fc.nat(99_999_999), fc.option(fc.stringMatching(/^\d{1,4}$/), { nil: undefined }), (i, f) => {
        const s = f === undefined ? String(i) : `${i}.${f}`;
        expect(decimal(s)).toEqual({ ok: true, value: s });
        expect(value(decimal(`00${s}`))).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it('property: cents computed in floating point are read as the cents they are', () => {
    fc.assert(
      fc.property(fc.nat(9_999_999_999), (cents) => {
        const computed = cents * 0.01;
        const exact = plainDecimal(cents / 100)!;
        expect(value(decimal(computed))).toBe(exact);
        expect(value(decimal(String(computed)))).toBe(exact);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: whatever it is given, an accepted value has at most 4 places and is at most the bound', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double({ min: 0, max: 2e8, noNaN: true }), fc.stringMatching(/^\d{1,12}(\.\d{1,20})?$/)), (v) => {
        const r = decimal(v);
        if (!r.ok) return;
        expect(r.value).toMatch(/^\d{1,8}(\.\d{1,4})?$/);
        expect(Number(r.value)).toBeLessThanOrEqual(MAX_VALUE);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses signs, exponents, separators, symbols and non-numbers', () => {
    for (const bad of [
      '-1',
      '+1',
      '1e3',
      '1,299.00',
      '£5',
      '',
      ' ',
      'abc',
      '1.',
      '.5',
      -0.01,
      Number.POSITIVE_INFINITY,
      Number.NaN,
      true,
      {},
      [],
      null,
      2e12,
    ]) {
      expect(decimal(bad).ok, String(bad)).toBe(false);
    }
  });

  it('property: a number string in plain form comes back as the same number', () => {
    fc.assert(
      fc.property(fc.nat(99_999_999), fc.nat(9999), (i, f) => {
        const s = `${i}.${String(f).padStart(4, '0')}`;
        expect(Number(value(decimal(s)))).toBe(Number(s));
      }),
    );
  });
});

describe('quantity', () => {
  it('is a positive whole number from a number or string; absent means 1', () => {
    expect(value(quantity(undefined))).toBe(1);
    expect(value(quantity(''))).toBe(1);
    expect(value(quantity(2))).toBe(2);
    expect(value(quantity('3'))).toBe(3);
    expect(value(quantity('3.0'))).toBe(3);
    for (const bad of [0, -1, 1.5, '1.5', 'two', '0', true, 2_000_000]) expect(quantity(bad).ok, String(bad)).toBe(false);
  });
});

describe('codes and enums', () => {
  it('normalises currency and country case', () => {
    expect(value(currency('gbp'))).toBe('GBP');
    expect(currency('GB').ok).toBe(false);
    expect(currency(undefined)).toEqual({ ok: false, message: 'is required' });
    expect(value(country('gb'))).toBe('GB');
    expect(value(country(''))).toBeUndefined();
    expect(country('GBR').ok).toBe(false);
  });

  it('maps customer types to Partnerize new/existing', () => {
    expect(value(customerType('New'))).toBe('new');
    expect(value(customerType('returning'))).toBe('existing');
    expect(value(customerType('existing'))).toBe('existing');
    expect(customerType('vip').ok).toBe(false);
  });

  it('accepts the five device classes', () => {
    expect(value(device('Mobile'))).toBe('mobile');
    expect(device('phone').ok).toBe(false);
  });

  it('reads consent booleans and their common string forms', () => {
    expect(value(consent(true))).toBe(true);
    expect(value(consent('false'))).toBe(false);
    expect(value(consent('1'))).toBe(true);
    expect(value(consent(undefined))).toBeUndefined();
    expect(consent('maybe').ok).toBe(false);
  });
});

describe('instant', () => {
  it('reads ISO 8601 with a zone, epoch ms and epoch seconds', () => {
    expect(value(instant('2026-11-24T10:15:00Z'))).toBe(Date.UTC(2026, 10, 24, 10, 15));
    expect(value(instant('2026-11-24T11:15:00+01:00'))).toBe(Date.UTC(2026, 10, 24, 10, 15));
    expect(value(instant(1795515300000))).toBe(1795515300000);
    expect(value(instant('1795515300000'))).toBe(1795515300000);
    expect(value(instant(1795515300))).toBe(1795515300000);
  });

  it('refuses zone-less and out-of-range times', () => {
    for (const bad of ['2026-11-24T10:15:00', 'yesterday', '2026-13-40T99:00:00Z', 5, '1e12', true])
      expect(instant(bad).ok, String(bad)).toBe(false);
  });
});

describe('text', () => {
  it('refuses lone surrogates, control characters (when asked) and overlong values', () => {
    expect(text('a\uDC00', { max: 10 }).ok).toBe(false);
    expect(text('a\nb', { max: 10, noControl: true }).ok).toBe(false);
    expect(text('abc', { max: 2 }).ok).toBe(false);
    expect(value(text(1001, { max: 10, scalars: true }))).toBe('1001');
    expect(text(1001, { max: 10 }).ok).toBe(false);
  });

  it('refuses U+FFFD in ids (what a decoder left of bytes that were not UTF-8), and only in ids', () => {
    expect(text('ORD-\uFFFD', { max: 10, noControl: true })).toEqual({
      ok: false,
      message: 'must not contain U+FFFD (bytes that were not valid UTF-8)',
    });
    expect(value(text('Caf\uFFFD', { max: 10 }))).toBe('Caf\uFFFD');
  });
});
