/**
 * What the source mappers (tealium.ts, ga4.ts, segment.ts) share. A mapping names, for each native
 * field, the paths in the sender's event it may come from (the source's defaults, overridable per
 * field in config); the first non-blank value wins. The mapper remembers which path supplied each
 * value, so a 400 names the sender's own field (`items[2].price`, not the native `items[2].value`).
 */
import { InputError } from './errors.js';
import { formatFieldPath, getPath, parsePath, type FieldPath } from './field-path.js';
import { isBlank } from './fields.js';
import type { EventIntent, OrderEvent, OrderSource } from './order-source.js';

export type PathMapping<F extends string> = Record<F, readonly FieldPath[]>;
/** A mapping as written in config: field → path string or list of path strings. */
export type PathMappingConfig<F extends string> = Partial<Record<F, string | readonly string[]>>;

/** Validates a mapping override (config key `setting`) and merges it over the defaults. */
export function resolvePaths<F extends string>(
  setting: string,
  defaults: Readonly<Record<F, readonly string[]>>,
  overrides: PathMappingConfig<F> = {},
): PathMapping<F> {
  const fields = Object.keys(defaults) as F[];
  for (const key of Object.keys(overrides)) {
    if (!(fields as string[]).includes(key)) {
      throw new InputError(
        'invalid_mapping',
        `${setting}.${key} is not a mapping field (one of ${fields.join(', ')})`,
        `${setting}.${key}`,
      );
    }
  }
  const out = {} as Record<F, readonly FieldPath[]>;
  for (const f of fields) {
    const given: string | readonly string[] = overrides[f] ?? defaults[f];
    const list: readonly string[] = typeof given === 'string' ? [given] : given;
    out[f] = list.map((p, i) => parsePath(p, `${setting}.${f}[${i}]`));
  }
  return out;
}

export interface Found {
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

/** The first non-blank value among `paths`. */
export function pick(event: unknown, paths: readonly FieldPath[]): Found {
  for (const p of paths) {
    const value = getPath(event, p);
    if (!isBlank(value)) return { value, source: label(p) };
  }
  return { value: undefined, source: paths[0] ? label(paths[0]) : '' };
}

export type Rename = (path: ReadonlyArray<PropertyKey>) => string;

/** Result of mapping: a native-shaped object and a way to name native paths by their source. */
export interface Mapped {
  native: Record<string, unknown>;
  rename: Rename;
}

/**
 * Names native paths by the sender's fields: `sources` for top-level fields, `item(i, field)` for
 * `items[i].field` (undefined: not mapped), `list` for the items themselves.
 */
export function renamer(
  sources: Record<string, string>,
  item?: (index: number, field: string) => string | undefined,
  list?: string,
): Rename {
  return (path) => {
    const [head, index, sub] = path;
    if (head === 'items' && item && typeof index === 'number') {
      const named = typeof sub === 'string' ? item(index, sub) : undefined;
      if (named) return named;
      if (list) return [`${list}[${index}]`, ...path.slice(2).map(String)].join('.');
    }
    if (head === 'items' && list) return list;
    return (typeof head === 'string' && sources[head]) || path.map(String).join('.');
  };
}

/**
 * A shape of click other than the native one: a documented rule that recognises it, and its mapper,
 * which reads only its source's part `C` of the configuration.
 */
export interface ClickSource<C> {
  recognises(body: object): boolean;
  read(body: object, config: C): Mapped;
}

/** The native order fields read as they are (and `clickref`, from the mapping field `orderClickref`). */
const SCALARS = [
  'orderId',
  'currency',
  'voucher',
  'customerType',
  'country',
  'sessionId',
  'userAgent',
  'orderTime',
  'orderClickref',
  'campaign',
] as const;
export type ScalarField = (typeof SCALARS)[number];

/** Copies the scalar fields of an order onto `native`, remembering where each came from. */
export function mapScalars(
  event: unknown,
  mapping: PathMapping<ScalarField>,
  native: Record<string, unknown>,
  sources: Record<string, string>,
) {
  for (const field of SCALARS) {
    const f = pick(event, mapping[field]);
    const to = field === 'orderClickref' ? 'clickref' : field;
    sources[to] = f.source;
    if (f.value !== undefined) native[to] = f.value;
  }
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
 * The order's explicit clickref when the mapping found none: the `clickref` query parameter of the
 * page URL (a landing page that is also the checkout, or a brand that carries it along).
 */
export function clickrefFromPage(
  event: unknown,
  pageUrl: readonly FieldPath[],
  native: Record<string, unknown>,
  sources: Record<string, string>,
) {
  if (native['clickref'] !== undefined) return;
  const page = pick(event, pageUrl);
  const fromUrl = clickrefFromPageUrl(page.value);
  if (fromUrl === undefined) return;
  native['clickref'] = fromUrl;
  sources['clickref'] = `${page.source} (clickref parameter)`;
}

/** Maps a page view (or any event that carries the landing page) to the native click shape. */
export function mapClick(
  event: unknown,
  mapping: PathMapping<'sessionId' | 'userAgent' | 'clickref' | 'pageUrl'>,
  consent: { value: boolean | undefined; source: string },
): Mapped {
  const native: Record<string, unknown> = {};
  const sources: Record<string, string> = { consent: consent.source };
  for (const f of ['sessionId', 'userAgent', 'clickref'] as const) {
    const found = pick(event, mapping[f]);
    sources[f] = found.source;
    if (found.value !== undefined) native[f] = found.value;
  }
  clickrefFromPage(event, mapping.pageUrl, native, sources);
  if (consent.value !== undefined) native['consent'] = consent.value;
  return { native, rename: renamer(sources) };
}

/**
 * Consent from a consent-preferences value, `true` when it grants one of `categories` (compared
 * case-insensitively), `false` when it is present without granting any, `undefined` when absent:
 * - a list or a comma-separated string of the categories held (Tealium's `consent_categories`);
 * - a map of category → boolean (Segment's `context.consent.categoryPreferences`);
 * - `{allowedConsentIds, deniedConsentIds}` (RudderStack's `context.consentManagement`): a
 *   category neither allowed nor denied, with no allowed list either, is not known.
 */
export function consentFromCategories(value: unknown, categories: readonly string[]): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  const wanted = categories.map((c) => c.toLowerCase());
  const holds = (list: unknown) => {
    const items = Array.isArray(list) ? list : typeof list === 'string' ? list.split(',') : [list];
    return items.some((v) => wanted.includes(String(v).trim().toLowerCase()));
  };
  if (typeof value !== 'object' || Array.isArray(value)) return holds(value);
  const o = value as Record<string, unknown>;
  if ('allowedConsentIds' in o || 'deniedConsentIds' in o) {
    if (holds(o['allowedConsentIds'] ?? [])) return true;
    return Array.isArray(o['allowedConsentIds']) || holds(o['deniedConsentIds'] ?? []) ? false : undefined;
  }
  return Object.entries(o).some(([k, v]) => (v === true || v === 'true') && wanted.includes(k.toLowerCase()));
}

export const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The mapping fields of a source whose items are a list of objects (GA4's `items`, Segment's `products`). */
export type ListOrderField = ScalarField | 'event' | 'pageUrl' | 'items' | 'sku' | 'category' | 'price' | 'quantity' | 'orderTotal';

/** Where each native item field comes from, inside one element of the items list. */
const ITEM_FIELDS = { sku: 'sku', category: 'category', value: 'price', quantity: 'quantity' } as const;

export interface ListOrder extends Mapped {
  sources: Record<string, string>;
}

/**
 * Maps an order whose items are a list of objects. The list may also arrive as JSON text (some
 * sGTM tags send `items` so). `fields` limits the item fields copied (order updates take sku,
 * quantity and value only).
 */
export function mapListOrder(
  event: unknown,
  mapping: PathMapping<ListOrderField>,
  fields: ReadonlyArray<keyof typeof ITEM_FIELDS> = ['sku', 'category', 'value', 'quantity'],
): ListOrder {
  const native: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  mapScalars(event, mapping, native, sources);
  clickrefFromPage(event, mapping.pageUrl, native, sources);
  const list = pick(event, mapping.items);
  let value = list.value;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      // not JSON: refused below as not a list
    }
  }
  if (value !== undefined && !Array.isArray(value))
    throw new InputError('invalid_field', `${list.source} must be a list of items`, list.source);
  const rows = (value ?? []) as unknown[];
  if (rows.length > 0) {
    native['items'] = rows.map((row) => {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) return row;
      const item: Record<string, unknown> = {};
      for (const k of fields) {
        const f = pick(row, mapping[ITEM_FIELDS[k]]);
        if (f.value !== undefined) item[k] = f.value;
      }
      return item;
    });
  } else {
    const total = pick(event, mapping.orderTotal);
    sources['value'] = total.source;
    if (total.value !== undefined) native['value'] = total.value;
  }
  const itemLabel = (i: number, field: string): string | undefined => {
    const from = ITEM_FIELDS[field as keyof typeof ITEM_FIELDS];
    return from && `${list.source}[${i}].${pick(rows[i], mapping[from]).source}`;
  };
  return { native, sources, rename: renamer(sources, itemLabel, list.source) };
}

/**
 * The native order update of the order lifecycle, `{event, orderId, items?}` with each item's sku,
 * quantity and value: some senders write refunded amounts as negative numbers, so the sign is dropped.
 */
export function orderUpdate(
  intent: Exclude<EventIntent, 'purchase' | 'ignore'>,
  order: Mapped,
  withItems: boolean,
): Record<string, unknown> {
  const { orderId, items } = order.native;
  const unsigned = (item: Record<string, unknown>) => {
    const v = item?.['value'];
    return typeof v === 'number' || typeof v === 'string'
      ? { ...item, value: typeof v === 'number' ? Math.abs(v) : v.replace(/^\s*-/, '') }
      : item;
  };
  return { event: intent, orderId, ...(withItems && Array.isArray(items) ? { items: items.map(unsigned) } : {}) };
}

/**
 * The shop's host name, for routing an order to its site's campaign: a mapped `site`, else the
 * host of the page URL (lower case). Not part of the Partnerize call.
 */
export function siteOf(event: unknown, mapping: PathMapping<'site' | 'pageUrl'>): string | undefined {
  const site = pick(event, mapping.site).value;
  if (typeof site === 'string') return site.trim().toLowerCase();
  const page = pick(event, mapping.pageUrl).value;
  return typeof page === 'string' && URL.canParse(page) ? new URL(page).hostname : undefined;
}

/** The intent a source's specification gives an event name (`name` trimmed, any case); other names are ignored. */
export const intentOf = (name: Found, intents: Readonly<Record<string, EventIntent>>): EventIntent | undefined =>
  typeof name.value === 'string' ? (intents[name.value.trim().toLowerCase()] ?? 'ignore') : undefined;

/**
 * The order event of a source whose items are a list of objects (GA4, Segment): a purchase mapped
 * with its consent and site, an update in the native update shape (a cancel without items: it
 * cancels the whole order), anything else left unmapped (it is not read). `adjust` sees the mapped
 * order before it is returned (Segment spreads its order discount there).
 */
export function listOrderEvent(
  source: OrderSource,
  body: object,
  mapping: PathMapping<ListOrderField | 'site'>,
  name: Found,
  intent: EventIntent | undefined,
  consent: () => { value: boolean | undefined; source: string },
  adjust?: (order: Mapped) => void,
): OrderEvent {
  const event = { source, name: name.value, nameField: name.source, intent };
  if (intent === undefined || intent === 'ignore') return { ...event, native: body, rename: renamer({ event: name.source }) };
  const order = mapListOrder(body, mapping, intent === 'purchase' ? undefined : ['sku', 'quantity', 'value']);
  order.sources['event'] = name.source;
  const mapped = intent === 'purchase' ? order : { native: orderUpdate(intent, order, intent === 'refund'), rename: order.rename };
  adjust?.(mapped);
  if (intent === 'purchase') {
    const c = consent();
    order.sources['consent'] = c.source;
    if (c.value !== undefined) order.native['consent'] = c.value;
    const site = siteOf(body, mapping);
    if (site !== undefined) order.native['site'] = site;
  }
  return { ...event, ...mapped };
}
