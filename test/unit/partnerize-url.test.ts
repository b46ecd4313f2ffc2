import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import {
  buildConversionPath,
  buildConversionUrl,
  formatConversionTime,
  withClickref,
  type ConversionCall,
} from '#lambdas/core/partnerize-url.js';
import { RESERVED_KEYS } from '#lambdas/core/metadata.js';

const base: ConversionCall = {
  campaignId: '1011l270',
  clickref: 'AbC123xYz',
  conversionRef: 'ORD-1001',
  currency: 'GBP',
  items: [{ category: 'shoes', sku: 'SKU-1', value: '19.99', quantity: 2 }],
};

/** Splits a built path into its segments, keeping item blocks whole. */
function segments(path: string): string[] {
  return path
    .slice(1)
    .split('/')
    .reduce<string[]>((acc, part) => {
      const last = acc[acc.length - 1];
      if (last?.startsWith('[') && !last.endsWith(']')) acc[acc.length - 1] = `${last}/${part}`;
      else acc.push(part);
      return acc;
    }, []);
}

const kv = (segment: string): [string, string] => {
  const i = segment.indexOf(':');
  return [segment.slice(0, i), decodeURIComponent(segment.slice(i + 1))];
};

/** Any well-formed Unicode string, weighted towards the characters that break paths. */
const nasty = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom('/', ':', '[', ']', '%', '?', '#', '&', ' ', '+', '=', '.', '\\', '"', 'é', '€', '😀', '%2F', '..'),
    minLength: 1,
    maxLength: 20,
  }),
  fc.string({ minLength: 1 }).filter((s) => s.isWellFormed()),
);

describe('buildConversionPath', () => {
  it('writes the contract layout', () => {
    expect(
      buildConversionUrl('https://prf.hn/', {
        ...base,
        country: 'GB',
        customerType: 'new',
        voucher: 'SUMMER10',
        conversionTime: Date.UTC(2026, 10, 24, 10, 15, 0),
        device: 'mobile',
        metadata: { store: 'uk-web' },
        items: [{ category: 'shoes', sku: 'SKU-1', value: '19.99', quantity: 2, metadata: { colour: 'red' } }],
      }),
    ).toBe(
      'https://prf.hn/conversion/tracking_mode:api/campaign:1011l270/clickref:AbC123xYz/conversionref:ORD-1001/currency:GBP' +
        '/country:GB/customertype:new/voucher:SUMMER10/conversion_time:2026-11-24%2010%3A15%3A00/device:mobile/store:uk-web' +
        '/[category:shoes/sku:SKU-1/value:19.99/quantity:2/colour:red]',
    );
  });

  it('writes one block per item, in order, and omits absent optional fields', () => {
    const path = buildConversionPath({
      ...base,
      items: [
        { value: '5', quantity: 1 },
        { sku: 'B', value: '0.5', quantity: 3 },
      ],
    });
    expect(path).toBe(
      '/conversion/tracking_mode:api/campaign:1011l270/clickref:AbC123xYz/conversionref:ORD-1001/currency:GBP/[value:5/quantity:1]/[sku:B/value:0.5/quantity:3]',
    );
  });

  it('formats conversion_time as UTC YYYY-MM-DD HH:MM:SS', () => {
    expect(formatConversionTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02 03:04:05');
  });

  it('keeps the clickref byte-exact (case-sensitive)', () => {
    const [, , , clickref] = segments(buildConversionPath({ ...base, clickref: 'aBc_-Z9' }));
    expect(clickref).toBe('clickref:aBc_-Z9');
  });

  it('property: every value decodes back to the original, whatever it holds (support question Q5)', () => {
    fc.assert(
      fc.property(
        nasty,
        nasty,
        nasty,
        nasty,
        nasty,
        nasty,
        nasty,
        (conversionRef, voucher, metaValue, sku, category, itemMeta, country) => {
          const path = buildConversionPath({
            ...base,
            conversionRef,
            voucher,
            country,
            metadata: { note: metaValue },
            items: [{ sku, category, value: '1.5', quantity: 1, metadata: { extra: itemMeta } }],
          });
          const segs = segments(path);
          expect(segs.slice(0, 2)).toEqual(['conversion', 'tracking_mode:api']);
          const top = Object.fromEntries(segs.slice(2, -1).map(kv));
          expect(top).toEqual({
            campaign: '1011l270',
            clickref: 'AbC123xYz',
            conversionref: conversionRef,
            currency: 'GBP',
            country,
            voucher,
            note: metaValue,
          });
          const block = segs[segs.length - 1]!;
          expect(block.startsWith('[') && block.endsWith(']')).toBe(true);
          const item = Object.fromEntries(block.slice(1, -1).split('/').map(kv));
          expect(item).toEqual({ category, sku, value: '1.5', quantity: '1', extra: itemMeta });
          // Nothing inside a value can open a new segment, block or query.
          expect(path).not.toMatch(/[?#\s]/);
          expect(path.split('[').length - 1).toBe(1);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses ill-formed Unicode (a lone surrogate cannot round-trip)', () => {
    expect(() => buildConversionPath({ ...base, voucher: 'a\uD800b' })).toThrow(InputError);
  });

  it('refuses metadata keys that break the rules or shadow reserved keys (support question Q8)', () => {
    for (const key of ['Colour', 'a-b', 'a b', '']) {
      expect(() => buildConversionPath({ ...base, metadata: { [key]: 'x' } })).toThrow(InputError);
    }
    for (const key of RESERVED_KEYS) {
      expect(() => buildConversionPath({ ...base, metadata: { [key]: 'x' } })).toThrow(/metadata/);
      expect(() => buildConversionPath({ ...base, items: [{ value: '1', quantity: 1, metadata: { [key]: 'x' } }] })).toThrow(
        /items\[0\]\.metadata/,
      );
    }
  });

  it('refuses values that are not plain decimals and quantities that are not positive integers', () => {
    expect(() => buildConversionPath({ ...base, items: [{ value: '1e3', quantity: 1 }] })).toThrow(/value/);
    expect(() => buildConversionPath({ ...base, items: [{ value: '1', quantity: 0 }] })).toThrow(/quantity/);
    expect(() => buildConversionPath({ ...base, items: [{ value: '1', quantity: 1.5 }] })).toThrow(/quantity/);
  });
});

describe('withClickref', () => {
  it('property: replacing the clickref gives exactly the call built with that clickref', () => {
    const ref = fc.string({ unit: fc.constantFrom(...'AbC09_-'.split('')), minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(ref, ref, nasty, (a, b, meta) => {
        const call = { ...base, clickref: a, metadata: { note: meta }, items: [{ value: '1', quantity: 1, sku: 'clickref:x/y' }] };
        const url = buildConversionUrl('https://prf.hn', call);
        expect(withClickref({ method: 'GET', url }, b).url).toBe(buildConversionUrl('https://prf.hn', { ...call, clickref: b }));
      }),
    );
  });
});
