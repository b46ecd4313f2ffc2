/**
 * GA4 e-commerce events, as server-side GTM holds them in its event data (flat keys: what an HTTP
 * request tag forwards as JSON), mapped onto the native order and click shapes.
 *
 * Recognised by a string `event_name` (sGTM's key, never a native one), or by a string `event`
 * beside GA4's `transaction_id` and without the native `orderId` (a server that names the event
 * `event`). The event name fixes the intent: `purchase` fires, `refund` is
 * an order update, any other GA4 event is ignored. Field paths follow Google's names and can be
 * overridden per field (config `ga4Mapping`); errors name the GA4 field, e.g. `items[2].price`.
 */
import { InputError } from './errors.js';
import type { FieldPath } from './field-path.js';
import type { EventIntent, OrderSourceMapper } from './order-source.js';
import {
  intentOf,
  listOrderEvent,
  mapClick,
  pick,
  resolvePaths,
  type ClickSource,
  type Found,
  type PathMapping,
  type PathMappingConfig,
} from './source-mapping.js';

export const GA4_DEFAULTS = {
  event: ['event_name', 'event'],
  orderId: ['transaction_id'],
  currency: ['currency'],
  voucher: ['coupon'],
  customerType: [],
  // Where Google located the shopper (sGTM event data); optional, and not on every container.
  country: ['event_location.country'],
  // The GA client id (the `_ga` cookie), stable across sessions: clicks and orders meet on it.
  sessionId: ['client_id'],
  userAgent: ['user_agent'],
  orderTime: [],
  orderClickref: ['clickref'],
  clickref: ['clickref'],
  pageUrl: ['page_location'],
  site: ['page_hostname'],
  // The order's campaign by name (core/campaigns.ts), where the brand sends one; none by default.
  campaign: [],
  items: ['items'],
  sku: ['item_id'],
  category: ['item_category'],
  // Google's `price` is the unit price after the item's discount: what Partnerize takes as value.
  price: ['price'],
  quantity: ['quantity'],
  // Σ price × quantity, without shipping or tax: the order's total when it has no items.
  orderTotal: ['value'],
  adStorage: ['ad_storage', 'consent.ad_storage', 'consent', 'consent_state.ad_storage'],
  gcs: ['x-ga-gcs', 'x_ga_gcs'],
  gcd: ['x-ga-gcd', 'x_ga_gcd'],
  adUserData: ['ad_user_data', 'consent.ad_user_data', 'consent_state.ad_user_data'],
} as const satisfies Record<string, readonly string[]>;

export type Ga4Field = keyof typeof GA4_DEFAULTS;
export type Ga4Mapping = PathMapping<Ga4Field>;
export type Ga4MappingConfig = PathMappingConfig<Ga4Field>;

/** What GA4's mappers read from the running configuration (its part of order-events' SourceConfig). */
export interface Ga4SourceConfig {
  ga4Paths: Ga4Mapping;
}

export const resolveGa4Mapping = (overrides: Ga4MappingConfig = {}): Ga4Mapping => resolvePaths('ga4Mapping', GA4_DEFAULTS, overrides);

const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);

export function isGa4Event(body: object): boolean {
  const b = body as Record<string, unknown>;
  return typeof b['event_name'] === 'string' || (typeof b['event'] === 'string' && 'transaction_id' in b && !('orderId' in b));
}

const INTENTS: Readonly<Record<string, EventIntent>> = { purchase: 'purchase', refund: 'refund' };
/** GA4's recommended purchase event, for an `ignored` answer. */
const PURCHASE_NAMES = ['purchase'];

const SIGNALS: Readonly<Record<string, boolean>> = { granted: true, denied: false, true: true, false: false, 1: true, 0: false };

/** A Consent Mode value as a brand passes it on: granted/denied (any case), a boolean, 1/0. */
function granted(f: Found): boolean | undefined {
  if (typeof f.value === 'boolean') return f.value;
  // `consent: {ad_user_data: …}` (Measurement Protocol style): its parts have paths of their own.
  if (isObject(f.value)) return undefined;
  const g = SIGNALS[String(f.value).trim().toLowerCase()];
  if (g === undefined) throw new InputError('invalid_field', `${f.source} must be granted or denied`, f.source);
  return g;
}

/** `x-ga-gcs` is `G1` + the ad_storage digit + the analytics_storage digit: 1 granted, 0 denied, - not set. */
const fromGcs = (f: Found): boolean | undefined => {
  const m = /^G1([01])/.exec(String(f.value));
  return m ? m[1] === '1' : undefined;
};

/**
 * `x-ga-gcd` (e.g. `13r3r3r3r5l1`): the character at index 2 is ad_storage, a base64url digit whose
 * bits 2-3 are the default state and bits 0-1 the update (2 denied, 3 granted, else not set); the
 * update wins over the default. The states are the letters `a`-`z` (26-51; in practice `l`-`v`).
 * Google does not document it: a character that decodes to neither state is "not known", never a
 * refusal.
 */
const fromGcd = (f: Found): boolean | undefined => {
  const n = String(f.value).charCodeAt(2) - 71;
  if (!(n >= 26 && n <= 51)) return undefined;
  const state = [n & 3, (n >> 2) & 3].find((s) => s >= 2);
  return state === undefined ? undefined : state === 3;
};

/**
 * Consent for affiliate tracking is Google's ad_storage signal, read from the first of: an explicit
 * `ad_storage` (or `consent`) the tag passes on, `x-ga-gcs`, `x-ga-gcd`; and only when none carries
 * it, `ad_user_data` (all a Measurement Protocol body has). Absent everywhere: not known.
 */
export function ga4Consent(event: unknown, m: Ga4Mapping): { value: boolean | undefined; source: string } {
  const readers: Array<[readonly FieldPath[], (f: Found) => boolean | undefined]> = [
    [m.adStorage, granted],
    [m.gcs, fromGcs],
    [m.gcd, fromGcd],
    [m.adUserData, granted],
  ];
  for (const [paths, read] of readers) {
    for (const p of paths) {
      const f = pick(event, [p]);
      const value = f.value === undefined ? undefined : read(f);
      if (value !== undefined) return { value, source: f.source };
    }
  }
  return { value: undefined, source: pick(undefined, m.adStorage).source || 'ad_storage' };
}

/** GA4 as an order source (core/order-events.ts). */
export const ga4Orders: OrderSourceMapper<Ga4SourceConfig> = {
  source: 'ga4',
  recognises: isGa4Event,
  read(body, config) {
    const m = config.ga4Paths;
    const name = pick(body, m.event);
    return { ...listOrderEvent('ga4', body, m, name, intentOf(name, INTENTS), () => ga4Consent(body, m)), purchaseNames: PURCHASE_NAMES };
  },
};

/** GA4 page views as clicks: the clickref from `clickref`, else from `page_location`'s query. */
export const ga4Clicks: ClickSource<Ga4SourceConfig> = {
  recognises: isGa4Event,
  read: (body, config) => mapClick(body, config.ga4Paths, ga4Consent(body, config.ga4Paths)),
};
