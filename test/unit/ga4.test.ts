import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import { ga4Consent, isGa4Event, resolveGa4Mapping } from '#lambdas/core/ga4.js';
import { checkPurchase, orderItems, parseOrder, readClick, readOrderEvent, singleEvent } from '#lambdas/core/order-events.js';
import { updateKindOf } from '#lambdas/core/order-updates.js';
import { ClickSchema, parseWith } from '#lambdas/core/schema.js';
import { GA4_CLIENT_ID, GA4_UA, ga4LandingPageView, ga4Purchase, ga4PurchaseFlattened, ga4Refund } from '../fixtures/ga4.js';
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

describe('GA4 purchase events (server-side GTM event data)', () => {
  it('maps Google’s fields; price is the unit value after the item discount; numbers as strings', () => {
    const e = read(ga4Purchase());
    expect(e).toMatchObject({ source: 'ga4', name: 'purchase', nameField: 'event_name', intent: 'purchase' });
    expect(checkPurchase(e, ['something else'])).toEqual({ fires: true });
    expect(parseOrder(e)).toEqual({
      orderId: '100234',
      site: 'shop.example.com',
      sessionId: GA4_CLIENT_ID,
      currency: 'GBP',
      country: 'GB',
      voucher: 'SPRING10',
      consent: true,
      userAgent: GA4_UA,
      items: [
        { sku: 'SKU-123', category: 'Apparel', value: '27', quantity: 2 },
        { sku: 'SKU-456', value: '18.00', quantity: 1 },
      ],
    });
  });

  it('keeps the shop’s host name as the native `site` (page_hostname, else page_location’s host) for campaign routing', () => {
    expect((read(ga4Purchase()).native as Record<string, unknown>)['site']).toBe('shop.example.com');
    const noHostname = ga4Purchase({ page_hostname: undefined, page_location: 'https://WWW.Shop.example.de/danke' });
    expect((read(noHostname).native as Record<string, unknown>)['site']).toBe('www.shop.example.de');
  });

  it('tolerates missing optional fields: no coupon, location, user agent, consent or category', () => {
    const o = order(
      ga4Purchase({
        coupon: undefined,
        event_location: undefined,
        user_agent: undefined,
        'x-ga-gcs': undefined,
        'x-ga-gcd': undefined,
        items: [{ item_id: 'SKU-1', price: '5' }],
      }),
    );
    expect(o).toEqual({
      orderId: '100234',
      site: 'shop.example.com',
      sessionId: GA4_CLIENT_ID,
      currency: 'GBP',
      items: [{ sku: 'SKU-1', value: '5', quantity: 1 }],
    });
  });

  it('reads the clickref from page_location when the order carries one; an explicit clickref parameter wins', () => {
    const onPage = read(ga4Purchase({ page_location: 'https://shop.example.com/thanks?clickref=AbC_9&x=1' }));
    expect(parseOrder(onPage).clickref).toBe('AbC_9');
    expect(onPage.rename(['clickref'])).toBe('page_location (clickref parameter)');
    expect(order(ga4Purchase({ clickref: 'Own-1', page_location: 'https://s.example/?clickref=AbC_9' })).clickref).toBe('Own-1');
    expect(order(ga4Purchase()).clickref).toBeUndefined();
  });

  it('an order without items is read by its value (Σ price × quantity, no shipping or tax)', () => {
    expect(order(ga4Purchase({ items: undefined, value: '49.90' }))).toMatchObject({ value: '49.90' });
    expect(read(ga4Purchase({ items: [] })).rename(['value'])).toBe('value');
  });

  it('takes items sent as JSON text (some sGTM tags stringify them)', () => {
    const o = order(ga4Purchase({ items: JSON.stringify([{ item_id: 'S', price: 2, quantity: 3 }]) }));
    expect(o.items).toEqual([{ sku: 'S', value: '2', quantity: 3 }]);
  });

  it('takes a server’s GA4 event named by `event` rather than `event_name` (beside transaction_id)', () => {
    const body = { event: 'purchase', transaction_id: 'T-1', currency: 'EUR', client_id: '123.456', items: [{ item_id: 'A', price: 1 }] };
    expect(isGa4Event(body)).toBe(true);
    const e = read(body);
    expect(e).toMatchObject({ source: 'ga4', nameField: 'event' });
    expect(parseOrder(e)).toMatchObject({ orderId: 'T-1', currency: 'EUR', items: [{ sku: 'A', value: '1', quantity: 1 }] });
  });

  it('takes Stape’s flattened event data (x_ga_gcs) and its one-element list', () => {
    const flat = ga4PurchaseFlattened({ x_ga_gcs: 'G101', x_ga_gcd: undefined });
    const e = readOrderEvent(singleEvent([flat]) as object, config);
    expect(e.source).toBe('ga4');
    expect(parseOrder(e)).toMatchObject({ orderId: '100234', consent: false });
    expect(e.rename(['consent'])).toBe('x_ga_gcs');
  });
});

describe('GA4 errors name the GA4 field', () => {
  it.each([
    [
      'a bad price',
      {
        items: [
          { item_id: 'A', price: 1 },
          { item_id: 'B', price: '1,00' },
        ],
      },
      'items[1].price',
    ],
    ['a missing price', { items: [{ item_id: 'A' }] }, 'items[0].price'],
    ['a zero quantity', { items: [{ item_id: 'A', price: 1, quantity: 0 }] }, 'items[0].quantity'],
    ['an item that is not an object', { items: [{ item_id: 'A', price: 1 }, 'B'] }, 'items[1]'],
    ['items that are not a list', { items: 'SKU-1' }, 'items'],
    ['no transaction id', { transaction_id: '' }, 'transaction_id'],
    ['a bad currency', { currency: 'pounds' }, 'currency'],
    ['a country that is not a code', { event_location: { country: 'United Kingdom' } }, 'event_location.country'],
    ['neither items nor value', { items: [], value: undefined }, 'items'],
  ])('%s', (_what, overrides, field) => {
    const err = fieldOf(() => {
      const e = read(ga4Purchase(overrides));
      orderItems(parseOrder(e), '', e.rename);
    });
    expect(err).toBe(field);
  });

  it('an explicit consent value that is neither granted nor denied', () => {
    expect(fieldOf(() => read(ga4Purchase({ ad_storage: 'maybe' })))).toBe('ad_storage');
  });
});

describe('GA4 event names fix the intent', () => {
  it('refund is an order update: {event, orderId, items?} with sku, quantity and a positive value', () => {
    const e = read(ga4Refund({ items: [{ item_id: 'SKU-123', item_category: 'Apparel', price: -27, quantity: 1 }] }));
    expect(e).toMatchObject({ intent: 'refund', name: 'refund' });
    expect(e.native).toEqual({ event: 'refund', orderId: '100234', items: [{ sku: 'SKU-123', value: 27, quantity: 1 }] });
    expect(e.rename(['items', 0, 'value'])).toBe('items[0].price');
    expect(e.rename(['orderId'])).toBe('transaction_id');
    expect(read(ga4Refund({ items: undefined })).native).toEqual({ event: 'refund', orderId: '100234' });
    // An update, whatever the configured lists say; never a purchase, even if `refund` were listed as one.
    expect(updateKindOf(e, { ...unitConfig(), refundEvents: [] })).toBe('refund');
    expect(checkPurchase(e, ['purchase', 'refund']).fires).toBe(false);
  });

  it('every other GA4 event is ignored, whatever the configured purchase events say', () => {
    expect(checkPurchase(read(ga4LandingPageView()), ['page_view'])).toEqual({
      fires: false,
      reason: "event_name 'page_view' is not an order event of this source",
    });
    expect(checkPurchase(read(ga4Purchase({ event_name: ' Purchase ' })), []).fires).toBe(true);
    expect(checkPurchase(read(ga4Purchase({ event_name: '' })), ['purchase'])).toEqual({
      fires: false,
      reason: 'the event has no name at event_name',
    });
  });
});

describe('GA4 consent: the ad_storage signal', () => {
  const consentOf = (overrides: Record<string, unknown>) =>
    ga4Consent({ ...ga4Purchase({ 'x-ga-gcs': undefined, 'x-ga-gcd': undefined }), ...overrides }, config.ga4Paths);

  it.each([
    ['G111', true],
    ['G110', true],
    ['G101', false],
    ['G100', false],
    ['G1--', undefined],
    ['junk', undefined],
  ])('x-ga-gcs %s → %s', (gcs, value) => {
    expect(consentOf({ 'x-ga-gcs': gcs }).value).toBe(value);
  });

  it.each([
    ['13v3v3v3v5l1', true], // granted by default, granted by update
    ['13r3r3r3r5l1', true], // denied by default, granted by update: the update wins
    ['13u3u3u3u5l1', false], // granted by default, denied by update
    ['13p3p3p3p5l1', false], // denied by default, no update
    ['13t3t3t3t5l1', true], // granted by default, no update
    ['11l1l1l1l5', undefined], // not set
    ['1', undefined],
  ])('x-ga-gcd %s → %s', (gcd, value) => {
    expect(consentOf({ 'x-ga-gcd': gcd }).value).toBe(value);
  });

  it('an explicit ad_storage (or consent) from the tag wins over the gcs/gcd strings; Stape’s consent_state next', () => {
    expect(consentOf({ ad_storage: 'denied', 'x-ga-gcs': 'G111' })).toEqual({ value: false, source: 'ad_storage' });
    expect(consentOf({ ad_storage: 'GRANTED', 'x-ga-gcs': 'G100' }).value).toBe(true);
    expect(consentOf({ consent: false, 'x-ga-gcs': 'G111' })).toEqual({ value: false, source: 'consent' });
    expect(consentOf({ consent_state: { ad_storage: true } })).toEqual({ value: true, source: 'consent_state.ad_storage' });
    expect(consentOf({ 'x-ga-gcs': 'G1--', 'x-ga-gcd': '13q3q3q3q5l1' })).toEqual({ value: false, source: '["x-ga-gcd"]' });
  });

  it('ad_user_data only when nothing carries ad_storage (a Measurement Protocol style consent object)', () => {
    expect(consentOf({ consent: { ad_user_data: 'GRANTED', ad_personalization: 'DENIED' } })).toEqual({
      value: true,
      source: 'consent.ad_user_data',
    });
    expect(consentOf({ consent: { ad_user_data: 'DENIED' }, 'x-ga-gcs': 'G110' }).value).toBe(true);
    expect(consentOf({})).toEqual({ value: undefined, source: 'ad_storage' });
  });
});

describe('GA4 page views as clicks', () => {
  const click = (body: Record<string, unknown>) => {
    const { native, rename } = readClick(body, config);
    return parseWith(ClickSchema, native, rename);
  };

  it('the client id is the session; the clickref comes from page_location; consent from gcs', () => {
    expect(click(ga4LandingPageView())).toEqual({ sessionId: GA4_CLIENT_ID, clickref: 'AbC123xYz', userAgent: GA4_UA, consent: true });
    expect(click(ga4LandingPageView({ 'x-ga-gcs': 'G100', 'x-ga-gcd': undefined })).consent).toBe(false);
  });

  it('a page view without a clickref names page_location', () => {
    expect(fieldOf(() => click(ga4LandingPageView({ page_location: 'https://shop.example.com/' })))).toBe('clickref');
    expect(fieldOf(() => click(ga4LandingPageView({ client_id: '' })))).toBe('client_id');
  });
});

describe('ga4Mapping overrides', () => {
  it('replace a field’s paths, and errors then name the configured field', () => {
    const c = unitConfig({ GA4_MAPPING: JSON.stringify({ sessionId: 'user_pseudo_id', price: ['unit_price', 'price'] }) });
    const body = ga4Purchase({
      user_pseudo_id: 'pseudo-1234',
      items: [
        { item_id: 'A', unit_price: '3.50' },
        { item_id: 'B', unit_price: 'x' },
      ],
    });
    const e = read(body, c);
    expect(e.native).toMatchObject({ sessionId: 'pseudo-1234' });
    expect(fieldOf(() => parseOrder(e))).toBe('items[1].unit_price');
  });

  it('an unknown field or a malformed path is refused naming the key', () => {
    expect(() => resolveGa4Mapping({ nope: 'x' } as never)).toThrow(/ga4Mapping\.nope is not a mapping field/);
    expect(() => unitConfig({ GA4_MAPPING: '{"orderId":"a..b"}' })).toThrow(/GA4_MAPPING.*ga4Mapping\.orderId\[0\]/);
  });
});

describe('recognition', () => {
  it('a native body is never GA4, even with an event and GA4-like keys', () => {
    expect(isGa4Event({ event: 'purchase', orderId: 'A', transaction_id: 'x' })).toBe(false);
    expect(isGa4Event({ event: 'purchase', orderId: 'A' })).toBe(false);
    expect(read({ event: 'purchase', orderId: 'A', currency: 'GBP', items: [{ value: 1 }] }).source).toBe('native');
  });

  it('property: a body without event_name and transaction_id is never GA4', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string().filter((k) => !['event_name', 'transaction_id'].includes(k)),
          fc.jsonValue(),
        ),
        (body) => {
          expect(isGa4Event(body)).toBe(false);
        },
      ),
    );
  });
});

describe('properties', () => {
  const price = fc.oneof(
    fc.integer({ min: 0, max: 1_000_000 }).map((cents) => cents / 100),
    fc.integer({ min: 0, max: 1_000_000 }).map((cents) => (cents / 100).toFixed(2)),
  );
  const qty = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }).map(String));
  const item = fc.record(
    { item_id: fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/), price, quantity: qty },
    { requiredKeys: ['item_id', 'price'] },
  );

  it('any basket of prices and quantities, numbers or strings, maps to a valid order with the same values', () => {
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 30 }), (items) => {
        const o = order(ga4Purchase({ items }));
        expect(o.items).toHaveLength(items.length);
        o.items!.forEach((it, i) => {
          expect(Number(it.value)).toBe(Number(items[i]!.price));
          expect(it.quantity).toBe(Number(items[i]!.quantity ?? 1));
          expect(it.sku).toBe(items[i]!.item_id);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('a bad price or quantity anywhere in the basket is named in GA4’s words, items[i].field', () => {
    const bad = fc.constantFrom<[string, unknown]>(
      ['price', '-1'],
      ['price', '1e3'],
      ['price', 'free'],
      ['quantity', 0],
      ['quantity', '2.5'],
    );
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 20 }), fc.nat(), bad, (items, at, [key, value]) => {
        const i = at % items.length;
        const broken = items.map((it, j) => (j === i ? { ...it, [key]: value } : it));
        expect(fieldOf(() => order(ga4Purchase({ items: broken })))).toBe(`items[${i}].${key}`);
      }),
      { numRuns: 200 },
    );
  });
});
