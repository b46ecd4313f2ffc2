import { isBlank, text, type Converted } from './fields.js';

/**
 * Partnerize parameter names a metadata key may not shadow: a metadata `clickref:` segment would
 * otherwise override (or duplicate) the real one (support question Q8, docs/support-questions.md).
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set([
  'tracking_mode',
  'campaign',
  'camref',
  'clickref',
  'conversionref',
  'currency',
  'country',
  'customertype',
  'voucher',
  'conversion_time',
  'device',
  'context',
  'category',
  'sku',
  'value',
  'quantity',
  'adref',
  'pubref',
  'custref',
  'customer_reference',
  'publisher_reference',
  'advertiser_reference',
  'tsource',
  'tmetric',
  'tmethod',
  'tplatform',
]);

export const METADATA_KEY = /^[a-z0-9_]{1,64}$/;
export const MAX_METADATA_KEYS = 50;
const VALUE_OPTIONS = { max: 1024, scalars: true } as const;

export type Metadata = Record<string, string>;

export interface MetadataIssue {
  /** The key at fault, if the fault is in one entry. */
  key?: string;
  message: string;
}

/**
 * Validates a metadata object: keys `[a-z0-9_]+` (at most 64), not reserved; values strings,
 * numbers or booleans (written as text). Blank values are dropped. Key order is kept.
 */
export function parseMetadata(v: unknown): { ok: true; value: Metadata | undefined } | { ok: false; issue: MetadataIssue } {
  if (isBlank(v)) return { ok: true, value: undefined };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return { ok: false, issue: { message: 'must be an object of key/value pairs' } };
  }
  const entries = Object.entries(v);
  if (entries.length > MAX_METADATA_KEYS) {
    return { ok: false, issue: { message: `must have at most ${MAX_METADATA_KEYS} keys` } };
  }
  const out: Array<[string, string]> = [];
  for (const [key, raw] of entries) {
    if (key === '__proto__') return { ok: false, issue: { key, message: 'key __proto__ is not allowed' } };
    if (!METADATA_KEY.test(key)) {
      return { ok: false, issue: { key, message: 'key must be 1-64 characters of a-z, 0-9 and _' } };
    }
    if (RESERVED_KEYS.has(key)) {
      return { ok: false, issue: { key, message: `key '${key}' is a reserved Partnerize parameter` } };
    }
    if (isBlank(raw)) continue;
    const value: Converted<string> = text(raw, VALUE_OPTIONS);
    if (!value.ok) return { ok: false, issue: { key, message: value.message } };
    out.push([key, value.value]);
  }
  return { ok: true, value: out.length > 0 ? Object.fromEntries(out) : undefined };
}
