/**
 * The native shapes of a click and an order, validated with zod/mini (13 KB, against ~450 KB for
 * full zod in a Lambda bundle). Every failure names its field as the caller sent it.
 */
import * as z from 'zod/mini';
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
import { parseMetadata } from './metadata.js';

type Conv<T> = (v: unknown) => Converted<T>;

/** A field checked by a converter: a failure becomes an issue at this field's path. */
function field<T>(conv: Conv<T>) {
  return z.transform((input: unknown, ctx) => {
    const r = conv(input);
    if (r.ok) return r.value;
    const code = (r as { code?: string }).code;
    ctx.issues.push({ code: 'custom', message: r.message, input, ...(code ? { params: { code } } : {}) });
    return z.NEVER;
  });
}

const metadataField = z.transform((input: unknown, ctx) => {
  const r = parseMetadata(input);
  if (r.ok) return r.value;
  ctx.issues.push({ code: 'custom', message: r.issue.message, input, path: r.issue.key === undefined ? [] : [r.issue.key] });
  return z.NEVER;
});

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

const listError = (what: string) => (iss: { input: unknown }) => (iss.input === undefined ? 'is required' : `must be a list of ${what}`);

export const ItemSchema = z.object(
  {
    sku: field((v) => optionalText(v, { max: 256, scalars: true })),
    category: field((v) => optionalText(v, { max: 256, scalars: true })),
    value: field(decimal),
    quantity: field(quantity),
    metadata: metadataField,
  },
  { error: 'must be an object' },
);

export const OrderSchema = z.object(
  {
    event: field((v) => optionalText(v, { max: 128 })),
    orderId: field((v) => requiredText(v, { max: 200, scalars: true, noControl: true })),
    sessionId: field((v) => optionalText(v, sessionIdText)),
    clickref: field(optionalClickref),
    currency: field(currency),
    country: field(country),
    customerType: field(customerType),
    voucher: field((v) => optionalText(v, { max: 256, scalars: true })),
    orderTime: field(instant),
    consent: field(consent),
    userAgent: field((v) => optionalText(v, { max: 2048 })),
    device: field(device),
    /** This one postback is a dry run: record the exact call, do not send it (the CLI's send-test). JSON true only. */
    dryRun: field(strictFlag),
    /** Absent or empty when the checkout only knows the total (`value`): see `orderItems`. */
    items: z.optional(
      z.array(ItemSchema, { error: listError('items') }).check(z.maxLength(MAX_ITEMS, `must have at most ${MAX_ITEMS} items`)),
    ),
    /** The order's total, for orders sent without items: one item of quantity 1. */
    value: field(optionalDecimal),
    metadata: metadataField,
  },
  { error: 'must be a JSON object' },
);

export const ClickSchema = z.object(
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
  { error: 'must be a JSON object' },
);

export type Order = z.output<typeof OrderSchema>;
export type OrderItem = z.output<typeof ItemSchema>;
export type Click = z.output<typeof ClickSchema>;

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
export function parseWith<S extends z.ZodMiniType>(
  schema: S,
  input: unknown,
  rename: (path: ReadonlyArray<PropertyKey>) => string = formatPath,
): z.output<S> {
  const r = z.safeParse(schema, input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path ?? [];
  const field = rename(path);
  const specific = (issue as { params?: { code?: unknown } } | undefined)?.params?.code;
  const code = typeof specific === 'string' ? specific : issue?.message === 'is required' ? 'missing_field' : 'invalid_field';
  const label = field === '' ? 'body' : field;
  throw new InputError(code, `${label} ${issue?.message ?? 'is invalid'}`, field === '' ? undefined : field);
}
