import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromItem, toItem } from '#lambdas/adapters/marshal.js';

/** JSON-like records as the tracker stores them (undefined fields included: they must be left out). */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0) && Math.abs(n) < 1e15),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(
      tie('v').filter((x) => x !== undefined),
      { maxLength: 4 },
    ),
    fc.dictionary(
      fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== '__proto__'),
      fc.oneof(tie('v'), fc.constant(undefined)),
      { maxKeys: 5 },
    ),
  ),
})).v;
const record = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 10 }).filter((k) => k !== '__proto__'),
  fc.oneof(value, fc.constant(undefined)),
  { maxKeys: 8 },
);

describe('marshal', () => {
  it('property: writes exactly what @aws-sdk/util-dynamodb writes (undefined values removed)', () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(toItem(r)).toEqual(marshall(r, { removeUndefinedValues: true, convertEmptyValues: false }));
      }),
      { numRuns: 500 },
    );
  });

  it('property: reads back what it wrote, and what util-dynamodb reads', () => {
    fc.assert(
      fc.property(record, (r) => {
        const item = toItem(r);
        expect(fromItem(item)).toEqual(unmarshall(item));
        expect(fromItem(item)).toEqual(JSON.parse(JSON.stringify(r)));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses what DynamoDB cannot hold', () => {
    expect(() => toItem({ n: Number.NaN })).toThrow(TypeError);
    expect(() => toItem({ f: () => 1 })).toThrow(TypeError);
  });
});
