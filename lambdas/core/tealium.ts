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
import { formatFieldPath, getPath, parsePath, type FieldPath } from './field-path.js';
import { isBlank } from './fields.js';
import type { OrderSourceMapper } from './order-events.js';

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
] as const;
export type MappingField = (typeof MAPPING_FIELDS)[number];
export type TealiumMapping = Record<MappingField, readonly FieldPath[]>;
/** The mapping as written in config: field → path string or list of path strings. */
export type TealiumMappingConfig = Partial<Record<MappingField, string | readonly string[]>>;

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
};

/** Validates a mapping override and merges it over the defaults. */
export function resolveMapping(overrides: TealiumMappingConfig = {}): TealiumMapping {
  const out = {} as Record<MappingField, readonly FieldPath[]>;
  for (const key of Object.keys(overrides)) {
    if (!(MAPPING_FIELDS as readonly string[]).includes(key)) {
      throw new InputError(
        'invalid_mapping',
        `tealiumMapping.${key} is not a mapping field (one of ${MAPPING_FIELDS.join(', ')})`,
        `tealiumMapping.${key}`,
      );
    }
  }
  for (const f of MAPPING_FIELDS) {
    const given = overrides[f] ?? DEFAULT_MAPPING_CONFIG[f];
    const list = typeof given === 'string' ? [given] : given;
    out[f] = list.map((p, i) => parsePath(p, `tealiumMapping.${f}[${i}]`));
  }
  return out;
}

export const isTealiumEvent = (body: unknown): boolean => {
  const udo = getPath(body, ['data', 'udo']);
  return udo !== null && typeof udo === 'object' && !Array.isArray(udo);
};

interface Found {
  value: unknown;
  /** The path (as a string) that supplied the value, or the first candidate when none did. */
  source: string;
}

/** Path labels, written once per configured path (they name fields in errors). */
const labels = new WeakMap<FieldPath, string>();
function label(p: FieldPath): string {
  let l = labels.get(p);
  if (l === undefined) {
    l = formatFieldPath(p);
    labels.set(p, l);
  }
  return l;
}

function pick(event: unknown, paths: readonly FieldPath[]): Found {
  for (const p of paths) {
    const value = getPath(event, p);
    if (!isBlank(value)) return { value, source: label(p) };
  }
  return { value: undefined, source: paths[0] ? label(paths[0]) : '' };
}

/**
 * The clickref from a page URL: a string URL, or Tealium's `page_url` object
 * (`{ full_url, query_params }`). The query parameter is read exactly as the URL carries it, decoded once.
 */
export function clickrefFromPageUrl(pageUrl: unknown): string | undefined {
  if (pageUrl !== null && typeof pageUrl === 'object' && !Array.isArray(pageUrl)) {
    const params = (pageUrl as Record<string, unknown>)['query_params'];
    const direct = getPath(params, ['clickref']);
    if (typeof direct === 'string' && direct !== '') return direct;
    return clickrefFromPageUrl((pageUrl as Record<string, unknown>)['full_url']);
  }
  if (typeof pageUrl !== 'string' || pageUrl === '') return undefined;
  const q = pageUrl.indexOf('?');
  if (q < 0) return undefined;
  const hash = pageUrl.indexOf('#', q);
  try {
    const v = new URLSearchParams(pageUrl.slice(q + 1, hash < 0 ? undefined : hash)).get('clickref');
    return v === null || v === '' ? undefined : v;
  } catch {
    return undefined;
  }
}

/**
 * Consent from a consent-categories value (an array or a comma-separated string): `true` when it
 * holds one of `categories`, `false` when it is present without them, `undefined` when absent.
 */
export function consentFromCategories(value: unknown, categories: readonly string[]): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [value];
  const held = new Set(list.map((v) => String(v).trim().toLowerCase()));
  return categories.some((c) => held.has(c.toLowerCase()));
}

/** Result of mapping: a native-shaped object and a way to name native paths by their Tealium source. */
export interface Mapped {
  native: Record<string, unknown>;
  rename: (path: ReadonlyArray<PropertyKey>) => string;
}

function renamer(sources: Record<string, string>, itemSources: Record<string, string>) {
  return (path: ReadonlyArray<PropertyKey>): string => {
    const [head, index, sub] = path;
    if (head === 'items' && typeof index === 'number' && typeof sub === 'string' && itemSources[sub]) {
      return `${itemSources[sub]}[${index}]`;
    }
    if (head === 'items' && itemSources['value']) return itemSources['value'];
    return (typeof head === 'string' && sources[head]) || path.map(String).join('.');
  };
}

/** The event name of a Tealium event, for the purchase filter. */
export const tealiumEventName = (event: unknown, mapping: TealiumMapping): unknown => pick(event, mapping.event).value;

const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Maps a Tealium purchase event to the native order shape (validation happens on the result). */
export function mapTealiumOrder(event: unknown, mapping: TealiumMapping, consentCategories: readonly string[]): Mapped {
  const sources: Record<string, string> = {};
  const native: Record<string, unknown> = {};
  const scalar = (native_: string, field: MappingField) => {
    const f = pick(event, mapping[field]);
    sources[native_] = f.source;
    if (f.value !== undefined) native[native_] = f.value;
    return f;
  };
  scalar('event', 'event');
  scalar('orderId', 'orderId');
  scalar('currency', 'currency');
  scalar('voucher', 'voucher');
  scalar('customerType', 'customerType');
  scalar('country', 'country');
  scalar('sessionId', 'sessionId');
  scalar('userAgent', 'userAgent');
  scalar('orderTime', 'orderTime');
  scalar('clickref', 'orderClickref');
  scalar('reason', 'updateReason');
  scalar('updateId', 'updateId');
  const consent = pick(event, mapping.consentCategories);
  sources['consent'] = consent.source;
  const c = consentFromCategories(consent.value, consentCategories);
  if (c !== undefined) native['consent'] = c;

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
  if (count > 0) {
    native['items'] = Array.from({ length: count }, (_, i) => {
      const item: Record<string, unknown> = {};
      for (const [k, list] of Object.entries(lists)) if (list.length > 0) item[k] = list[i];
      return item;
    });
  } else {
    // Only an order without product rows is read by its total (with rows, the total is not sent).
    scalar('value', 'orderTotal');
  }
  return { native, rename: renamer(sources, itemSources) };
}

/** Maps a Tealium event to the native click shape. */
export function mapTealiumClick(event: unknown, mapping: TealiumMapping, consentCategories: readonly string[]): Mapped {
  const session = pick(event, mapping.sessionId);
  const ua = pick(event, mapping.userAgent);
  const consent = pick(event, mapping.consentCategories);
  let clickref = pick(event, mapping.clickref);
  if (clickref.value === undefined) {
    const page = pick(event, mapping.pageUrl);
    const fromUrl = clickrefFromPageUrl(page.value);
    if (fromUrl !== undefined) clickref = { value: fromUrl, source: `${page.source} (clickref parameter)` };
  }
  const native: Record<string, unknown> = {};
  if (session.value !== undefined) native['sessionId'] = session.value;
  if (clickref.value !== undefined) native['clickref'] = clickref.value;
  if (ua.value !== undefined) native['userAgent'] = ua.value;
  const c = consentFromCategories(consent.value, consentCategories);
  if (c !== undefined) native['consent'] = c;
  const sources = { sessionId: session.source, clickref: clickref.source, userAgent: ua.source, consent: consent.source };
  return { native, rename: renamer(sources, {}) };
}

/** Tealium as an order source: a body with an object at `data.udo` (core/order-events.ts). */
export const tealiumOrders: OrderSourceMapper = {
  source: 'tealium',
  recognises: isTealiumEvent,
  read(body, config) {
    const { native, rename } = mapTealiumOrder(body, config.mapping, config.consentCategories);
    return { source: 'tealium', name: tealiumEventName(body, config.mapping), native, rename, nameField: rename(['event']) };
  },
};
