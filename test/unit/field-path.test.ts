import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import { formatFieldPath, getPath, parsePath } from '#lambdas/core/field-path.js';

describe('field paths', () => {
  it('reads dotted, quoted and indexed paths', () => {
    expect(parsePath('data.udo.order_id')).toEqual(['data', 'udo', 'order_id']);
    expect(parsePath('data.udo["qp.clickref"]')).toEqual(['data', 'udo', 'qp.clickref']);
    expect(parsePath("data.udo['qp.clickref'].x")).toEqual(['data', 'udo', 'qp.clickref', 'x']);
    expect(parsePath('data.udo.product_sku[1]')).toEqual(['data', 'udo', 'product_sku', 1]);
    expect(parsePath('visitor_id')).toEqual(['visitor_id']);
  });

  it('rejects malformed paths with the field named', () => {
    for (const bad of ['', '.a', 'a..b', 'a[', 'a["x"', 'a[x]', 'a.']) {
      expect(() => parsePath(bad, 'tealiumMapping.orderId[0]'), bad).toThrow(InputError);
    }
  });

  it('property: format then parse gives back the same keys', () => {
    const key = fc.oneof(fc.string(), fc.nat(50));
    fc.assert(
      fc.property(fc.array(key, { minLength: 1, maxLength: 6 }), (keys) => {
        expect(parsePath(formatFieldPath(keys))).toEqual(keys);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: parse never throws anything but InputError', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          parsePath(s);
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('follows only own properties', () => {
    const obj = JSON.parse('{"a":{"b":[10,20]},"__proto__":{"polluted":1}}');
    expect(getPath(obj, ['a', 'b', 1])).toBe(20);
    expect(getPath(obj, ['a', 'toString'])).toBeUndefined();
    expect(getPath(obj, ['a', 'b', 'length'])).toBeUndefined();
    expect(getPath({}, ['constructor'])).toBeUndefined();
  });
});
