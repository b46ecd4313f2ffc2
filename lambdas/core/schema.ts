/**
 * The native shapes of a click and an order. Every failure names its field as the caller sent it
 * (core/shape.ts checks the structure; fields.ts converts each value).
 */
import { checkClickref } from './clickref.js';
import { InputError } from './errors.js';
import {
  consent,
  country,
  currency,
  customerType,
  decimal,
  device,
  instant,
  isBlank,
  optionalDecimal,
  optionalText,
  quantity,
  requiredText,
  type Converted,
} from './fields.js';
import { parseMetadata, type Metadata } from './metadata.js';
import { field, list, object, optional, type Out, type Shape } from './shape.js';

type Conv<T> = (v: unknown) => Converted<T>;

/** Metadata: its issue names the key at fault. */
const metadataField: Shape<Metadata | undefined> = (input, path) => {
  const r = parseMetadata(input);
  if (r.ok) return r;
  return { ok: false, issue: { path: r.issue.key === undefined ? path : [...path, r.issue.key], message: r.issue.message } };
};

/** An explicit clickref on an order: blank means "none, look it up"; anything else must be valid. */
const optionalClickref: Conv<string | undefined> = (v) => (isBlank(v) ? { ok: true, value: undefined } : checkClickref(v));

/** Only a JSON boolean: a stray "yes" must never silently stop a live send. */
const strictFlag: Conv<boolean | undefined> = (v) =>
  v === undefined || v === null || typeof v === 'boolean'
    ? { ok: true, value: v ?? undefined }
    : { ok: false, message: 'must be true or false (a JSON boolean)' };

/** A click's session key (core/session-id.ts): blank is absent. */
const sessionKey: Conv<string | undefined> = (v) =>
  isBlank(v)
    ? { ok: true, value: undefined }
    : typeof v === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(v)
      ? { ok: true, value: v }
      : { ok: false, message: 'must be 16-128 letters, digits, _ or - (the snippet sends 128 random bits, hex)' };

export const SESSION_ID_MAX = 256;
const sessionIdText = { max: SESSION_ID_MAX, noControl: true } as const;
export const MAX_ITEMS = 500;

export const ItemSchema = object(
  {
    sku: field((v) => optionalText(v, { max: 256, scalars: true })),
    category: field((v) => optionalText(v, { max: 256, scalars: true })),
    value: field(decimal),
    quantity: field(quantity),
    metadata: metadataField,
  },
  'must be an object',
);

export const OrderSchema = object(
  {
    event: field((v) => optionalText(v, { max: 128 })),
    orderId: field((v) => requiredText(v, { max: 200, scalars: true, noControl: true })),
    sessionId: field((v) => optionalText(v, sessionIdText)),
    clickref: field(optionalClickref),
    currency: field(currency),
    country: field(country),
    customerType: field(customerType),
    voucher: field((v) => optionalText(v, { max: 256, scalars: true })),
    /** The shop's hostname (or a URL of it): routes the order to its site's campaign (core/campaigns.ts). */
    site: field((v) => optionalText(v, { max: 2048, noControl: true })),
    /** The campaign the order belongs to, by rule name or campaign id (core/campaigns.ts). */
    campaign: field((v) => optionalText(v, { max: 64, scalars: true, noControl: true })),
    orderTime: field(instant),
    consent: field(consent),
    userAgent: field((v) => optionalText(v, { max: 2048 })),
    device: field(device),
    /** This one postback is a dry run: record the exact call, do not send it (the CLI's send-test). JSON true only. */
    dryRun: field(strictFlag),
    /** Absent or empty when the checkout only knows the total (`value`): see `orderItems`. */
    items: optional(list(ItemSchema, 'items', MAX_ITEMS)),
    /** The order's total, for orders sent without items: one item of quantity 1. */
    value: field(optionalDecimal),
    metadata: metadataField,
  },
  'must be a JSON object',
);

export const ClickSchema = object(
  {
    sessionId: field((v) => requiredText(v, sessionIdText)),
    clickref: field(checkClickref),
    consent: field(consent),
    userAgent: field((v) => optionalText(v, { max: 2048 })),
    /** A device class the page knows better than its user agent says (an iPad asking for desktop sites). */
    device: field(device),
    /** The browser's proof that it made the session's click (core/session-id.ts). */
    sessionKey: field(sessionKey),
  },
  'must be a JSON object',
);

/** One refunded or returned line of an order update: the SKU is what identifies it at Partnerize. */
export const RefundLineSchema = object(
  {
    sku: field((v) => requiredText(v, { max: 512, scalars: true })),
    quantity: field(quantity),
    value: field(optionalDecimal),
  },
  'must be an object',
);

/** An order update (README "Order lifecycle"): cancel, refund, return or approve an order. */
export const OrderUpdateSchema = object(
  {
    orderId: field((v) => requiredText(v, { max: 200, scalars: true, noControl: true })),
    reason: field((v) => optionalText(v, { max: 1024 })),
    /** The sender's id of this update: two updates with the same content and no id are one. */
    updateId: field((v) => optionalText(v, { max: 128, scalars: true, noControl: true })),
    /** For an update that arrives before its order, in a deployment with several prefixes: the order's campaign. */
    campaign: field((v) => optionalText(v, { max: 64, scalars: true, noControl: true })),
    items: optional(list(RefundLineSchema, 'items', MAX_ITEMS)),
  },
  'must be a JSON object',
);

export type Order = Out<typeof OrderSchema>;
export type OrderUpdateInput = Out<typeof OrderUpdateSchema>;
export type OrderItem = Out<typeof ItemSchema>;
export type Click = Out<typeof ClickSchema>;

/** `['items', 1, 'quantity']` → `items[1].quantity`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/**
 * Parses `input` with `schema`; the first failure becomes an {@link InputError} whose field is
 * `rename(path)` (Tealium mapping renames native paths back to the event's own).
 */
export function parseWith<T>(schema: Shape<T>, input: unknown, rename: (path: ReadonlyArray<PropertyKey>) => string = formatPath): T {
  const r = schema(input, []);
  if (r.ok) return r.value;
  const { issue } = r;
  const field = rename(issue.path);
  const code = issue.code ?? (issue.message === 'is required' ? 'missing_field' : 'invalid_field');
  const label = field === '' ? 'body' : field;
  throw new InputError(code, `${label} ${issue.message}`, field === '' ? undefined : field);
}
