import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import { checkPurchase, orderItems, parseOrder, readClick, readOrderEvent, singleEvent } from '#lambdas/core/order-events.js';
import { updateKindOf } from '#lambdas/core/order-updates.js';
import { ClickSchema, parseWith } from '#lambdas/core/schema.js';
import { isRudderStackCall, isSegmentCall, resolveSegmentMapping } from '#lambdas/core/segment.js';
import { isTealiumEvent } from '#lambdas/core/tealium.js';
import { RUDDER_ANONYMOUS_ID, RUDDER_UA, rudderLandingPage, rudderOrderCompleted, rudderOrderRefunded } from '../fixtures/rudderstack.js';
import {
  SEGMENT_ANONYMOUS_ID,
  SEGMENT_UA,
  segmentClassicOrder,
  segmentLandingPage,
  segmentOrderCancelled,
  segmentOrderCompleted,
  segmentOrderRefunded,
} from '../fixtures/segment.js';
import { unitConfig } from '../support/unit-deps.js';

const config = unitConfig();
const read = (body: Record<string, unknown>, c = config) => readOrderEvent(body, c);
const order = (body: Record<string, unknown>, c = config) => parseOrder(read(body, c));
const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err.field;
    throw err;
  }
  return 'no error';
};
const products = (list: unknown[], extra: Record<string, unknown> = {}) => segmentOrderCompleted({ products: list, ...extra });

describe('Segment Order Completed', () => {
  it('maps the spec’s fields; the order discount is spread over the units; sku before product_id', () => {
    const e = read(segmentOrderCompleted());
    expect(e).toMatchObject({ source: 'segment', name: 'Order Completed', nameField: 'event', intent: 'purchase' });
    expect(checkPurchase(e, ['purchase'])).toEqual({ fires: true });
    expect(parseOrder(e)).toEqual({
      orderId: '100234',
      site: 'shop.example.com',
      sessionId: SEGMENT_ANONYMOUS_ID,
      currency: 'GBP',
      voucher: 'SPRING10',
      orderTime: Date.parse('2025-05-16T19:10:01.375Z'),
      consent: true,
      userAgent: SEGMENT_UA,
      // 30 × 2 + 15 = 75, discount 7.50: every unit at 90 %, 27 × 2 + 13.50 = 67.50, the subtotal.
      items: [
        { sku: 'SKU-123', category: 'Apparel', value: '27', quantity: 2 },
        { sku: '9714107480', value: '13.5', quantity: 1 },
      ],
    });
    expect((e.native as Record<string, unknown>)['site']).toBe('shop.example.com');
  });

  it('the classic webhook’s minimal server-side call: no context, no products, the revenue as a string', () => {
    const e = read(segmentClassicOrder());
    expect(parseOrder(e)).toEqual({
      orderId: 'ORD-7781',
      sessionId: 'b1c9c8d2-3f2e-4e0a-9d1c-7a6f0c2e5b11',
      currency: 'USD',
      orderTime: Date.parse('2026-11-24T09:15:00Z'),
      value: '39.95',
    });
    expect(orderItems(parseOrder(e), '', e.rename)).toEqual([{ value: '39.95', quantity: 1 }]);
    expect(fieldOf(() => orderItems(order(segmentClassicOrder({ properties: { order_id: 'A', currency: 'USD' } })), '', e.rename))).toBe(
      'properties.products',
    );
  });

  it('reads the clickref of the page URL when the order carries one; properties.clickref wins', () => {
    const withPage = segmentOrderCompleted({}, { context: { page: { url: 'https://shop.example.com/thanks?clickref=Seg_1' } } });
    expect(order(withPage).clickref).toBe('Seg_1');
    expect(
      order(segmentOrderCompleted({ clickref: 'Own-2' }, { context: { page: { url: 'https://s.example/?clickref=X' } } })).clickref,
    ).toBe('Own-2');
  });

  it('consent from context.consent.categoryPreferences: a configured category granted, else refused, else unknown', () => {
    const prefs = (p: unknown) => segmentOrderCompleted({}, { context: { consent: { categoryPreferences: p } } });
    expect(order(prefs({ Advertising: false, Analytics: true })).consent).toBe(false);
    expect(order(prefs({})).consent).toBe(false);
    expect(order(prefs({ c0004: true })).consent).toBe(true);
    expect(order(segmentOrderCompleted({}, { context: {} })).consent).toBeUndefined();
    const marketing = unitConfig({ SEGMENT_CONSENT_CATEGORIES: 'Marketing' });
    expect(order(prefs({ Advertising: true, Marketing: false }), marketing).consent).toBe(false);
    expect(order(prefs({ marketing: true }), marketing).consent).toBe(true);
    expect(read(prefs({})).rename(['consent'])).toBe('context.consent.categoryPreferences');
  });
});

describe('the order discount', () => {
  const values = (body: Record<string, unknown>, c = config) => order(body, c).items!.map((i) => i.value);

  it('follows the spec’s own example: 19 + 3 × 2 = 25, discount 2.50, subtotal 22.50', () => {
    const body = products(
      [
        { product_id: 'A', price: 19, quantity: 1 },
        { product_id: 'B', price: 3, quantity: 2 },
      ],
      { discount: 2.5 },
    );
    expect(values(body)).toEqual(['17.1', '2.7']);
  });

  it('rounds each unit half up to the finest precision given (at least cents)', () => {
    const three = [1, 2, 3].map((n) => ({ product_id: `P${n}`, price: 10 }));
    expect(values(products(three, { discount: 10 }))).toEqual(['6.67', '6.67', '6.67']);
    expect(values(products([{ product_id: 'A', price: '9.999' }], { discount: '0.001' }))).toEqual(['9.998']);
    expect(values(products([{ product_id: 'A', price: '10', quantity: 3 }], { discount: '10' }))).toEqual(['6.67']);
  });

  it('no discount (absent, zero): the prices as sent; a discount of the whole order: zero', () => {
    expect(values(products([{ product_id: 'A', price: '15.00' }], { discount: undefined }))).toEqual(['15.00']);
    expect(values(products([{ product_id: 'A', price: '15.00' }], { discount: '0' }))).toEqual(['15.00']);
    expect(values(products([{ product_id: 'A', price: 15, quantity: 2 }], { discount: 30 }))).toEqual(['0']);
  });

  it('a discount above the products’ total, or not a number, is a 400 naming properties.discount', () => {
    expect(fieldOf(() => read(products([{ product_id: 'A', price: 15 }], { discount: 16 })))).toBe('properties.discount');
    expect(fieldOf(() => read(products([{ product_id: 'A', price: 15 }], { discount: '10%' })))).toBe('properties.discount');
  });

  it('prices that are already net: map the discount to nothing', () => {
    const net = unitConfig({ SEGMENT_MAPPING: JSON.stringify({ discount: [] }) });
    expect(values(segmentOrderCompleted(), net)).toEqual(['30', '15.00']);
  });

  it('property: the units add up to the discounted total, within half a cent each, never above their price', () => {
    const row = fc.record({ cents: fc.integer({ min: 0, max: 100_000 }), quantity: fc.integer({ min: 1, max: 9 }) });
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 20 }), fc.double({ min: 0, max: 1, noNaN: true }), (rows, share) => {
        const totalCents = rows.reduce((s, r) => s + r.cents * r.quantity, 0);
        const discountCents = Math.floor(totalCents * share);
        const body = products(
          rows.map((r, i) => ({ product_id: `P${i}`, price: (r.cents / 100).toFixed(2), quantity: r.quantity })),
          { discount: (discountCents / 100).toFixed(2) },
        );
        const items = order(body).items!;
        const units = rows.reduce((s, r) => s + r.quantity, 0);
        const sumCents = items.reduce((s, it) => s + Math.round(Number(it.value) * 100) * it.quantity, 0);
        expect(Math.abs(sumCents - (totalCents - discountCents))).toBeLessThanOrEqual(units * 0.5 + 1e-9);
        items.forEach((it, i) => {
          expect(Number(it.value)).toBeLessThanOrEqual(rows[i]!.cents / 100);
          expect(it.value).toMatch(/^\d+(\.\d{1,2})?$/);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('Segment errors name the Segment field', () => {
  it.each([
    [
      'a bad quantity',
      {
        products: [
          { sku: 'A', price: 1 },
          { sku: 'B', price: 1, quantity: 'two' },
        ],
      },
      'properties.products[1].quantity',
    ],
    [
      'a bad quantity, no discount',
      { discount: undefined, products: [{ sku: 'A', price: 1, quantity: 0 }] },
      'properties.products[0].quantity',
    ],
    ['a bad price', { products: [{ sku: 'A', price: '£5' }] }, 'properties.products[0].price'],
    ['a missing price', { discount: undefined, products: [{ sku: 'A' }] }, 'properties.products[0].price'],
    ['no order id', { order_id: undefined }, 'properties.order_id'],
    ['a bad currency', { currency: 'pounds' }, 'properties.currency'],
    ['products that are not a list', { products: { sku: 'A' } }, 'properties.products'],
  ])('%s', (_what, properties, field) => {
    expect(fieldOf(() => order(segmentOrderCompleted(properties)))).toBe(field);
  });

  it('a bad timestamp names timestamp', () => {
    expect(fieldOf(() => order(segmentOrderCompleted({}, { timestamp: 'yesterday' })))).toBe('timestamp');
  });
});

describe('Segment call types and event names fix the intent', () => {
  it('Order Refunded is an order update with the refunded products; Order Cancelled cancels the whole order', () => {
    const refund = read(segmentOrderRefunded());
    expect(refund).toMatchObject({ intent: 'refund', name: 'Order Refunded' });
    expect(refund.native).toEqual({ event: 'refund', orderId: '100234', items: [{ sku: 'SKU-123', value: 30, quantity: 1 }] });
    expect(refund.rename(['items', 0, 'quantity'])).toBe('properties.products[0].quantity');
    const cancel = read(segmentOrderCancelled());
    expect(cancel).toMatchObject({ intent: 'cancel', native: { event: 'cancel', orderId: '100234' } });
    expect(cancel.native).not.toHaveProperty('items');
    // Updates by the source's own meaning, whatever the configured lists say; never purchases.
    const lists = { ...unitConfig(), refundEvents: [], cancelEvents: [] };
    expect([updateKindOf(refund, lists), updateKindOf(cancel, lists)]).toEqual(['refund', 'cancel']);
    for (const e of [refund, cancel]) expect(checkPurchase(e, ['Order Refunded', 'Order Cancelled']).fires).toBe(false);
  });

  it('other track events and other call types are ignored, naming the field that says so', () => {
    expect(checkPurchase(read(segmentOrderCompleted({}, { event: 'Product Viewed' })), ['Product Viewed'])).toEqual({
      fires: false,
      reason: "event 'Product Viewed' is not an order event of this source",
    });
    expect(checkPurchase(read(segmentLandingPage()), [])).toEqual({
      fires: false,
      reason: "type 'page' is not an order event of this source",
    });
    expect(checkPurchase(read(segmentOrderCompleted({}, { event: 'order completed ' })), []).fires).toBe(true);
  });

  it('a batch of one is its event; a longer batch is refused', () => {
    expect(read(singleEvent([segmentOrderCompleted()]) as Record<string, unknown>).source).toBe('segment');
    expect(() => singleEvent([segmentOrderCompleted(), segmentOrderCompleted()])).toThrow(/list of 2 events: send one per request/);
  });
});

describe('RudderStack', () => {
  it('is told from Segment by rudderId / request_ip; consent from consentManagement; the same spec otherwise', () => {
    const e = read(rudderOrderCompleted());
    expect(e.source).toBe('rudderstack');
    expect(parseOrder(e)).toEqual({
      orderId: '100234',
      site: 'shop.example.com',
      sessionId: RUDDER_ANONYMOUS_ID,
      currency: 'GBP',
      voucher: 'SPRING10',
      orderTime: Date.parse('2025-05-16T19:10:01.375Z'),
      consent: true,
      userAgent: RUDDER_UA,
      items: [
        { sku: 'SKU-123', category: 'Apparel', value: '27', quantity: 2 },
        { sku: 'SKU-456', category: 'Apparel', value: '13.5', quantity: 1 },
      ],
    });
    expect(e.rename(['consent'])).toBe('context.consentManagement');
  });

  it('consent ids: allowed → true; denied, or an allowed list without it → false; neither list → unknown', () => {
    const cm = (consentManagement: unknown) => order(rudderOrderCompleted({}, { context: { consentManagement } })).consent;
    expect(cm({ allowedConsentIds: ['C0001'], deniedConsentIds: ['C0004'] })).toBe(false);
    expect(cm({ allowedConsentIds: ['C0001'] })).toBe(false);
    expect(cm({ deniedConsentIds: ['C0004'] })).toBe(false);
    expect(cm({ deniedConsentIds: ['C0002'] })).toBeUndefined();
    expect(cm({ allowedConsentIds: 'C0001,C0004' })).toBe(true);
  });

  it('Order Refunded without products refunds the whole order', () => {
    expect(read(rudderOrderRefunded()).native).toEqual({ event: 'refund', orderId: '100234' });
  });
});

describe('recognition', () => {
  it('Segment and RudderStack bodies are not Tealium events, and native bodies are neither', () => {
    for (const body of [segmentOrderCompleted(), rudderOrderCompleted(), segmentLandingPage()]) expect(isTealiumEvent(body)).toBe(false);
    expect(isSegmentCall({ event: 'Order Completed', orderId: 'A' })).toBe(false);
    expect(isRudderStackCall(segmentOrderCompleted())).toBe(false);
    expect(read({ orderId: 'A', currency: 'GBP', value: 1 }).source).toBe('native');
  });

  it('property: a body whose type is not a Segment call type is never Segment', () => {
    const types = ['track', 'page', 'screen', 'identify', 'group', 'alias'];
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (body) => {
        fc.pre(!types.includes(body['type'] as string));
        expect(isSegmentCall(body)).toBe(false);
        expect(isRudderStackCall(body)).toBe(false);
      }),
    );
  });
});

describe('page calls as clicks', () => {
  const click = (body: Record<string, unknown>) => {
    const { native, rename } = readClick(body, config);
    return parseWith(ClickSchema, native, rename);
  };

  it('anonymousId is the session; the clickref comes from context.page.url', () => {
    expect(click(segmentLandingPage())).toEqual({
      sessionId: SEGMENT_ANONYMOUS_ID,
      clickref: 'AbC123xYz',
      userAgent: SEGMENT_UA,
      consent: true,
    });
    expect(click(rudderLandingPage())).toMatchObject({ sessionId: RUDDER_ANONYMOUS_ID, clickref: 'RuDdEr-42', consent: true });
    const refused = segmentLandingPage({
      context: { page: segmentLandingPage().properties, consent: { categoryPreferences: { Advertising: false } } },
    });
    expect(click(refused).consent).toBe(false);
    expect(fieldOf(() => click(segmentLandingPage({ anonymousId: 'short' })))).toBe('no error');
    expect(fieldOf(() => click(segmentLandingPage({ anonymousId: undefined })))).toBe('anonymousId');
  });
});

describe('segmentMapping overrides', () => {
  it('an unknown field is refused naming the key', () => {
    expect(() => resolveSegmentMapping({ order: 'x' } as never)).toThrow(/segmentMapping\.order is not a mapping field/);
  });

  it('a brand’s own fields: country and customer type from properties', () => {
    const c = unitConfig({ SEGMENT_MAPPING: JSON.stringify({ country: 'properties.country', customerType: 'properties.customer_type' }) });
    expect(order(segmentOrderCompleted({ country: 'de', customer_type: 'returning' }), c)).toMatchObject({
      country: 'DE',
      customerType: 'existing',
    });
    expect(fieldOf(() => order(segmentOrderCompleted({ country: 'Germany' }), c))).toBe('properties.country');
  });
});

describe('properties', () => {
  const price = fc.oneof(
    fc.integer({ min: 0, max: 1_000_000 }).map((cents) => cents / 100),
    fc.integer({ min: 0, max: 1_000_000 }).map((cents) => (cents / 100).toFixed(2)),
  );
  const qty = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }).map(String));
  const product = fc.record(
    { sku: fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/), product_id: fc.stringMatching(/^\d{1,10}$/), price, quantity: qty },
    { requiredKeys: ['product_id', 'price'] },
  );

  it('without a discount, any products (numbers or strings) map to a valid order with the same values', () => {
    fc.assert(
      fc.property(fc.array(product, { minLength: 1, maxLength: 30 }), (list) => {
        const o = order(products(list, { discount: undefined }));
        o.items!.forEach((it, i) => {
          const p = list[i]!;
          expect(Number(it.value)).toBe(Number(p.price));
          expect(it.quantity).toBe(Number(p.quantity ?? 1));
          expect(it.sku).toBe(p.sku ?? p.product_id);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('a bad price or quantity anywhere is named properties.products[i].field, with or without a discount', () => {
    const bad = fc.constantFrom<[string, unknown]>(
      ['price', '-1'],
      ['price', 'free'],
      ['quantity', 0],
      ['quantity', '1.5'],
      ['quantity', -2],
    );
    fc.assert(
      fc.property(fc.array(product, { minLength: 1, maxLength: 20 }), fc.nat(), bad, fc.boolean(), (list, at, [key, value], discounted) => {
        const i = at % list.length;
        const broken = list.map((p, j) => (j === i ? { ...p, [key]: value } : p));
        const body = products(broken, { discount: discounted ? '0.01' : undefined });
        expect(fieldOf(() => order(body))).toBe(`properties.products[${i}].${key}`);
      }),
      { numRuns: 200 },
    );
  });
});
