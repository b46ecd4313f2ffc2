/**
 * Converters for the scalar fields of outside input (native JSON or a mapped Tealium event).
 * Each takes `unknown` and gives a normalised value or a reason; `schema.ts` wires them into
 * structure checks (shape.ts) so every failure carries the path of the failing field.
 */

export type Converted<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Converted<T> => ({ ok: true, value });
const fail = (message: string): Converted<never> => ({ ok: false, message });

/** Absent, `null` or an all-blank string: tag managers send `""` for unset variables. */
export const isBlank = (v: unknown): boolean => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's job.
const CONTROL = /[\u0000-\u001f\u007f]/;
const REPLACEMENT_CHARACTER = '\uFFFD';

export interface TextOptions {
  max: number;
  /** Allow finite numbers and booleans too, written in their JSON form (order ids often are numbers). */
  scalars?: boolean;
  /** Reject control characters and U+FFFD (for ids and keys). */
  noControl?: boolean;
}

/** A string value (or, if allowed, a JSON scalar), well-formed Unicode, at most `max` characters. */
export function text(v: unknown, opts: TextOptions): Converted<string> {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (opts.scalars && typeof v === 'number' && Number.isFinite(v)) s = plainDecimal(v) ?? String(v);
  else if (opts.scalars && typeof v === 'boolean') s = String(v);
  else return fail(opts.scalars ? 'must be a string or a number' : 'must be a string');
  if (!s.isWellFormed()) return fail('must be valid Unicode text');
  if (s.length > opts.max) return fail(`must be at most ${opts.max} characters`);
  if (opts.noControl && CONTROL.test(s)) return fail('must not contain control characters');
  // U+FFFD is what a decoder writes for bytes that were not UTF-8: as an id it would make two ids one.
  if (opts.noControl && s.includes(REPLACEMENT_CHARACTER)) return fail('must not contain U+FFFD (bytes that were not valid UTF-8)');
  return ok(s);
}

/** Required text: blank is "is required". */
export function requiredText(v: unknown, opts: TextOptions): Converted<string> {
  return isBlank(v) ? fail('is required') : text(v, opts);
}

/** Optional text: blank is absent. */
export function optionalText(v: unknown, opts: TextOptions): Converted<string | undefined> {
  return isBlank(v) ? ok(undefined) : text(v, opts);
}

/**
 * Writes a non-negative finite number as a plain decimal: no exponent, no thousands separator,
 * the shortest digits that read back as the same double. `undefined` for anything else.
 */
export function plainDecimal(n: number): string | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined;
  if (Object.is(n, -0)) n = 0;
  const s = String(n);
  const m = /^(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, intPart = '', fracPart = '', expPart = '0'] = m;
  const digits = intPart + fracPart;
  const point = intPart.length + Number(expPart);
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`.replace(/0+$/, '');
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

const DECIMAL_STRING = /^(\d+)(?:\.(\d+))?$/;
/**
 * Partnerize's bounds on a value (its API takes an item value from 0 to 99,999,999.9999): a value
 * beyond them could not be stored as sent, and unbounded digits would make an unbounded URL.
 */
export const MAX_VALUE = 99_999_999.9999;
export const MAX_DECIMAL_PLACES = 4;
const MAX_INTEGER_DIGITS = 8;
/** No bounded value needs more; a stringified double needs at most 24. */
const MAX_DECIMAL_TEXT = 32;
/** Every double keeps 15 significant digits; the 16th and 17th of its shortest form are binary noise. */
const DOUBLE_DIGITS = 15;
const TOO_PRECISE = `must have at most ${MAX_DECIMAL_PLACES} decimal places (Partnerize's limit), e.g. 19.99`;
const TOO_LARGE = `must be at most ${MAX_VALUE} (Partnerize's limit)`;

const decimalPlaces = (s: string): number => s.split('.')[1]?.length ?? 0;

/**
 * A double as a plain decimal at the precision it holds: a data layer's `0.1 + 0.2` prints as
 * 0.30000000000000004 and means 0.3, while digits a sender meant beyond 4 places stay (and are refused).
 */
const doubleAsDecimal = (n: number): string => plainDecimal(Number(n.toPrecision(DOUBLE_DIGITS))) as string;

function bounded(s: string): Converted<string> {
  if (Number(s) > MAX_VALUE) return fail(TOO_LARGE);
  return decimalPlaces(s) > MAX_DECIMAL_PLACES ? fail(TOO_PRECISE) : ok(s);
}

/**
 * A money value: a number or a numeric string (`"19.99"`), non-negative, at most 99,999,999.9999
 * with at most 4 decimal places, written as a plain decimal.
 */
export function decimal(v: unknown): Converted<string> {
  if (isBlank(v)) return fail('is required');
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return fail('must be a finite number');
    if (v < 0) return fail('must not be negative');
    return bounded(doubleAsDecimal(v));
  }
  if (typeof v === 'string') {
    const s = v.trim();
    const m = DECIMAL_STRING.exec(s);
    if (!m) return fail('must be a plain decimal number such as 19.99 (no sign, exponent, currency symbol or thousands separator)');
    // Drop redundant leading zeros, keep the given fraction (19.90 stays 19.90).
    const whole = (m[1] as string).replace(/^0+(?=\d)/, '');
    const fraction = m[2] ?? '';
    let value = fraction === '' ? whole : `${whole}.${fraction}`;
    if (fraction.length > MAX_DECIMAL_PLACES) {
      // A stringified double's noise is read away; digits written on purpose are refused.
      const significant = `${whole}${fraction}`.replace(/^0+/, '').replace(/0+$/, '').length;
      if (significant > 17) return fail(TOO_PRECISE);
      value = doubleAsDecimal(Number(s));
    }
    if (whole.length > MAX_INTEGER_DIGITS) return fail(TOO_LARGE);
    if (s.length > MAX_DECIMAL_TEXT) return fail(`must be a plain decimal number of at most ${MAX_DECIMAL_TEXT} characters`);
    return bounded(value);
  }
  return fail('must be a number or a numeric string');
}

/** {@link decimal}, blank meaning absent. */
export function optionalDecimal(v: unknown): Converted<string | undefined> {
  return isBlank(v) ? ok(undefined) : decimal(v);
}

export const MAX_QUANTITY = 1_000_000;

/** A positive whole quantity from a number or a numeric string; absent means 1. */
export function quantity(v: unknown): Converted<number> {
  if (isBlank(v)) return ok(1);
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*\d+(?:\.0+)?\s*$/.test(v)) n = Number(v);
  else return fail('must be a positive whole number');
  if (!Number.isInteger(n) || n < 1) return fail('must be a positive whole number');
  if (n > MAX_QUANTITY) return fail(`must be at most ${MAX_QUANTITY}`);
  return ok(n);
}

/** Three-letter ISO 4217 code, any case in, upper case out. */
export function currency(v: unknown): Converted<string> {
  if (isBlank(v)) return fail('is required');
  if (typeof v !== 'string' || !/^\s*[A-Za-z]{3}\s*$/.test(v)) return fail('must be a three-letter ISO 4217 code such as GBP');
  return ok(v.trim().toUpperCase());
}

/** Two-letter ISO 3166-1 code, any case in, upper case out; blank is absent. */
export function country(v: unknown): Converted<string | undefined> {
  if (isBlank(v)) return ok(undefined);
  if (typeof v !== 'string' || !/^\s*[A-Za-z]{2}\s*$/.test(v)) return fail('must be a two-letter ISO 3166 code such as GB');
  return ok(v.trim().toUpperCase());
}

export type CustomerType = 'new' | 'existing';
const CUSTOMER_TYPES: Record<string, CustomerType> = { new: 'new', existing: 'existing', returning: 'existing', repeat: 'existing' };

/** Partnerize takes `new` or `existing`; `returning` and `repeat` mean existing. Blank is absent. */
export function customerType(v: unknown): Converted<CustomerType | undefined> {
  if (isBlank(v)) return ok(undefined);
  const t = typeof v === 'string' ? CUSTOMER_TYPES[v.trim().toLowerCase()] : undefined;
  return t ? ok(t) : fail("must be 'new' or 'existing' (or 'returning')");
}

export const DEVICES = ['desktop', 'mobile', 'tablet', 'bot', 'other'] as const;
export type Device = (typeof DEVICES)[number];

export function device(v: unknown): Converted<Device | undefined> {
  if (isBlank(v)) return ok(undefined);
  const d = typeof v === 'string' ? v.trim().toLowerCase() : undefined;
  return (DEVICES as readonly string[]).includes(d ?? '') ? ok(d as Device) : fail(`must be one of ${DEVICES.join(', ')}`);
}

/** A boolean; also the strings true/false/yes/no/1/0 some servers send. Blank is unknown. */
export function flag(v: unknown): Converted<boolean | undefined> {
  if (isBlank(v)) return ok(undefined);
  if (typeof v === 'boolean') return ok(v);
  const s = String(v).trim().toLowerCase();
  if (['true', 'yes', '1'].includes(s)) return ok(true);
  if (['false', 'no', '0'].includes(s)) return ok(false);
  return fail('must be true or false');
}

/** Consent: a {@link flag}; absent means the shopper has not said. */
export const consent = flag;

const MIN_TIME = Date.UTC(2000, 0, 1);
const MAX_TIME = Date.UTC(2100, 0, 1);
/** ISO 8601 date-time with an explicit zone (Z or ±hh:mm). */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * An order time: ISO 8601 with a zone, or epoch milliseconds (Tealium's `post_time`) as a number or
 * numeric string; values below 1e11 are read as epoch seconds. Blank is absent (receipt time is used).
 */
export function instant(v: unknown): Converted<number | undefined> {
  if (isBlank(v)) return ok(undefined);
  let ms: number;
  if (typeof v === 'number' || (typeof v === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(v))) {
    const n = Number(v);
    ms = n < 1e11 ? n * 1000 : n;
  } else if (typeof v === 'string' && ISO_DATE_TIME.test(v.trim())) {
    ms = Date.parse(v.trim().replace(' ', 'T'));
  } else {
    return fail('must be an ISO 8601 date-time with a time zone (2026-11-24T10:15:00Z) or epoch milliseconds');
  }
  if (!Number.isFinite(ms) || ms < MIN_TIME || ms >= MAX_TIME) return fail('must be a date between 2000 and 2100');
  return ok(Math.trunc(ms));
}
