import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineTotal, MAX_CALL_LENGTH, requestFor, type CallSpec } from '#lambdas/core/partnerize-request.js';
import type { ConversionItem } from '#lambdas/core/partnerize-url.js';

const spec = (items: ConversionItem[], metadata?: Record<string, string>): CallSpec => ({
  baseUrl: 'https://prf.hn',
  method: 'GET',
  campaignId: '1011l270',
  conversionRef: 'ORD-1',
  currency: 'GBP',
  items,
  metadata,
});
/** The items of a built URL, decoded: [category, sku, value, quantity]. */
const sentItems = (url: string) =>
  [...url.matchAll(/\[([^\]]*)\]/g)].map((m) =>
    Object.fromEntries(m[1]!.split('/').map((kv) => [kv.slice(0, kv.indexOf(':')), decodeURIComponent(kv.slice(kv.indexOf(':') + 1))])),
  );

describe('requestFor', () => {
  it('sends a basket that fits as it is', () => {
    const r = requestFor(spec([{ category: 'shoes', sku: 'S1', value: '19.99', quantity: 2 }]), 'AbC');
    expect(r.compaction).toBe('none');
    expect(r.request.url).toContain('/[category:shoes/sku:S1/value:19.99/quantity:2]');
  });

  it('150 ordinary items: condensed to one item per category, totals exact', () => {
    const items = Array.from({ length: 150 }, (_, i) => ({
      category: i % 3 === 0 ? 'shoes' : 'socks',
      sku: `SKU-${100000 + i}`,
      value: '19.99',
      quantity: 1 + (i % 2),
    }));
    const r = requestFor(spec(items), 'AbC');
    expect(r.compaction).toBe('category');
    expect(r.request.url.length).toBeLessThanOrEqual(MAX_CALL_LENGTH);
    const sent = sentItems(r.request.url);
    expect(sent.map((s) => s['category'])).toEqual(['shoes', 'socks']);
    expect(lineTotal(sent.map((s) => ({ value: s['value']!, quantity: Number(s['quantity']) })))).toBe(lineTotal(items));
  });

  it('repeated identical lines are merged without losing anything first', () => {
    const items = Array.from({ length: 400 }, () => ({ category: 'cards', sku: 'GIFT-25', value: '25', quantity: 1 }));
    const r = requestFor(spec(items), 'AbC');
    expect(r.compaction).toBe('lines');
    expect(sentItems(r.request.url)).toEqual([{ category: 'cards', sku: 'GIFT-25', value: '25', quantity: '400' }]);
  });

  it('as a last resort drops conversion metadata, but always sends', () => {
    const metadata = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'.repeat(200)]));
    const r = requestFor(spec([{ value: '10', quantity: 1 }], metadata), 'AbC');
    expect(r.compaction).toBe('order_without_metadata');
    expect(r.request.url).not.toContain('/k0:');
  });

  it('property: every basket is sent within the limit, with the same total value, and condensed only when it had to be', () => {
    const item = fc.record({
      category: fc.option(fc.constantFrom('shoes', 'hats', 'a/b', 'ünï'), { nil: undefined }),
      sku: fc.option(
        fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.isWellFormed()),
        { nil: undefined },
      ),
      value: fc.tuple(fc.nat(99999), fc.nat(9999)).map(([w, f]) => (f === 0 ? String(w) : `${w}.${String(f).padStart(4, '0')}`)),
      quantity: fc.integer({ min: 1, max: 5 }),
    });
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 300 }), (items) => {
        const r = requestFor(spec(items as ConversionItem[]), 'AbC');
        expect(r.request.url.length).toBeLessThanOrEqual(MAX_CALL_LENGTH);
        const sent = sentItems(r.request.url).map((s) => ({ value: s['value']!, quantity: Number(s['quantity']) }));
        expect(Number(lineTotal(sent))).toBeCloseTo(Number(lineTotal(items as ConversionItem[])), 8);
        expect(lineTotal(sent)).toBe(lineTotal(items as ConversionItem[]));
        const full = requestFor(spec(items as ConversionItem[]), 'AbC', Number.MAX_SAFE_INTEGER);
        expect(r.compaction === 'none').toBe(full.request.url.length <= MAX_CALL_LENGTH);
      }),
      { numRuns: 150 },
    );
  });
});

describe('lineTotal', () => {
  it('adds value × quantity exactly', () => {
    expect(
      lineTotal([
        { value: '0.1', quantity: 3 },
        { value: '0.2', quantity: 1 },
      ]),
    ).toBe('0.5');
    expect(lineTotal([{ value: '19.99', quantity: 2 }])).toBe('39.98');
    expect(
      lineTotal([
        { value: '19.90', quantity: 1 },
        { value: '5', quantity: 2 },
      ]),
    ).toBe('29.9');
    expect(lineTotal([{ value: '0.0001', quantity: 1 }])).toBe('0.0001');
  });
});
