/** The reconciliation's money (core/reconcile-amounts.ts): exact decimals, float sums from Partnerize's JSON, rounding tolerance. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agree, amountOf, amountOfNumber, formatAmount, sum, tolerance } from '#lambdas/core/reconcile-amounts.js';

const decimal = (cents: number) => String(cents / 100);

describe('amounts', () => {
  const decimalText = fc
    .tuple(fc.bigInt({ min: 0n, max: 10n ** 11n }), fc.integer({ min: 0, max: 4 }))
    .map(([units, places]) =>
      places === 0 ? String(units) : `${units / 10n ** BigInt(places)}.${String(units % 10n ** BigInt(places)).padStart(places, '0')}`,
    );

  it('a plain decimal of up to 4 places is read exactly and written back as the same number', () => {
    fc.assert(
      fc.property(decimalText, (t) => {
        const a = amountOf(t)!;
        expect(amountOf(formatAmount(a))).toBe(a);
        expect(Number(formatAmount(a))).toBe(Number(t));
      }),
    );
  });

  it('sums of float item values read from JSON agree with the exact sum of the decimals sent (no float drift)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 9_999_999 }), fc.integer({ min: 1, max: 20 })), { minLength: 1, maxLength: 50 }),
        (ls) => {
          const exact = sum(ls.map(([cents, q]) => amountOf(decimal(cents))! * BigInt(q)));
          const float = ls.reduce((n, [cents, q]) => n + (cents / 100) * q, 0);
          expect(agree(amountOfNumber(float)!, exact)).toBe(true);
        },
      ),
    );
  });

  it('a value finer than the currency’s minor unit may be rounded by Partnerize (half a unit per unit), no more', () => {
    expect(tolerance([{ value: '19.995', quantity: 2 }], 'GBP')).toBe(100n);
    expect(tolerance([{ value: '19.99', quantity: 2 }], 'GBP')).toBe(0n);
    expect(tolerance([{ value: '100.5', quantity: 1 }], 'JPY')).toBe(5000n);
  });
});
