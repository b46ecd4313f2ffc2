/**
 * Segment and RudderStack calls (their e-commerce specs are the same: `Order Completed`,
 * `Order Refunded`, `Order Cancelled` with `properties.products[]`), as their webhook destinations
 * deliver them, mapped onto the native order and click shapes.
 *
 * Recognised by `type`, one of the spec's call types (track, page, screen, identify, group, alias);
 * RudderStack's server adds `rudderId` (and `request_ip`) to every event, which tells the two
 * apart. Only track calls are orders: `Order Completed` fires, `Order Refunded` and
 * `Order Cancelled` are order updates, any other call is ignored. Field paths follow the spec and
 * can be overridden per field (config `segmentMapping`); errors name the sender's field, e.g.
 * `properties.products[0].quantity`.
 */
import { InputError } from './errors.js';
import { decimal, quantity, type Converted } from './fields.js';
import type { EventIntent, OrderEvent, OrderSourceMapper } from './order-source.js';
import {
  consentFromCategories,
  intentOf,
  listOrderEvent,
  mapClick,
  pick,
  resolvePaths,
  type ClickSource,
  type Mapped,
  type PathMapping,
  type PathMappingConfig,
} from './source-mapping.js';

export const SEGMENT_DEFAULTS = {
  event: ['event'],
  orderId: ['properties.order_id'],
  currency: ['properties.currency'],
  voucher: ['properties.coupon'],
  customerType: [],
  country: [],
  // Segment's and RudderStack's device-scoped id, stable across sessions: clicks and orders meet on it.
  sessionId: ['anonymousId'],
  userAgent: ['context.userAgent'],
  orderTime: ['timestamp', 'originalTimestamp'],
  orderClickref: ['properties.clickref'],
  clickref: ['properties.clickref'],
  pageUrl: ['context.page.url', 'properties.url'],
  site: [],
  // The order's campaign by name (core/campaigns.ts), where the brand sends one; none by default.
  campaign: [],
  items: ['properties.products'],
  // The SKU is what a brand's Partnerize product feed knows; product_id when there is none.
  sku: ['sku', 'product_id'],
  category: ['category'],
  // The unit price before the order's discount (spread over the units below).
  price: ['price'],
  quantity: ['quantity'],
  // After discounts, before shipping and tax: the order's total when it has no products.
  orderTotal: ['properties.revenue', 'properties.subtotal'],
  discount: ['properties.discount'],
  consentCategories: ['context.consent.categoryPreferences', 'context.consentManagement'],
} as const satisfies Record<string, readonly string[]>;

export type SegmentField = keyof typeof SEGMENT_DEFAULTS;
export type SegmentMapping = PathMapping<SegmentField>;
export type SegmentMappingConfig = PathMappingConfig<SegmentField>;

/** What the Segment and RudderStack mappers read from the running configuration (their part of order-events' SourceConfig). */
export interface SegmentSourceConfig {
  segmentPaths: SegmentMapping;
  segmentConsentCategories: readonly string[];
}

export const resolveSegmentMapping = (overrides: SegmentMappingConfig = {}): SegmentMapping =>
  resolvePaths('segmentMapping', SEGMENT_DEFAULTS, overrides);

const CALL_TYPES: ReadonlySet<unknown> = new Set(['track', 'page', 'screen', 'identify', 'group', 'alias']);

export const isSegmentCall = (body: object): boolean => CALL_TYPES.has((body as Record<string, unknown>)['type']);
export const isRudderStackCall = (body: object): boolean => isSegmentCall(body) && ('rudderId' in body || 'request_ip' in body);

/** The purchase event of Segment's e-commerce spec, as the spec writes it (matched case-insensitively). */
const PURCHASE_NAMES = ['Order Completed'];

const INTENTS: Readonly<Record<string, EventIntent>> = {
  'order completed': 'purchase',
  'order refunded': 'refund',
  'order cancelled': 'cancel',
};

function checked<T>(r: Converted<T>, field: string): T {
  if (r.ok) return r.value;
  throw new InputError(r.message === 'is required' ? 'missing_field' : 'invalid_field', `${field} ${r.message}`, field);
}

const scaled = (plain: string, places: number): bigint => {
  const [whole = '0', fraction = ''] = plain.split('.');
  return BigInt(whole + fraction.padEnd(places, '0'));
};
const plain = (n: bigint, places: number): string => {
  const digits = n.toString().padStart(places + 1, '0');
  const out = `${digits.slice(0, -places)}.${digits.slice(-places)}`;
  return out.replace(/\.?0+$/, '');
};

/**
 * Segment's `products[].price` is the unit price before the order-level `discount` (the spec's own
 * example: 19 + 3 × 2 = 25, discount 2.50, subtotal 22.50), while Partnerize takes each unit's value
 * after discounts. The discount is spread over the units in proportion to their price: each unit
 * price is scaled by (Σ price × quantity − discount) / Σ price × quantity, rounded half up to the
 * finest precision among the prices and the discount (at least cents). The sum therefore matches
 * the discounted total to within half that precision per unit. Exact decimal arithmetic (BigInt),
 * never binary floating point.
 */
export function spreadDiscount(order: Mapped, discountValue: unknown, discountField: string): void {
  const items = order.native['items'];
  if (discountValue === undefined || !Array.isArray(items)) return;
  const discount = checked(decimal(discountValue), discountField);
  if (Number(discount) === 0 || items.some((i) => i === null || typeof i !== 'object' || Array.isArray(i))) return;
  const rows = (items as Array<Record<string, unknown>>).map((item, i) => ({
    item,
    price: checked(decimal(item['value']), order.rename(['items', i, 'value'])),
    units: BigInt(checked(quantity(item['quantity']), order.rename(['items', i, 'quantity']))),
  }));
  const places = Math.max(2, ...[discount, ...rows.map((r) => r.price)].map((d) => d.split('.')[1]?.length ?? 0));
  const total = rows.reduce((sum, r) => sum + scaled(r.price, places) * r.units, 0n);
  const off = scaled(discount, places);
  if (off > total) {
    throw new InputError(
      'invalid_field',
      `${discountField} (${discount}) is more than the products' total (${plain(total, places)})`,
      discountField,
    );
  }
  for (const r of rows) r.item['value'] = plain((scaled(r.price, places) * (total - off) * 2n + total) / (2n * total), places);
}

const consentOf = (body: object, config: SegmentSourceConfig) => {
  const found = pick(body, config.segmentPaths.consentCategories);
  return { value: consentFromCategories(found.value, config.segmentConsentCategories), source: found.source };
};

function readSegment(source: 'segment' | 'rudderstack', body: object, config: SegmentSourceConfig): OrderEvent {
  const m = config.segmentPaths;
  const type = (body as Record<string, unknown>)['type'];
  const name = type === 'track' ? pick(body, m.event) : { value: type, source: 'type' };
  const intent = type === 'track' ? intentOf(name, INTENTS) : 'ignore';
  const event = listOrderEvent(
    source,
    body,
    m,
    name,
    intent,
    () => consentOf(body, config),
    (order) => {
      const discount = pick(body, m.discount);
      spreadDiscount(order, discount.value, discount.source);
    },
  );
  return { ...event, purchaseNames: PURCHASE_NAMES };
}

/** RudderStack as an order source (core/order-events.ts): tried before Segment. */
export const rudderstackOrders: OrderSourceMapper<SegmentSourceConfig> = {
  source: 'rudderstack',
  recognises: isRudderStackCall,
  read: (body, config) => readSegment('rudderstack', body, config),
};

/** Segment as an order source (core/order-events.ts). */
export const segmentOrders: OrderSourceMapper<SegmentSourceConfig> = {
  source: 'segment',
  recognises: isSegmentCall,
  read: (body, config) => readSegment('segment', body, config),
};

/** Segment and RudderStack page calls (or any call carrying the landing page) as clicks. */
export const segmentClicks: ClickSource<SegmentSourceConfig> = {
  recognises: isSegmentCall,
  read: (body, config) => mapClick(body, config.segmentPaths, consentOf(body, config)),
};
