/**
 * Tealium events (EventStream "Send Event Data", Tealium's webhook connector) mapped onto the
 * native click and order shapes. A body with an object at `data.udo` is a Tealium event.
 *
 * Each native field reads the first non-blank value among a list of paths. The defaults follow
 * Tealium's retail data layer and can be overridden per field (config `tealiumMapping`).
 * Validation errors name the Tealium field that supplied the bad value, e.g.
 * `data.udo.product_quantity[1]`.
 */
import { InputError } from './errors.js';
import { getPath } from './field-path.js';
import type { OrderSourceMapper } from './order-source.js';
import {
  asList,
  clickrefFromPageUrl,
  mapClick,
  consentFromCategories,
  mapScalars,
  pick,
  renamer,
  resolvePaths,
  siteOf,
  type ClickSource,
  type Mapped,
  type PathMapping,
  type PathMappingConfig,
} from './source-mapping.js';

export { clickrefFromPageUrl, consentFromCategories, type Mapped };

export const MAPPING_FIELDS = [
  'event',
  'orderId',
  'currency',
  'voucher',
  'customerType',
  'country',
  'sessionId',
  'userAgent',
  'orderTime',
  'consentCategories',
  'orderClickref',
  'clickref',
  'pageUrl',
  'sku',
  'category',
  'price',
  'quantity',
  'orderTotal',
  'updateReason',
  'updateId',
  'campaign',
  'site',
] as const;
export type MappingField = (typeof MAPPING_FIELDS)[number];
export type TealiumMapping = PathMapping<MappingField>;
/** The mapping as written in config: field → path string or list of path strings. */
export type TealiumMappingConfig = PathMappingConfig<MappingField>;

/** What Tealium's mappers read from the running configuration (its part of order-events' SourceConfig). */
export interface TealiumSourceConfig {
  mapping: TealiumMapping;
  consentCategories: readonly string[];
}

export const DEFAULT_MAPPING_CONFIG: Readonly<Record<MappingField, readonly string[]>> = {
  event: ['data.udo.tealium_event'],
  orderId: ['data.udo.order_id'],
  currency: ['data.udo.order_currency', 'data.udo.order_currency_code'],
  voucher: ['data.udo.order_coupon_code', 'data.udo.order_promo_code'],
  customerType: ['data.udo.customer_type'],
  country: ['data.udo.country_code'],
  sessionId: ['data.udo.tealium_visitor_id', 'visitor_id', 'data.udo.visitor_id'],
  userAgent: ['useragent'],
  orderTime: ['post_time'],
  consentCategories: ['data.udo.consent_categories'],
  // The brand's own stored clickref on an order event (wins over the click lookup); none by default.
  orderClickref: [],
  clickref: ['data.udo.clickref', 'data.udo["qp.clickref"]'],
  pageUrl: ['page_url', 'data.udo.page_url', 'data.dom.url'],
  sku: ['data.udo.product_sku', 'data.udo.product_id'],
  category: ['data.udo.product_category'],
  price: ['data.udo.product_price'],
  quantity: ['data.udo.product_quantity'],
  // For orders without product rows: the amount commission is paid on — Tealium's retail layer
  // puts the total after discounts, before tax and shipping, in order_subtotal.
  orderTotal: ['data.udo.order_subtotal', 'data.udo.order_total'],
  // Order updates (cancel, refund, return): why, and the brand's id of the update, when the data layer has them.
  updateReason: ['data.udo.cancel_reason', 'data.udo.refund_reason', 'data.udo.return_reason'],
  updateId: ['data.udo.refund_id', 'data.udo.return_id'],
  // Several campaigns (core/campaigns.ts): the order's campaign by name, if the data layer says it;
  // the shop's hostname (else the host of pageUrl), for rules that route by site.
  campaign: [],
  site: [],
};

/** Validates a mapping override and merges it over the defaults. */
export const resolveMapping = (overrides: TealiumMappingConfig = {}): TealiumMapping =>
  resolvePaths('tealiumMapping', DEFAULT_MAPPING_CONFIG, overrides);

export const isTealiumEvent = (body: unknown): boolean => {
  const udo = getPath(body, ['data', 'udo']);
  return udo !== null && typeof udo === 'object' && !Array.isArray(udo);
};

/** The event name of a Tealium event, for the purchase filter. */
export const tealiumEventName = (event: unknown, mapping: TealiumMapping): unknown => pick(event, mapping.event).value;

/** Maps a Tealium purchase event to the native order shape (validation happens on the result). */
export function mapTealiumOrder(event: unknown, mapping: TealiumMapping, consentCategories: readonly string[]): Mapped {
  const sources: Record<string, string> = {};
  const native: Record<string, unknown> = {};
  const scalar = (native_: string, field: MappingField) => {
    const f = pick(event, mapping[field]);
    sources[native_] = f.source;
    if (f.value !== undefined) native[native_] = f.value;
  };
  scalar('event', 'event');
  mapScalars(event, mapping, native, sources);
  // Order updates (cancel, refund, return): why, and the brand's id of the update.
  scalar('reason', 'updateReason');
  scalar('updateId', 'updateId');
  const site = siteOf(event, mapping);
  const siteFound = pick(event, mapping.site);
  sources['site'] = (siteFound.value !== undefined ? siteFound.source : pick(event, mapping.pageUrl).source) || 'site';
  if (site !== undefined) native['site'] = site;
  const consent = pick(event, mapping.consentCategories);
  sources['consent'] = consent.source;
  const c = consentFromCategories(consent.value, consentCategories);
  if (c !== undefined) native['consent'] = c;

  const { rows, itemSources } = productRows(event, mapping);
  if (rows.length > 0) native['items'] = rows;
  // Only an order without product rows is read by its total (with rows, the total is not sent).
  else scalar('value', 'orderTotal');
  const column = (index: number, field: string) => (itemSources[field] ? `${itemSources[field]}[${index}]` : undefined);
  return { native, rename: renamer(sources, column, itemSources['value']) };
}

/**
 * Tealium's product columns (parallel lists of SKU, category, price and quantity) as item rows, and
 * the field each column came from; a price column is required, and every column has one entry per product.
 */
function productRows(event: unknown, mapping: TealiumMapping): { rows: Record<string, unknown>[]; itemSources: Record<string, string> } {
  const cols = {
    sku: pick(event, mapping.sku),
    category: pick(event, mapping.category),
    value: pick(event, mapping.price),
    quantity: pick(event, mapping.quantity),
  };
  const itemSources = Object.fromEntries(Object.entries(cols).map(([k, f]) => [k, f.source]));
  const lists = Object.fromEntries(Object.entries(cols).map(([k, f]) => [k, asList(f.value)])) as Record<keyof typeof cols, unknown[]>;
  const count = Math.max(...Object.values(lists).map((l) => l.length));
  if (count > 0 && lists.value.length === 0) {
    const src = itemSources['value'] ?? 'price';
    throw new InputError('missing_field', `${src} is required (the price of each product)`, src);
  }
  for (const [k, list] of Object.entries(lists)) {
    if (list.length > 0 && list.length !== count) {
      const src = itemSources[k] ?? k;
      throw new InputError('invalid_field', `${src} has ${list.length} entries but the order has ${count} products`, src);
    }
  }
  const rows = Array.from({ length: count }, (_, i) => {
    const item: Record<string, unknown> = {};
    for (const [k, list] of Object.entries(lists)) if (list.length > 0) item[k] = list[i];
    return item;
  });
  return { rows, itemSources };
}

/** Maps a Tealium event to the native click shape. */
export function mapTealiumClick(event: unknown, mapping: TealiumMapping, consentCategories: readonly string[]): Mapped {
  const consent = pick(event, mapping.consentCategories);
  return mapClick(event, mapping, { value: consentFromCategories(consent.value, consentCategories), source: consent.source });
}

/** Tealium as an order source: a body with an object at `data.udo` (core/order-events.ts). */
export const tealiumOrders: OrderSourceMapper<TealiumSourceConfig> = {
  source: 'tealium',
  recognises: isTealiumEvent,
  read(body, config) {
    const { native, rename } = mapTealiumOrder(body, config.mapping, config.consentCategories);
    return { source: 'tealium', name: tealiumEventName(body, config.mapping), native, rename, nameField: rename(['event']) };
  },
};

/** Tealium page views as clicks (core/order-events.ts). */
export const tealiumClicks: ClickSource<TealiumSourceConfig> = {
  recognises: isTealiumEvent,
  read: (body, config) => mapTealiumClick(body, config.mapping, config.consentCategories),
};
