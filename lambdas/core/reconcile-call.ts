/**
 * The order as the tracker sent it, read back from the exact call kept on the record
 * (core/partnerize-url.ts builds it): what Partnerize was told, after any condensing of the basket
 * (core/partnerize-request.ts), is what its report must be compared with. Every value in the call is
 * percent-encoded exactly once, so a literal `/`, `:`, `[` or `]` is always structure.
 */
import type { ConversionItem } from './partnerize-url.js';

export interface SentItem extends Pick<ConversionItem, 'category' | 'sku' | 'value' | 'quantity'> {}

export interface SentCall {
  campaignId?: string | undefined;
  clickref?: string | undefined;
  conversionRef?: string | undefined;
  currency?: string | undefined;
  /** `YYYY-MM-DD HH:MM:SS`, UTC, as sent. */
  conversionTime?: string | undefined;
  items: SentItem[];
}

const decode = (v: string): string | undefined => {
  try {
    return decodeURIComponent(v);
  } catch {
    return undefined;
  }
};

/** `key:value` segments of one level of the path, each value decoded. */
function segments(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const seg of text.split('/')) {
    const colon = seg.indexOf(':');
    if (colon <= 0) continue;
    const key = seg.slice(0, colon);
    const value = decode(seg.slice(colon + 1));
    if (value !== undefined && !out.has(key)) out.set(key, value);
  }
  return out;
}

/** The order a call carried. Unreadable parts are left out (an item without a plain value, for one). */
export function sentCallOf(url: string): SentCall {
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').split('?')[0] ?? '';
  const open = path.indexOf('[');
  const head = segments(open < 0 ? path : path.slice(0, open));
  const items: SentItem[] = [];
  for (const m of path.matchAll(/\[([^\]]*)\]/g)) {
    const s = segments(m[1] ?? '');
    const value = s.get('value');
    const quantity = s.get('quantity') ?? '1';
    if (value === undefined || !/^\d+(?:\.\d+)?$/.test(value) || !/^\d+$/.test(quantity)) continue;
    items.push({ category: s.get('category'), sku: s.get('sku'), value, quantity: Number(quantity) });
  }
  return {
    campaignId: head.get('campaign'),
    clickref: head.get('clickref'),
    conversionRef: head.get('conversionref'),
    currency: head.get('currency'),
    conversionTime: head.get('conversion_time'),
    items,
  };
}
