/**
 * The reconciliation's comparison (core/reconcile.ts; its money: reconcile-amounts.test.ts):
 * generated orders, a report that mirrors them the way Partnerize writes it (float values, one item
 * per line or per unit), differences of every class injected — exactly those are found, each in
 * its class, and nothing else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  ConversionRecord,
  ConversionStatus,
  DifferenceClass,
  OrderUpdatesRecord,
  PartnerizeItem,
  ReportConversion,
  UpdateKind,
} from '#lambdas/core/model.js';
import { buildConversionUrl, formatConversionTime } from '#lambdas/core/partnerize-url.js';
import { compare, DIFFERENCE_CLASSES, differs, type CompareInput } from '#lambdas/core/reconcile.js';
import { formatAmount } from '#lambdas/core/reconcile-amounts.js';
import { DAY_MS, HOUR_MS, iso } from '#lambdas/core/time.js';

const CAMPAIGN = '1011l270';
const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);
const WINDOW = { from: Date.UTC(2026, 10, 23), to: Date.UTC(2026, 10, 24) };
const GRACE = 6 * HOUR_MS;

interface Line {
  sku: string;
  /** Per-unit value in cents: the tracker sends it as a plain decimal. */
  cents: number;
  quantity: number;
}
interface Order {
  ref: string;
  orderTime: number;
  currency: string;
  lines: Line[];
}

const decimal = (cents: number) => String(cents / 100);

function record(o: Order, status: ConversionStatus = 'sent', deliveredAt = NOW - DAY_MS): ConversionRecord {
  const url = buildConversionUrl('https://prf.hn', {
    campaignId: CAMPAIGN,
    clickref: 'AbC123',
    conversionRef: o.ref,
    currency: o.currency,
    conversionTime: o.orderTime,
    items: o.lines.map((l) => ({ sku: l.sku, value: decimal(l.cents), quantity: l.quantity })),
  });
  const total = o.lines.reduce((n, l) => n + l.cents * l.quantity, 0);
  return {
    conversionRef: o.ref,
    writeId: 'w1',
    orderId: o.ref,
    campaignId: CAMPAIGN,
    campaign: 'default',
    status,
    createdAt: iso(deliveredAt),
    updatedAt: iso(deliveredAt),
    orderTime: o.orderTime,
    mode: 'live',
    source: 'native',
    clickref: 'AbC123',
    clickrefSource: 'postback',
    consent: status !== 'no_consent',
    consentPolicy: 'required',
    currency: o.currency,
    itemCount: o.lines.length,
    orderValue: formatAmount(BigInt(total) * 100n),
    request: status === 'no_consent' ? undefined : { method: 'GET', url },
    attempts:
      status === 'sent' ? [{ at: iso(deliveredAt), trigger: 'inline', result: 'sent', status: 200, body: 'OK', latencyMs: 12 }] : [],
    retries: 0,
    expiresAt: 0,
  };
}

let nextId = 1000;
/** Partnerize's conversion of an order, as its report gives it: values are JSON floats. */
function held(o: Order, perUnit: boolean, status = 'pending'): ReportConversion {
  const items: PartnerizeItem[] = o.lines.flatMap((l) =>
    perUnit
      ? Array.from({ length: l.quantity }, () => ({ id: `${nextId++}l1`, sku: l.sku, category: '', value: l.cents / 100, status }))
      : [{ id: `${nextId++}l1`, sku: l.sku, category: '', value: (l.cents / 100) * l.quantity, status }],
  );
  return {
    conversionId: `${nextId++}l9`,
    conversionReference: o.ref,
    status,
    conversionTime: formatConversionTime(o.orderTime),
    currency: o.currency,
    // Added as floats, the way a JSON producer would: 19.99 × 3 is 59.97000000000001.
    value: items.reduce((n, i) => n + (i.value ?? 0), 0),
    clickref: 'AbC123',
    items,
  };
}

function appliedUpdate(ref: string, kind: UpdateKind, effect: 'reject' | 'approve', appliedAt: number): OrderUpdatesRecord {
  return {
    conversionRef: `${ref}\u001fupdates`,
    recordType: 'order_updates',
    ref,
    orderId: ref,
    campaignId: CAMPAIGN,
    createdAt: iso(appliedAt),
    updatedAt: iso(appliedAt),
    version: 1,
    entries: {
      u1: {
        id: 'u1',
        seq: 1,
        kind,
        source: 'native',
        acceptedAt: iso(appliedAt),
        updatedAt: iso(appliedAt),
        state: 'applied',
        retries: 0,
        sent: {
          form: 'conversion_references',
          campaignId: CAMPAIGN,
          effect,
          updates: { [ref]: { status: effect === 'reject' ? 'rejected' : 'approved' } },
        },
      },
    },
    expiresAt: 0,
  };
}

const input = (over: Partial<CompareInput>): CompareInput => ({
  campaignId: CAMPAIGN,
  prefixes: [''],
  window: WINDOW,
  now: NOW,
  graceMs: GRACE,
  ours: [],
  others: new Map(),
  updates: new Map(),
  partnerize: [],
  ...over,
});

const found = (r: ReturnType<typeof compare>) => r.rows.map((d) => `${d.conversionRef}:${d.class}`).sort();

/* ---------- generators ---------- */

const line = fc.record({
  sku: fc.constantFrom('SKU-A', 'SKU-B', 'SKU-C', 'SKU-D', 'shoe/42', 'a:b'),
  // Up to 999.99 a unit, every cent value: the ones floats cannot hold exactly among them.
  cents: fc.integer({ min: 1, max: 99_999 }),
  quantity: fc.integer({ min: 1, max: 5 }),
});
const lines = fc.uniqueArray(line, { minLength: 1, maxLength: 4, selector: (l) => l.sku });

/** What is done to one order: nothing, or one difference of a class (or a case that is not one). */
const INJECTIONS = [
  'none',
  'missing',
  'recent_missing',
  'unexpected_no_record',
  'unexpected_never_sent',
  'unexpected_twice',
  'value_total',
  'value_line',
  'currency',
  'items_dropped',
  'items_extra',
  'items_renamed',
  'status',
  'status_recent',
  'cancel_applied',
] as const;
type Injection = (typeof INJECTIONS)[number];

/** The class each injection must be found as (undefined: nothing may be flagged). */
const EXPECTED: Record<Injection, DifferenceClass | undefined> = {
  none: undefined,
  missing: 'missing',
  recent_missing: undefined,
  unexpected_no_record: 'unexpected',
  unexpected_never_sent: 'unexpected',
  unexpected_twice: 'unexpected',
  value_total: 'value',
  value_line: 'value',
  currency: 'value',
  items_dropped: 'items',
  items_extra: 'items',
  items_renamed: 'items',
  status: 'status',
  status_recent: undefined,
  cancel_applied: undefined,
};

const scenario = fc.record({
  orders: fc.array(
    fc.record({
      lines,
      minute: fc.integer({ min: 0, max: 24 * 60 - 1 }),
      currency: fc.constantFrom('GBP', 'EUR', 'USD', 'JPY'),
      injection: fc.constantFrom(...INJECTIONS),
      delta: fc.integer({ min: 1, max: 5_000 }).chain((d) => fc.constantFrom(d, -d)),
    }),
    { minLength: 1, maxLength: 30 },
  ),
  perUnit: fc.boolean(),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function build(s: Scenario) {
  const ours: ConversionRecord[] = [];
  const partnerize: ReportConversion[] = [];
  const updates = new Map<string, OrderUpdatesRecord>();
  const expected: string[] = [];
  s.orders.forEach((generated, i) => {
    let g = generated;
    // Yen have no minor unit: their values are whole (a finer one may be rounded, see `tolerance`).
    const unit = g.currency === 'JPY' ? 100 : 1;
    const o: Order = {
      ref: `ORD-${i}`,
      orderTime: WINDOW.from + g.minute * 60_000,
      currency: g.currency,
      lines: g.lines.map((l) => ({ ...l, cents: l.cents * unit })),
    };
    g = { ...g, delta: g.delta * unit };
    const cls = EXPECTED[g.injection];
    if (cls) expected.push(`${o.ref}:${cls}`);
    const c = held(o, s.perUnit);
    switch (g.injection) {
      case 'none':
        ours.push(record(o));
        partnerize.push(c);
        break;
      case 'missing':
        ours.push(record(o));
        break;
      case 'recent_missing':
        ours.push(record(o, 'sent', NOW - GRACE / 2));
        break;
      case 'unexpected_no_record':
        partnerize.push(c);
        break;
      case 'unexpected_never_sent':
        ours.push(record(o, 'no_consent'));
        partnerize.push(c);
        break;
      case 'unexpected_twice':
        ours.push(record(o));
        partnerize.push(c, held(o, s.perUnit));
        break;
      case 'value_total': {
        ours.push(record(o));
        partnerize.push({ ...c, value: (c.value ?? 0) + g.delta / 100 });
        break;
      }
      case 'value_line': {
        // The same basket at another price: one line's value changed, and the total with it.
        ours.push(record(o));
        const first = c.items[0]!;
        // A price cannot go below a cent: a cut that would is made a rise (a clamp could leave it unchanged).
        const moved = (first.value ?? 0) + g.delta / 100;
        const changed = moved >= 0.01 ? moved : (first.value ?? 0) + Math.abs(g.delta) / 100;
        partnerize.push({
          ...c,
          value: (c.value ?? 0) - (first.value ?? 0) + changed,
          items: [{ ...first, value: changed }, ...c.items.slice(1)],
        });
        break;
      }
      case 'currency':
        ours.push(record(o));
        partnerize.push({ ...c, currency: o.currency === 'GBP' ? 'EUR' : 'GBP' });
        break;
      case 'items_dropped': {
        ours.push(record(o));
        // Partnerize's conversions always have an item: a one-line order gets another SKU instead.
        if (o.lines.length === 1) {
          partnerize.push({ ...c, items: c.items.map((it) => ({ ...it, sku: 'SKU-OTHER' })) });
          break;
        }
        const sku = c.items[0]!.sku;
        const kept = c.items.filter((it) => it.sku !== sku);
        partnerize.push({ ...c, items: kept, value: kept.reduce((n, it) => n + (it.value ?? 0), 0) });
        break;
      }
      case 'items_extra':
        ours.push(record(o));
        partnerize.push({
          ...c,
          items: [...c.items, { id: 'x1', sku: 'SKU-EXTRA', value: 5, status: 'pending' }],
          value: (c.value ?? 0) + 5,
        });
        break;
      case 'items_renamed':
        ours.push(record(o));
        partnerize.push({ ...c, items: c.items.map((it) => (it.sku === c.items[0]!.sku ? { ...it, sku: 'SKU-RENAMED' } : it)) });
        break;
      case 'status':
        ours.push(record(o));
        partnerize.push(c);
        updates.set(o.ref, appliedUpdate(o.ref, 'cancel', 'reject', NOW - DAY_MS / 2));
        break;
      case 'status_recent':
        ours.push(record(o));
        partnerize.push(c);
        updates.set(o.ref, appliedUpdate(o.ref, 'cancel', 'reject', NOW - GRACE / 2));
        break;
      case 'cancel_applied': {
        // Partnerize applied the cancellation: its items rejected, its value (of live items) 0.
        ours.push(record(o));
        const rejected = held(o, s.perUnit, 'rejected');
        partnerize.push({ ...rejected, value: 0 });
        updates.set(o.ref, appliedUpdate(o.ref, 'cancel', 'reject', NOW - DAY_MS / 2));
        break;
      }
    }
  });
  return { ours, partnerize, updates, expected: expected.sort() };
}

describe('compare', () => {
  it('finds exactly the injected differences, each in its class, and nothing else', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { ours, partnerize, updates, expected } = build(s);
        const r = compare(input({ ours, partnerize, updates }));
        expect(found(r)).toEqual(expected);
        for (const c of DIFFERENCE_CLASSES) expect(r.summary[c].count).toBe(expected.filter((e) => e.endsWith(`:${c}`)).length);
        expect(differs(r.summary)).toBe(expected.length > 0);
        // Every row names its order, and a missing one carries the exact call that was answered 2xx.
        for (const row of r.rows) {
          expect(row.conversionRef).toMatch(/^ORD-\d+$/);
          if (row.class === 'missing') expect(row.ours?.call?.url).toContain(`/conversionref:${row.conversionRef}/`);
          if (row.class === 'missing') expect(row.fix).toBe('replay');
          if (row.class === 'status') expect(row.fix).toBe('requeue_update');
        }
        const recent = s.orders.filter((o) => o.injection === 'recent_missing' || o.injection === 'status_recent').length;
        expect(r.summary.recent).toBe(recent);
      }),
      { numRuns: 300 },
    );
  });

  it('the same records and report give the same answer whatever their order (pages may come in any order)', () => {
    fc.assert(
      fc.property(scenario, fc.integer(), (s, seed) => {
        const { ours, partnerize, updates } = build(s);
        const shuffle = <T>(xs: T[]) =>
          fc.sample(fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }), { seed, numRuns: 1 })[0]!;
        const a = compare(input({ ours, partnerize, updates }));
        const b = compare(input({ ours: shuffle(ours), partnerize: shuffle([...partnerize, ...partnerize]), updates }));
        expect(b.rows).toEqual(a.rows);
        expect(b.summary).toEqual(a.summary);
      }),
      { numRuns: 100 },
    );
  });

  it('grace: a missing conversion is judged only once the grace period after its delivery is over', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 * DAY_MS }), fc.integer({ min: 0, max: 3 * DAY_MS }), (graceMs, age) => {
        const o: Order = {
          ref: 'ORD-1',
          orderTime: WINDOW.from + HOUR_MS,
          currency: 'GBP',
          lines: [{ sku: 'A', cents: 1999, quantity: 3 }],
        };
        const r = compare(input({ graceMs, ours: [record(o, 'sent', NOW - age)] }));
        expect(found(r)).toEqual(age >= graceMs ? ['ORD-1:missing'] : []);
        expect(r.summary.recent).toBe(age >= graceMs ? 0 : 1);
      }),
    );
  });

  it('--grace 0 judges a conversion delivered this very moment', () => {
    const o: Order = { ref: 'ORD-1', orderTime: WINDOW.from, currency: 'GBP', lines: [{ sku: 'A', cents: 100, quantity: 1 }] };
    expect(found(compare(input({ graceMs: 0, ours: [record(o, 'sent', NOW)] })))).toEqual(['ORD-1:missing']);
  });

  it('records outside the window and report rows of other windows are not compared', () => {
    const inside: Order = { ref: 'IN', orderTime: WINDOW.from, currency: 'GBP', lines: [{ sku: 'A', cents: 100, quantity: 1 }] };
    const before: Order = { ...inside, ref: 'BEFORE', orderTime: WINDOW.from - 1 };
    const after: Order = { ...inside, ref: 'AFTER', orderTime: WINDOW.to };
    const r = compare(
      input({ ours: [record(inside), record(before), record(after)], partnerize: [held(inside, false), held(after, false)] }),
    );
    expect(found(r)).toEqual([]);
    expect(r.summary.held).toBe(1);
  });

  it('a conversion of the window held under another conversion time is matched to its record, not called missing and unexpected', () => {
    const o: Order = { ref: 'ORD-1', orderTime: WINDOW.to - 1000, currency: 'GBP', lines: [{ sku: 'A', cents: 100, quantity: 1 }] };
    const c = { ...held(o, false), conversionTime: formatConversionTime(WINDOW.to + 30 * 60_000) };
    expect(found(compare(input({ ours: [record(o)], partnerize: [c] })))).toEqual([]);
  });

  it('never-sent records of the window are counted, not compared', () => {
    const o = (ref: string): Order => ({ ref, orderTime: WINDOW.from, currency: 'GBP', lines: [{ sku: 'A', cents: 100, quantity: 1 }] });
    const r = compare(input({ ours: [record(o('A'), 'no_consent'), record(o('B'), 'dry_run'), record(o('C'), 'unattributed')] }));
    expect(found(r)).toEqual([]);
    expect(r.summary.notSent).toEqual({ no_consent: 1, dry_run: 1, unattributed: 1 });
  });

  it('an unconfirmed conversion (its call cut) is settled by the report: held → unexpected, fix confirm; absent after the grace → missing, fix replay', () => {
    const o = (ref: string): Order => ({ ref, orderTime: WINDOW.from, currency: 'GBP', lines: [{ sku: 'A', cents: 100, quantity: 1 }] });
    const cut = (ref: string, at: number): ConversionRecord => ({
      ...record(o(ref), 'unconfirmed', at),
      attempts: [
        { at: iso(at), trigger: 'inline', result: 'retryable', error: 'connection', cause: 'reset', uncertain: true, latencyMs: 3 },
      ],
    });
    const r = compare(
      input({
        ours: [cut('LANDED', NOW - DAY_MS), cut('LOST', NOW - DAY_MS), cut('RECENT', NOW - HOUR_MS)],
        partnerize: [held(o('LANDED'), false)],
      }),
    );
    expect(r.rows.map((d) => [d.conversionRef, d.class, d.fix])).toEqual(
      expect.arrayContaining([
        ['LANDED', 'unexpected', 'confirm'],
        ['LOST', 'missing', 'replay'],
      ]),
    );
    expect(found(r)).toEqual(['LANDED:unexpected', 'LOST:missing']);
    expect(r.rows.find((d) => d.conversionRef === 'LOST')!.detail).toMatch(/^unconfirmed: the connection was cut/);
    expect(r.summary.recent).toBe(1);
  });
});

describe('prefixes', () => {
  const o = (ref: string): Order => ({
    ref,
    orderTime: WINDOW.from + HOUR_MS,
    currency: 'GBP',
    lines: [{ sku: 'A', cents: 2500, quantity: 2 }],
  });

  it('in a parallel run, the legacy pixel’s conversion of an order the tracker delivered with its prefix is a twin, not unexpected', () => {
    const r = compare(
      input({
        prefixes: ['TEST-'],
        ours: [record(o('TEST-ORD-1'))],
        partnerize: [held(o('TEST-ORD-1'), false), held(o('ORD-1'), false)],
      }),
    );
    expect(found(r)).toEqual([]);
    expect(r.summary.twins).toBe(1);
  });

  it('a conversion without the prefix and without a delivered twin is unexpected, named by its reference', () => {
    const r = compare(input({ prefixes: ['TEST-'], ours: [], partnerize: [held(o('ORD-9'), false)] }));
    expect(found(r)).toEqual(['ORD-9:unexpected']);
    expect(r.rows[0]!.detail).toMatch(/without the TEST- prefix/);
  });

  it('the prefixed record looked up by key (`others`) counts as the twin too', () => {
    const r = compare(
      input({
        prefixes: ['TEST-'],
        ours: [],
        others: new Map([['TEST-ORD-2', record({ ...o('TEST-ORD-2'), orderTime: WINDOW.from - DAY_MS })]]),
        partnerize: [held(o('ORD-2'), false)],
      }),
    );
    expect(found(r)).toEqual([]);
    expect(r.summary.twins).toBe(1);
  });
});

describe('items and values', () => {
  const order: Order = {
    ref: 'ORD-1',
    orderTime: WINDOW.from,
    currency: 'GBP',
    lines: [
      { sku: 'A', cents: 1999, quantity: 3 },
      { sku: 'B', cents: 10, quantity: 7 },
    ],
  };

  it('one item per line or one per unit both match the call', () => {
    for (const perUnit of [false, true])
      expect(found(compare(input({ ours: [record(order)], partnerize: [held(order, perUnit)] })))).toEqual([]);
  });

  it('a one-cent change is found', () => {
    const c = held(order, false);
    expect(found(compare(input({ ours: [record(order)], partnerize: [{ ...c, value: (c.value ?? 0) + 0.01 }] })))).toEqual(['ORD-1:value']);
  });

  it('a count that differs is an items difference even when the value agrees', () => {
    const c = held(order, true);
    const a = c.items.filter((i) => i.sku === 'A');
    const items = [...c.items.filter((i) => i.sku !== 'A'), { ...a[0]!, value: 59.97 }];
    expect(found(compare(input({ ours: [record(order)], partnerize: [{ ...c, items }] })))).toEqual([]);
    // 2 rows of A worth 59.97 together: neither one per line nor one per unit.
    const two = [...c.items.filter((i) => i.sku !== 'A'), { ...a[0]!, value: 29.985 }, { ...a[1]!, value: 29.985 }];
    const r = compare(input({ ours: [record(order)], partnerize: [{ ...c, items: two }] }));
    expect(found(r)).toEqual(['ORD-1:items']);
    expect(r.rows[0]!.detail).toMatch(/^A: sent quantity 3/);
  });
});
