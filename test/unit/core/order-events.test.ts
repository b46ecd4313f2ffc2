import { describe, expect, it } from 'vitest';
import { checkPurchase, normaliseEventName, orderItems, parseOrder, readOrderEvent } from '#lambdas/core/order-events.js';
import type { OrderEvent } from '#lambdas/core/order-source.js';
import { formatPath } from '#lambdas/core/schema.js';
import { tealiumPurchase } from '../../fixtures/tealium.js';
import { unitConfig } from '../../support/unit-deps.js';

const config = unitConfig();
const native = (body: Record<string, unknown>): OrderEvent => readOrderEvent(body, config);

describe('readOrderEvent', () => {
  it('a native body: its own event name, read at `event`', () => {
    const body = { event: 'purchase', orderId: 'A' };
    const e = native(body);
    expect(e).toMatchObject({ source: 'native', name: 'purchase', native: body, nameField: 'event' });
    expect(e.rename(['items', 1, 'quantity'])).toBe('items[1].quantity');
    expect(native({ orderId: 'A' }).name).toBeUndefined();
  });

  it('a Tealium event: mapped onto the native shape, its fields named as Tealium spells them', () => {
    const e = readOrderEvent(tealiumPurchase(), config);
    expect(e).toMatchObject({ source: 'tealium', name: 'purchase', nameField: 'data.udo.tealium_event' });
    expect(e.native).toMatchObject({ orderId: 'ORD-1001', currency: 'GBP', consent: true });
    expect(e.rename(['items', 1, 'quantity'])).toBe('data.udo.product_quantity[1]');
    expect(e.rename(['orderId'])).toBe('data.udo.order_id');
  });

  it('honours the configured mapping and consent categories', () => {
    const custom = unitConfig({ TEALIUM_MAPPING: JSON.stringify({ event: 'data.udo.event_name' }), CONSENT_CATEGORIES: 'marketing' });
    const e = readOrderEvent(tealiumPurchase({ udo: { event_name: 'order' } }), custom);
    expect(e).toMatchObject({ name: 'order', nameField: 'data.udo.event_name', native: { consent: false } });
  });
});

describe('normaliseEventName', () => {
  it('trims and lower-cases', () => {
    expect(normaliseEventName('  Purchase\t')).toBe('purchase');
    expect(normaliseEventName('ORDER_Completed')).toBe('order_completed');
  });
});

describe('checkPurchase', () => {
  const events = ['purchase', 'Order Completed'];
  it.each([
    ['purchase', true],
    [' PURCHASE ', true],
    ['order completed', true],
    ['purchase_started', false],
    ['', true],
    ['   ', true],
  ])('native event %j fires: %s', (name, fires) => {
    expect(checkPurchase(native({ event: name }), events).fires).toBe(fires);
  });

  it('a native body without an event is an order (a server that posts only orders need not name them)', () => {
    expect(checkPurchase(native({ orderId: 'A' }), events)).toEqual({ fires: true });
    expect(checkPurchase(native({ event: null }), events)).toEqual({ fires: true });
  });

  it('says why a postback does not fire, naming the field as sent and at most 64 characters of the name', () => {
    expect(checkPurchase(native({ event: 'page_view' }), events)).toEqual({
      fires: false,
      reason: "event 'page_view' is not a purchase event",
    });
    expect(checkPurchase(native({ event: { name: 'purchase' } }), events)).toEqual({ fires: false, reason: 'event is not a string' });
    const long = checkPurchase(native({ event: 'x'.repeat(500) }), events);
    expect(long).toEqual({ fires: false, reason: `event '${'x'.repeat(64)}' is not a purchase event` });
  });

  it('a tag manager’s event always needs a name', () => {
    const tealium = (udo: Record<string, unknown>) => readOrderEvent(tealiumPurchase({ udo }), config);
    expect(checkPurchase(tealium({ tealium_event: '' }), events)).toEqual({
      fires: false,
      reason: 'the event has no name at data.udo.tealium_event',
    });
    expect(checkPurchase(tealium({ tealium_event: 'cart_add' }), events)).toEqual({
      fires: false,
      reason: "data.udo.tealium_event 'cart_add' is not a purchase event",
    });
    expect(checkPurchase(tealium({ tealium_event: 'Purchase' }), events)).toEqual({ fires: true });
  });
});

describe('parseOrder', () => {
  it('validates the mapped order, numbers sent as strings included', () => {
    const o = parseOrder(readOrderEvent(tealiumPurchase(), config));
    expect(o).toMatchObject({
      orderId: 'ORD-1001',
      currency: 'GBP',
      country: 'GB',
      customerType: 'new',
      voucher: 'SUMMER10',
      consent: true,
    });
    expect(o.items).toEqual([
      { sku: 'SKU-1', category: 'shoes', value: '19.99', quantity: 2 },
      { sku: 'SKU-2', category: 'accessories', value: '24.99', quantity: 1 },
    ]);
  });

  it('a failure names the field in the sender’s vocabulary', () => {
    expect(() => parseOrder(native({ orderId: 'A', currency: 'GBP', items: [{ value: 1 }, { value: 2, quantity: 0 }] }))).toThrow(
      expect.objectContaining({ name: 'InputError', field: 'items[1].quantity' }),
    );
    const tealium = readOrderEvent(tealiumPurchase({ udo: { product_quantity: ['2', 'lots'] } }), config);
    expect(() => parseOrder(tealium)).toThrow(expect.objectContaining({ field: 'data.udo.product_quantity[1]' }));
    expect(() => parseOrder(native({ currency: 'GBP', items: [] }))).toThrow(
      expect.objectContaining({ code: 'missing_field', field: 'orderId' }),
    );
  });
});

describe('orderItems', () => {
  const order = (o: Record<string, unknown>) => parseOrder(native({ orderId: 'A', currency: 'GBP', ...o }));

  it("the order's own items, as they are", () => {
    const o = order({ items: [{ sku: 'S', value: '5.00', quantity: 3 }], value: 99 });
    expect(orderItems(o, 'totals', formatPath)).toEqual([{ sku: 'S', value: '5.00', quantity: 3 }]);
  });

  it('only a total: one item of quantity 1 worth it, in the configured category when there is one', () => {
    expect(orderItems(order({ value: '49.90' }), 'subscriptions', formatPath)).toEqual([
      { value: '49.90', quantity: 1, category: 'subscriptions' },
    ]);
    expect(orderItems(order({ value: 12, items: [] }), '', formatPath)).toEqual([{ value: '12', quantity: 1 }]);
  });

  it('neither: a 400 naming the items field and the total field as the sender spells them', () => {
    expect(() => orderItems(order({}), '', formatPath)).toThrow(
      expect.objectContaining({
        code: 'missing_field',
        field: 'items',
        message: "items is required: send the order's items, or only its total as value",
      }),
    );
    const noRows = readOrderEvent(
      tealiumPurchase({
        udo: {
          product_id: undefined,
          product_sku: undefined,
          product_category: undefined,
          product_price: undefined,
          product_quantity: undefined,
          product_name: undefined,
          order_subtotal: '',
          order_total: '',
        },
      }),
      config,
    );
    expect(() => orderItems(parseOrder(noRows), '', noRows.rename)).toThrow(
      expect.objectContaining({
        field: 'data.udo.product_price',
        message: expect.stringContaining('only its total as data.udo.order_subtotal'),
      }),
    );
  });

  it('a Tealium order without product rows is read by its subtotal', () => {
    const e = readOrderEvent(
      tealiumPurchase({
        udo: {
          product_id: undefined,
          product_sku: undefined,
          product_category: undefined,
          product_price: undefined,
          product_quantity: undefined,
          product_name: undefined,
        },
      }),
      config,
    );
    expect(orderItems(parseOrder(e), 'orders', e.rename)).toEqual([{ value: '64.97', quantity: 1, category: 'orders' }]);
  });
});
