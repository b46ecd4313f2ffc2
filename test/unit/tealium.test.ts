import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import { OrderSchema, ClickSchema, parseWith } from '#lambdas/core/schema.js';
import {
  clickrefFromPageUrl,
  consentFromCategories,
  isTealiumEvent,
  mapTealiumClick,
  mapTealiumOrder,
  resolveMapping,
  tealiumEventName,
} from '#lambdas/core/tealium.js';
import { IPHONE_UA, tealiumPageView, tealiumPurchase, VISITOR_ID } from '../fixtures/tealium.js';

const mapping = resolveMapping();
const order = (event: unknown, m = mapping) => {
  const { native, rename } = mapTealiumOrder(event, m, ['affiliates']);
  return parseWith(OrderSchema, native, rename);
};
const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err.field;
    throw err;
  }
  return 'no error';
};

describe('Tealium purchase events', () => {
  it('maps the retail data layer, parallel product arrays and numbers sent as strings', () => {
    expect(order(tealiumPurchase())).toEqual({
      event: 'purchase',
      orderId: 'ORD-1001',
      site: 'www.acme.example',
      sessionId: VISITOR_ID,
      currency: 'GBP',
      country: 'GB',
      customerType: 'new',
      voucher: 'SUMMER10',
      orderTime: 1795515300000,
      consent: true,
      userAgent: IPHONE_UA,
      items: [
        { sku: 'SKU-1', category: 'shoes', value: '19.99', quantity: 2 },
        { sku: 'SKU-2', category: 'accessories', value: '24.99', quantity: 1 },
      ],
    });
  });

  it('is recognised by data.udo and named by tealium_event', () => {
    expect(isTealiumEvent(tealiumPurchase())).toBe(true);
    expect(isTealiumEvent({ orderId: 'x', data: 'y' })).toBe(false);
    expect(isTealiumEvent({ data: { udo: [] } })).toBe(false);
    expect(tealiumEventName(tealiumPurchase(), mapping)).toBe('purchase');
  });

  it('falls back: product_id for sku, visitor_id for the session, order_currency_code, order_promo_code', () => {
    const e = tealiumPurchase({
      udo: {
        product_sku: undefined,
        tealium_visitor_id: '',
        order_currency: undefined,
        order_currency_code: 'eur',
        order_coupon_code: '',
        order_promo_code: 'A,B',
      },
    });
    const o = order(e);
    expect(o.items!.map((i) => i.sku)).toEqual(['P-1', 'P-2']);
    expect(o.sessionId).toBe(VISITOR_ID);
    expect(o.currency).toBe('EUR');
    expect(o.voucher).toBe('A,B');
  });

  it('takes a single product given as scalars, and defaults a missing quantity to 1', () => {
    const o = order(
      tealiumPurchase({
        udo: { product_sku: 'ONE', product_id: undefined, product_category: 'hats', product_price: 12, product_quantity: undefined },
      }),
    );
    expect(o.items).toEqual([{ sku: 'ONE', category: 'hats', value: '12', quantity: 1 }]);
  });

  it('tolerates missing optional fields', () => {
    const o = order(
      tealiumPurchase({
        udo: {
          customer_type: undefined,
          country_code: undefined,
          order_coupon_code: undefined,
          consent_categories: undefined,
          product_category: undefined,
        },
      }),
    );
    expect(o.customerType).toBeUndefined();
    expect(o.country).toBeUndefined();
    expect(o.voucher).toBeUndefined();
    expect(o.consent).toBeUndefined();
    expect(o.items![0]).toEqual({ sku: 'SKU-1', value: '19.99', quantity: 2 });
  });

  it('names the Tealium field at fault', () => {
    expect(fieldOf(() => order(tealiumPurchase({ udo: { product_quantity: ['2', 'x'] } })))).toBe('data.udo.product_quantity[1]');
    expect(fieldOf(() => order(tealiumPurchase({ udo: { product_price: ['19.99', '1,00'] } })))).toBe('data.udo.product_price[1]');
    expect(fieldOf(() => order(tealiumPurchase({ udo: { order_id: '' } })))).toBe('data.udo.order_id');
    expect(fieldOf(() => order(tealiumPurchase({ udo: { order_currency: 'pounds' } })))).toBe('data.udo.order_currency');
    expect(
      fieldOf(() => order(tealiumPurchase({ udo: { product_price: undefined, product_sku: undefined, product_id: undefined } }))),
    ).toBe('data.udo.product_price');
    expect(fieldOf(() => order(tealiumPurchase({ udo: { product_quantity: ['1'] } })))).toBe('data.udo.product_quantity');
    expect(fieldOf(() => order(tealiumPurchase({ top: { post_time: 'soon' } })))).toBe('post_time');
  });

  it('reads consent from consent_categories as an array or a comma-separated string', () => {
    expect(order(tealiumPurchase({ udo: { consent_categories: 'analytics, affiliates' } })).consent).toBe(true);
    expect(order(tealiumPurchase({ udo: { consent_categories: ['analytics'] } })).consent).toBe(false);
    expect(order(tealiumPurchase({ udo: { consent_categories: [] } })).consent).toBe(false);
    expect(consentFromCategories(undefined, ['affiliates'])).toBeUndefined();
    expect(consentFromCategories('AFFILIATES', ['affiliates'])).toBe(true);
  });

  it('honours a mapping override (e.g. product_unit_price, a brand clickref variable)', () => {
    const m = resolveMapping({ price: 'data.udo.product_unit_price', orderClickref: ['data.udo["cp.pz_clickref"]'] });
    const o = order(
      tealiumPurchase({ udo: { product_price: ['1', '1'], product_unit_price: ['5.00', '6.00'], 'cp.pz_clickref': 'Own_Ref-1' } }),
      m,
    );
    expect(o.items!.map((i) => i.value)).toEqual(['5.00', '6.00']);
    expect(o.clickref).toBe('Own_Ref-1');
  });

  it('rejects unknown mapping fields and bad paths', () => {
    expect(() => resolveMapping({ nope: 'a' } as never)).toThrow(/not a mapping field/);
    expect(() => resolveMapping({ orderId: 'a..b' })).toThrow(/tealiumMapping.orderId\[0\]/);
  });
});

describe('Tealium click events', () => {
  const click = (event: unknown) => {
    const { native, rename } = mapTealiumClick(event, mapping, ['affiliates']);
    return parseWith(ClickSchema, native, rename);
  };

  it('reads the clickref from udo.clickref, then qp.clickref, then the page URL', () => {
    expect(click(tealiumPageView({ clickref: 'FromUdo' })).clickref).toBe('FromUdo');
    expect(click(tealiumPageView({ 'qp.clickref': 'FromQp' })).clickref).toBe('FromQp');
    expect(click(tealiumPageView()).clickref).toBe('AbC123xYz');
    expect(click(tealiumPageView({}, { page_url: 'https://x.example/?a=1&clickref=Str1ng#top' })).clickref).toBe('Str1ng');
    expect(click(tealiumPageView({}, { page_url: undefined })).clickref).toBe('AbC123xYz'); // data.dom.url
    expect(click(tealiumPageView()).sessionId).toBe(VISITOR_ID);
  });

  it('names the missing clickref by its first source', () => {
    const e = tealiumPageView({}, { page_url: undefined, data: { udo: { tealium_event: 'page_view', tealium_visitor_id: VISITOR_ID } } });
    expect(fieldOf(() => click(e))).toBe('data.udo.clickref');
  });

  it('reads clickref query parameters exactly, decoded once', () => {
    expect(clickrefFromPageUrl('https://x/?clickref=a%2Db')).toBe('a-b');
    expect(clickrefFromPageUrl('https://x/?CLICKREF=a')).toBeUndefined();
    expect(clickrefFromPageUrl('https://x/')).toBeUndefined();
    expect(clickrefFromPageUrl({ full_url: 'https://x/?clickref=Q' })).toBe('Q');
  });
});
