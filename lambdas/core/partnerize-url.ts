/**
 * The Partnerize S2S conversion call (README "The Partnerize call"; its shape is Partnerize's, fixed).
 *
 *   {baseUrl}/conversion/tracking_mode:api/campaign:{id}/clickref:{ref}/conversionref:{ref}/currency:{CCY}
 *     [/country:..][/customertype:..][/voucher:..][/conversion_time:..][/device:..][/{key}:{value}...]
 *     /[category:../sku:../value:../quantity:../{key}:{value}...] ... one block per item
 *
 * Every value is percent-encoded exactly once with encodeURIComponent, so `/ : [ ] % ? # &` and
 * spaces inside a value never break the path, and decoding a value gives back the original (support question Q5, docs/support-questions.md).
 */
import { InputError } from './errors.js';
import type { CustomerType, Device } from './fields.js';
import { METADATA_KEY, RESERVED_KEYS, type Metadata } from './metadata.js';

export interface ConversionItem {
  category?: string | undefined;
  sku?: string | undefined;
  /** Per-unit value after discounts, already a plain decimal. */
  value: string;
  quantity: number;
  metadata?: Metadata | undefined;
}

export interface ConversionCall {
  campaignId: string;
  clickref: string;
  conversionRef: string;
  currency: string;
  country?: string | undefined;
  customerType?: CustomerType | undefined;
  voucher?: string | undefined;
  /** Epoch ms; written as UTC `YYYY-MM-DD HH:MM:SS`. */
  conversionTime?: number | undefined;
  device?: Device | undefined;
  metadata?: Metadata | undefined;
  items: readonly ConversionItem[];
}

export type HttpMethod = 'GET' | 'POST';

/** The exact outgoing request, kept on the conversion record (support question Q10, docs/support-questions.md) and replayed by retries. */
export interface OutgoingCall {
  method: HttpMethod;
  url: string;
}

/** encodeURIComponent, refusing strings that are not well-formed Unicode (they cannot round-trip). */
export function encodeValue(value: string, field: string): string {
  if (!value.isWellFormed()) throw new InputError('invalid_field', `${field} must be valid Unicode text`, field);
  return encodeURIComponent(value);
}

/** `2026-11-24 10:15:00`, UTC, the form Partnerize integrations send for `conversion_time`. */
export function formatConversionTime(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ');
}

function segment(key: string, value: string | number | undefined, field: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  return `${key}:${encodeValue(String(value), field)}`;
}

function metadataSegments(metadata: Metadata | undefined, field: string): string[] {
  if (!metadata) return [];
  return Object.entries(metadata).flatMap(([key, value]) => {
    if (!METADATA_KEY.test(key) || RESERVED_KEYS.has(key)) {
      throw new InputError('invalid_field', `${field}.${key} is not an allowed metadata key`, `${field}.${key}`);
    }
    const s = segment(key, value, `${field}.${key}`);
    return s === undefined ? [] : [s];
  });
}

function itemBlock(item: ConversionItem, i: number): string {
  const f = `items[${i}]`;
  if (!Number.isSafeInteger(item.quantity) || item.quantity < 1) {
    throw new InputError('invalid_field', `${f}.quantity must be a positive whole number`, `${f}.quantity`);
  }
  if (!/^\d+(?:\.\d+)?$/.test(item.value)) {
    throw new InputError('invalid_field', `${f}.value must be a plain decimal`, `${f}.value`);
  }
  const parts = [
    segment('category', item.category, `${f}.category`),
    segment('sku', item.sku, `${f}.sku`),
    `value:${item.value}`,
    `quantity:${item.quantity}`,
    ...metadataSegments(item.metadata, `${f}.metadata`),
  ].filter((p): p is string => p !== undefined);
  return `[${parts.join('/')}]`;
}

/** The path from `/conversion/` on, without the base URL. */
export function buildConversionPath(call: ConversionCall): string {
  const required: Array<[string, string, string]> = [
    ['campaign', call.campaignId, 'campaignId'],
    ['clickref', call.clickref, 'clickref'],
    ['conversionref', call.conversionRef, 'conversionRef'],
    ['currency', call.currency, 'currency'],
  ];
  const parts = ['conversion', 'tracking_mode:api'];
  for (const [key, value, field] of required) {
    if (value === '') throw new InputError('missing_field', `${field} is required`, field);
    parts.push(`${key}:${encodeValue(value, field)}`);
  }
  const optional = [
    segment('country', call.country, 'country'),
    segment('customertype', call.customerType, 'customerType'),
    segment('voucher', call.voucher, 'voucher'),
    call.conversionTime === undefined ? undefined : segment('conversion_time', formatConversionTime(call.conversionTime), 'orderTime'),
    segment('device', call.device, 'device'),
  ];
  for (const s of optional) if (s !== undefined) parts.push(s);
  parts.push(...metadataSegments(call.metadata, 'metadata'));
  for (const [i, item] of call.items.entries()) parts.push(itemBlock(item, i));
  return `/${parts.join('/')}`;
}

export function buildConversionUrl(baseUrl: string, call: ConversionCall): string {
  return baseUrl.replace(/\/+$/, '') + buildConversionPath(call);
}

/**
 * The same call with another clickref: the `clickref:` segment (the first one, before any item
 * block) replaced. Clickrefs need no encoding, so nothing else in the URL changes.
 */
export function withClickref(call: OutgoingCall, clickref: string): OutgoingCall {
  const at = call.url.indexOf('/clickref:');
  if (at < 0) throw new Error('the stored call has no clickref segment');
  const end = call.url.indexOf('/', at + 1);
  const url = `${call.url.slice(0, at)}/clickref:${encodeURIComponent(clickref)}${end < 0 ? '' : call.url.slice(end)}`;
  return { method: call.method, url };
}
