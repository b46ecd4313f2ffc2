/**
 * The exact Partnerize request for an order: its call spec (everything but the clickref) and the
 * clickref, as the URL README "The Partnerize call" describes — short enough to be delivered.
 *
 * Partnerize documents no URL limit and no other form for large baskets (a POST carries the same
 * URL; no body format exists), while servers, proxies and CDNs commonly refuse request lines over
 * 8 KB. A basket whose call would be longer is sent in the most detailed form that fits, never
 * refused (a caller sent it in good faith, and Tealium does not retry a 4xx):
 *
 *   none      every item as sent
 *   lines     identical lines merged, quantities added (nothing lost)
 *   category  one item per category worth its total, quantity 1 (SKUs and item metadata dropped)
 *   order     one item worth the order total (per-category commission rules then see one category)
 *   order_without_metadata   the same without conversion metadata
 *
 * Commission is computed on value per category, so `category` keeps what is paid exactly; the
 * record keeps the order as received (its call spec) and says which form was sent.
 */
import { InputError } from './errors.js';
import { buildConversionUrl, type ConversionCall, type ConversionItem, type HttpMethod, type OutgoingCall } from './partnerize-url.js';

/**
 * Everything needed to build the Partnerize call except the clickref: lets an operator replay an
 * unattributed conversion with a clickref found later (kept as the record's `call`).
 */
export interface CallSpec extends Omit<ConversionCall, 'clickref'> {
  baseUrl: string;
  method: HttpMethod;
}

/** Longest Partnerize call we send: servers commonly refuse longer request lines (414). */
export const MAX_CALL_LENGTH = 8000;

export const COMPACTIONS = ['none', 'lines', 'category', 'order', 'order_without_metadata'] as const;
export type Compaction = (typeof COMPACTIONS)[number];

export interface BuiltRequest {
  request: OutgoingCall;
  /** How the basket was condensed to fit (`none`: as sent). */
  compaction: Compaction;
}

/** The exact request, condensed only as far as needed to fit {@link MAX_CALL_LENGTH}. */
export function requestFor(call: CallSpec, clickref: string, maxLength = MAX_CALL_LENGTH): BuiltRequest {
  const { baseUrl, method, ...rest } = call;
  let shortest = 0;
  for (const compaction of COMPACTIONS) {
    const condensed = condense(rest, compaction);
    const url = buildConversionUrl(baseUrl, { ...condensed, clickref });
    if (url.length <= maxLength) return { request: { method, url }, compaction };
    shortest = url.length;
  }
  // Only a base URL or a clickref of absurd length gets here: a deployment error, not an order's.
  throw new InputError(
    'call_too_long',
    `the Partnerize call would be ${shortest} characters even with a single item (at most ${maxLength})`,
    'items',
  );
}

type Spec = Omit<CallSpec, 'baseUrl' | 'method'>;

function condense(spec: Spec, compaction: Compaction): Spec {
  switch (compaction) {
    case 'none':
      return spec;
    case 'lines':
      return { ...spec, items: mergeLines(spec.items) };
    case 'category':
      return { ...spec, items: byCategory(spec.items) };
    case 'order':
      return { ...spec, items: [wholeOrder(spec.items)] };
    case 'order_without_metadata':
      return { ...spec, metadata: undefined, items: [wholeOrder(spec.items)] };
  }
}

/** Identical lines (same category, SKU, unit value and metadata) as one line with their quantities added. */
function mergeLines(items: readonly ConversionItem[]): ConversionItem[] {
  const merged = new Map<string, ConversionItem>();
  for (const item of items) {
    const key = JSON.stringify([item.category ?? null, item.sku ?? null, item.value, item.metadata ?? null]);
    const seen = merged.get(key);
    merged.set(key, seen ? { ...seen, quantity: seen.quantity + item.quantity } : { ...item });
  }
  return [...merged.values()];
}

function byCategory(items: readonly ConversionItem[]): ConversionItem[] {
  const groups = new Map<string | undefined, ConversionItem[]>();
  for (const item of items) groups.set(item.category, [...(groups.get(item.category) ?? []), item]);
  return [...groups].map(([category, group]) => ({
    ...(category === undefined ? {} : { category }),
    value: lineTotal(group),
    quantity: 1,
  }));
}

function wholeOrder(items: readonly ConversionItem[]): ConversionItem {
  const categories = new Set(items.map((i) => i.category));
  const [only] = categories;
  return { ...(categories.size === 1 && only !== undefined ? { category: only } : {}), value: lineTotal(items), quantity: 1 };
}

/**
 * Σ value × quantity, exactly: values are plain decimals (strings), added as scaled integers so no
 * cent is lost to floating point.
 */
export function lineTotal(items: ReadonlyArray<Pick<ConversionItem, 'value' | 'quantity'>>): string {
  const places = Math.max(0, ...items.map((i) => i.value.split('.')[1]?.length ?? 0));
  const scale = 10n ** BigInt(places);
  let sum = 0n;
  for (const i of items) {
    const [whole = '0', frac = ''] = i.value.split('.');
    sum += (BigInt(whole) * scale + BigInt(frac.padEnd(places, '0') || '0')) * BigInt(i.quantity);
  }
  if (places === 0) return sum.toString();
  const digits = sum.toString().padStart(places + 1, '0');
  const fraction = digits.slice(-places).replace(/0+$/, '');
  return fraction === '' ? digits.slice(0, -places) : `${digits.slice(0, -places)}.${fraction}`;
}
