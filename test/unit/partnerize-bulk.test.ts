/**
 * The bulk update bodies against Partnerize's published schema (test/fixtures, validated with ajv
 * as the fake API does): every body the tracker can build is valid — whatever references, reasons,
 * values and SKUs the brand's data holds — and the readers of job tasks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bodyKeys,
  bulkBody,
  bulkEntries,
  bulkItemValue,
  bulkReason,
  failuresNamed,
  ITEM_VALUE_MAX,
  joinBody,
  REASON_MAX,
  REASON_PATTERN,
  type BulkStatus,
  type ConversionUpdate,
  type ItemUpdate,
} from '#lambdas/core/partnerize-bulk.js';
import { bulkValidator } from '../support/fake-partnerize-api.js';

const validate = bulkValidator();
const valid = (body: unknown) => {
  const ok = validate(body);
  return ok ? true : JSON.stringify(validate.errors);
};

const status = fc.constantFrom<BulkStatus>('approved', 'rejected', 'pending', 'fraudulent');
/** Any text a brand might send as a reason: accents, emoji, slashes, quotes, control characters, huge. */
const anyText = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.string({ unit: 'grapheme', maxLength: 300 }),
  fc.constant(''),
  fc.constant('   '),
);
const reference = fc.oneof(fc.string({ minLength: 1, maxLength: 240 }), fc.constantFrom('__proto__', 'constructor', 'ORD-1', 'a/b:c[d]'));
const itemId = fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `${a}l${b}`);

describe('bulk update bodies', () => {
  it('every body by reference validates against the published schema', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(reference, status, fc.option(anyText, { nil: undefined })), {
          minLength: 1,
          maxLength: 30,
          selector: (t) => t[0],
        }),
        (rows) => {
          const body = bulkBody(
            'conversion_references',
            rows.map(([ref, s, reason]) => [ref, { status: s, reason } satisfies ConversionUpdate] as const),
          );
          expect(valid(body)).toBe(true);
          // Object key order puts integer-like keys first: the set of ids is what counts.
          expect(new Set(bodyKeys(body))).toEqual(new Set(rows.map(([ref]) => ref)));
          expect(bodyKeys(body)).toHaveLength(rows.length);
        },
      ),
    );
  });

  it('every body by item validates: values of any size come inside the schema bounds', () => {
    const update = fc
      .record(
        {
          status: fc.option(status, { nil: undefined }),
          itemValue: fc.option(fc.oneof(fc.double({ noNaN: false }), fc.double({ min: 0, max: 1e9 })), { nil: undefined }),
          reason: fc.option(anyText, { nil: undefined }),
        },
        { requiredKeys: [] },
      )
      .filter((u) => u.status !== undefined || u.itemValue !== undefined);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(itemId, update), { minLength: 1, maxLength: 30, selector: (t) => t[0] }), (rows) => {
        const body = bulkBody(
          'conversion_items',
          rows.map(([id, u]) => [id, u as ItemUpdate] as const),
        );
        expect(valid(body)).toBe(true);
      }),
    );
  });

  it('bodies joined from several updates validate too, and keep every key', () => {
    fc.assert(
      fc.property(fc.uniqueArray(reference, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 5 }), (refs, parts) => {
        const chunks = Array.from({ length: parts }, (_, i) => refs.filter((_, j) => j % parts === i)).filter((c) => c.length > 0);
        const body = joinBody(
          'conversion_references',
          chunks.map((c) =>
            bulkEntries(
              'conversion_references',
              c.map((r) => [r, { status: 'rejected', reason: 'order cancelled' }] as const),
            ),
          ),
        );
        expect(valid(body)).toBe(true);
        expect(new Set(bodyKeys(body))).toEqual(new Set(refs));
      }),
    );
  });

  it('a reference named __proto__ is sent as a key, not lost to the prototype', () => {
    const body = bulkBody('conversion_references', [['__proto__', { status: 'rejected' }]]);
    expect(JSON.parse(JSON.stringify(body))).toEqual({ conversion_references: { ['__proto__']: { status: 'rejected' } } });
    expect(Object.keys((JSON.parse(JSON.stringify(body)) as { conversion_references: object }).conversion_references)).toEqual([
      '__proto__',
    ]);
  });

  it('the schema refuses what the tracker never sends (the fake is strict)', () => {
    expect(valid({ conversion_references: { A: { status: 'rejected', items: [] } } })).not.toBe(true);
    expect(valid({ conversion_references: { A: { status: 'cancelled' } } })).not.toBe(true);
    expect(valid({ conversion_references: { A: { reason: 'no/slash' } } })).not.toBe(true);
    expect(valid({ conversion_references: { A: {} }, conversions: { '1l1': {} } })).not.toBe(true);
    expect(valid({ conversion_items: { '1l1': { item_value: -1 } } })).not.toBe(true);
    expect(valid({ conversion_references: {} })).not.toBe(true);
    expect(valid({ conversion_references: { A: { status: 'rejected' } }, reference: 'x' })).not.toBe(true);
  });

  it('refuses an empty body, an item update with nothing to change, and more than 100,000 ids', () => {
    expect(() => bulkBody('conversion_references', [])).toThrow(/at least one/);
    expect(() => bulkBody('conversion_items', [['1l1', { reason: 'x' }]])).toThrow(/nothing to update/);
    const many = Array.from({ length: 100_001 }, (_, i) => [`R${i}`, { status: 'approved' as const }] as const);
    expect(() => bulkBody('conversion_references', many)).toThrow(/at most 100000/);
  });
});

describe('bulkReason', () => {
  it('keeps only the schema characters, at most 255 of them, never empty', () => {
    fc.assert(
      fc.property(anyText, (t) => {
        const r = bulkReason(t);
        if (r === undefined) return;
        expect(r).toMatch(REASON_PATTERN);
        expect(r.length).toBeLessThanOrEqual(REASON_MAX);
        expect(r).toBe(r.trim());
      }),
    );
  });

  it('keeps what it can read', () => {
    expect(bulkReason('Cancelled: customer changed mind (€20 refund) — café')).toBe('Cancelled: customer changed mind 20 refund cafe');
    expect(bulkReason('order #123; item 2/3')).toBe('order #123; item 2 3');
    expect(bulkReason('日本語')).toBeUndefined();
    expect(bulkReason(undefined)).toBeUndefined();
  });
});

describe('bulkItemValue', () => {
  it('is within 0..99999999.9999 with at most 4 decimals', () => {
    fc.assert(
      fc.property(fc.double(), (v) => {
        const x = bulkItemValue(v);
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(ITEM_VALUE_MAX);
        expect(Math.round(x * 10_000) / 10_000).toBe(x);
      }),
    );
    expect(bulkItemValue(12.345678)).toBe(12.3457);
  });
});

describe('failuresNamed (result_data is undocumented: read tolerantly)', () => {
  const failed = (resultData: string, status = 'complete', itemErrorCount = 1) => [{ id: 't1', status, itemErrorCount, resultData }];
  const keys = ['ORD-1', 'ORD-10', '1l2'];

  it('reads an errors list naming ids, with the messages', () => {
    const r = failuresNamed(failed(JSON.stringify({ errors: [{ id: 'ORD-1', message: 'Conversion not found' }] })), keys);
    expect([...r]).toEqual([['ORD-1', 'Conversion not found']]);
  });

  it('reads a map of id → error, and ignores the ids reported as successes', () => {
    const r = failuresNamed(
      failed(
        JSON.stringify({
          results: { 'ORD-1': { status: 'success' }, 'ORD-10': { error: 'Cannot update an approved item' }, '1l2': 'updated' },
        }),
      ),
      keys,
    );
    expect([...r]).toEqual([['ORD-10', 'Cannot update an approved item']]);
  });

  it('an id must match whole (ORD-1 is not ORD-10), and tasks without failures are not read', () => {
    expect([...failuresNamed(failed(JSON.stringify({ failed: ['ORD-10'] })), keys)]).toEqual([['ORD-10', 'failed']]);
    expect(
      failuresNamed([{ id: 't', status: 'complete', itemErrorCount: 0, resultData: JSON.stringify({ errors: ['ORD-1'] }) }], keys).size,
    ).toBe(0);
  });

  it('text that is not JSON names nothing', () => {
    expect(failuresNamed(failed('Processed with errors: ORD-1'), keys).size).toBe(0);
  });
});
