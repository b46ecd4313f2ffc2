import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { integerDigitsOf, parseJsonText, quoteInexactNumbers } from '#lambdas/core/json-text.js';

/** What JSON.parse gives, with the integers JSON.stringify writes as plain digits but a double cannot hold as strings. */
const digitsKept = (v: unknown): unknown => {
  if (typeof v === 'number') return Number.isInteger(v) && !Number.isSafeInteger(v) && Math.abs(v) < 1e21 ? String(v) : v;
  if (Array.isArray(v)) return v.map(digitsKept);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, digitsKept(x)]));
  return v;
};

describe('parseJsonText', () => {
  it('keeps the digits of integers a double cannot hold (order ids above 2^53)', () => {
    expect(parseJsonText('{"orderId": 9007199254740993}')).toEqual({ orderId: '9007199254740993' });
    expect(parseJsonText('{"data":{"udo":{"order_id":100000000000000001}}}')).toEqual({
      data: { udo: { order_id: '100000000000000001' } },
    });
    expect(parseJsonText('[-9007199254740993, 9007199254740991, 12345678901234567890123]')).toEqual([
      '-9007199254740993',
      9007199254740991,
      '12345678901234567890123',
    ]);
  });

  it('keeps the digits of such an integer written with a fraction or an exponent: the same id as its plain form', () => {
    expect(
      parseJsonText('{"a": 9007199254740993.0, "b": 9.007199254740993e15, "c": 9007199254740993e0, "d": -90071992547409930e-1}'),
    ).toEqual({
      a: '9007199254740993',
      b: '9007199254740993',
      c: '9007199254740993',
      d: '-9007199254740993',
    });
    expect(parseJsonText('{"data":{"udo":{"order_id":1.00000000000000001e17}}}')).toEqual({
      data: { udo: { order_id: '100000000000000001' } },
    });
    // A fraction beside an integer part a double cannot hold keeps its digits as sent.
    expect(parseJsonText('{"a": 9007199254740993.5, "b": 9007199254740994.5}')).toEqual({
      a: '9007199254740993.5',
      b: '9007199254740994.5',
    });
    // Safe ones, fractions and numbers of 22 digits or more (JSON.stringify's own exponent forms) stay numbers.
    expect(parseJsonText('[1.5e3, 12e-1, 1e21, 2.5e300, 1e-7, 9007199254740991.0]')).toEqual([
      1500, 1.2, 1e21, 2.5e300, 1e-7, 9007199254740991,
    ]);
  });

  it('integerDigitsOf: the integer a number token denotes, without ever expanding a huge exponent', () => {
    expect(integerDigitsOf('1.0e2')).toBe('100');
    expect(integerDigitsOf('00.1e1')).toBe('1');
    expect(integerDigitsOf('120e-1')).toBe('12');
    expect(integerDigitsOf('-0.0')).toBe('0');
    expect(integerDigitsOf('12e-1')).toBeUndefined();
    expect(integerDigitsOf('5e-3')).toBeUndefined();
    expect(integerDigitsOf('1e99999999999')).toBeUndefined();
    expect(integerDigitsOf('abc')).toBeUndefined();
  });

  it('property: an unsafe integer keeps its digits in every form JSON allows for it', () => {
    const unsafe = fc
      .bigInt({ min: -(10n ** 21n) + 1n, max: 10n ** 21n - 1n })
      .filter((n) => n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER));
    fc.assert(
      fc.property(unsafe, fc.nat({ max: 5 }), (n, zeros) => {
        const digits = String(n < 0n ? -n : n);
        const sign = n < 0n ? '-' : '';
        const forms = [
          `${sign}${digits}.${'0'.repeat(zeros + 1)}`,
          `${sign}${digits[0]}.${digits.slice(1)}e${digits.length - 1}`,
          `${sign}${digits}e0`,
          `${sign}${digits}${'0'.repeat(zeros)}e-${zeros}`,
        ];
        for (const f of forms) expect(parseJsonText(`{"id": ${f}}`), f).toEqual({ id: String(n) });
      }),
      { numRuns: 300 },
    );
  });

  it('leaves safe integers, decimals, exponents and digits inside strings alone', () => {
    const text =
      '{"a": 9007199254740991, "b": 19.99, "c": 1e21, "d": "9007199254740993", "e": "x\\"90071992547409930", "f": 1234567890123456.5}';
    expect(parseJsonText(text)).toEqual(JSON.parse(text));
  });

  it('does not turn invalid JSON into valid JSON (a leading zero stays an error)', () => {
    expect(() => parseJsonText('{"orderId":012345678901234567890}')).toThrow(SyntaxError);
  });

  it('keeps the digits of numbers written with more significant digits than a double holds (a price JSON would round)', () => {
    const nines = `12.${'9'.repeat(40)}`;
    expect(parseJsonText(`{"value": ${nines}, "b": 0.30000000000000004, "c": 1.50000000000000000000000}`)).toEqual({
      value: nines,
      b: 0.30000000000000004,
      c: 1.5,
    });
  });

  it('reports invalid JSON as JSON.parse does', () => {
    expect(() => parseJsonText('{"a": 12345678901234567890')).toThrow(SyntaxError);
    expect(() => parseJsonText('{"a": 1')).toThrow(SyntaxError);
  });

  it('property: any JSON text parses to what JSON.parse gives, except that unsafe integers keep their digits', () => {
    const bigInt = fc
      .bigInt({ min: -(10n ** 30n), max: 10n ** 30n })
      .filter((n) => n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER));
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(bigInt, { maxLength: 3 }), (value, bigs) => {
        const withBigs = { value, bigs: bigs.map(String) };
        // The text a sender writes: the big integers as bare numbers.
        const text = JSON.stringify(withBigs).replace(/"(-?\d{16,})"/g, '$1');
        const parsed = parseJsonText(text) as typeof withBigs;
        expect(parsed.bigs).toEqual(bigs.map(String));
        expect(parseJsonText(JSON.stringify(value))).toEqual(digitsKept(JSON.parse(JSON.stringify(value))));
      }),
      { numRuns: 500 },
    );
  });

  it('property: texts without unsafe integers come back unchanged from the scan', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        const quoted = quoteInexactNumbers(text);
        if (!/\d{16}/.test(text)) expect(quoted).toBe(text);
      }),
    );
  });
});
