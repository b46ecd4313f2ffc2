/**
 * The native shapes of a click and an order, validated with zod/mini (13 KB, against ~450 KB for
 * full zod in a Lambda bundle). Every failure names its field as the caller sent it.
 */
import * as z from 'zod/mini';
import { CLICKREF_PATTERN } from './clickref.js';
import { InputError } from './errors.js';
import {
  consent, country, currency, customerType, decimal, device, instant, isBlank, optionalText, quantity,
  requiredText, type Converted,
} from './fields.js';
import { parseMetadata } from './metadata.js';

type Conv<T> = (v: unknown) => Converted<T>;

/** A field checked by a converter: a failure becomes an issue at this field's path. */
function field<T>(conv: Conv<T>) {
  return z.transform((input: unknown, ctx) => {
    const r = conv(input);
    if (r.ok) return r.value;
    ctx.issues.push({ code: 'custom', message: r.message, input });
    return z.NEVER;
  });
}

const metadataField = z.transform((input: unknown, ctx) => {
  const r = parseMetadata(input);
  if (r.ok) return r.value;
  ctx.issues.push({ code: 'custom', message: r.issue.message, input, path: r.issue.key === undefined ? [] : [r.issue.key] });
  return z.NEVER;
});

/** An explicit clickref: blank means "none, look it up"; anything else must be a valid clickref. */
const optionalClickref: Conv<string | undefined> = (v) => {
  if (isBlank(v)) return { ok: true, value: undefined };
  if (typeof v !== 'string') return { ok: false, message: 'must be a string' };
  return CLICKREF_PATTERN.test(v)
    ? { ok: true, value: v }
    : { ok: false, message: "must be 1-256 characters of A-Z, a-z, 0-9, '_' or '-' (sent exactly, case-sensitive)" };
};

const requiredClickref: Conv<string> = (v) => {
  if (v === undefined || v === null) return { ok: false, message: 'is required' };
  if (typeof v === 'string' && v.trim() === '') return { ok: false, message: 'is blank' };
  const r = optionalClickref(v);
  return r.ok ? { ok: true, value: r.value as string } : r;
};

export const SESSION_ID_MAX = 256;
const sessionIdText = { max: SESSION_ID_MAX, noControl: true } as const;
export const MAX_ITEMS = 500;

const listError = (what: string) => (iss: { input: unknown }) =>
  iss.input === undefined ? 'is required' : `must be a list of ${what}`;

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
    items: z.array(ItemSchema, { error: listError('items') }).check(
      z.minLength(1, 'must have at least one item'),
      z.maxLength(MAX_ITEMS, `must have at most ${MAX_ITEMS} items`),
    ),
    metadata: metadataField,
  },
  { error: 'must be a JSON object' },
);

export const ClickSchema = z.object(
  {
    sessionId: field((v) => requiredText(v, sessionIdText)),
    clickref: field(requiredClickref),
    consent: field(consent),
    userAgent: field((v) => optionalText(v, { max: 2048 })),
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
  const code = issue?.message === 'is required' ? 'missing_field' : 'invalid_field';
  const label = field === '' ? 'body' : field;
  throw new InputError(code, `${label} ${issue?.message ?? 'is invalid'}`, field === '' ? undefined : field);
}
