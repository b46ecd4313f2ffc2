/**
 * Readers for configuration values. One reader per kind of value, used wherever a setting arrives:
 * cdk.json context (JSON values), `cdk deploy -c key=value` and environment variables (text). Each
 * takes `unknown` and gives a value or a reason, like the request-field converters in fields.ts.
 */
import type { Converted } from './fields.js';

export type Reader<T> = (raw: unknown) => Converted<T>;

const ok = <T>(value: T): Converted<T> => ({ ok: true, value });
const fail = (message: string): Converted<never> => ({ ok: false, message });
const shown = (raw: unknown): string => (typeof raw === 'string' ? `'${raw}'` : JSON.stringify(raw));

/** JSON text (`-c key='[1,2]'`, an environment variable) read as the value it writes. */
function fromText(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  const t = raw.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return raw;
    }
  }
  return raw;
}

export const choice =
  <T extends string>(values: readonly T[]): Reader<T> =>
  (raw) => {
    const v = typeof raw === 'string' ? raw.trim() : raw;
    return (values as readonly unknown[]).includes(v) ? ok(v as T) : fail(`must be one of ${values.join(', ')}, got ${shown(raw)}`);
  };

export const wholeNumber =
  (min: number, max: number): Reader<number> =>
  (raw) => {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) return fail(`must be a whole number from ${min} to ${max}, got ${shown(raw)}`);
    return ok(n);
  };

export const matching =
  (pattern: RegExp, what: string): Reader<string> =>
  (raw) =>
    typeof raw === 'string' && pattern.test(raw) ? ok(raw) : fail(`must be ${what}, got ${shown(raw)}`);

/** An http(s) URL (the deploy config asks https on top: lib/config.ts). */
export const httpUrl: Reader<string> = (raw) =>
  typeof raw === 'string' && /^https?:\/\/[^\s/]+(\/\S*)?$/.test(raw) && URL.canParse(raw)
    ? ok(raw)
    : fail(`must be an http(s) URL, got ${shown(raw)}`);

/** A list: JSON array, or comma-separated text; blanks dropped. */
export const textList =
  (opts: { atLeastOne?: boolean } = {}): Reader<string[]> =>
  (raw) => {
    const v = fromText(raw);
    const list = typeof v === 'string' ? v.split(',') : v;
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string'))
      return fail(`must be a list of text (JSON or comma-separated), got ${shown(raw)}`);
    const items = (list as string[]).map((s) => s.trim()).filter((s) => s !== '');
    return opts.atLeastOne && items.length === 0 ? fail('must name at least one') : ok(items);
  };

/** A positive number (seconds), or with `whole` a positive whole number (a count). */
export const positiveNumber =
  (opts: { whole?: boolean } = {}): Reader<number> =>
  (raw) => {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
    return Number.isFinite(n) && n > 0 && (!opts.whole || Number.isInteger(n))
      ? ok(n)
      : fail(`must be a positive ${opts.whole ? 'whole number' : 'number'}, got ${shown(raw)}`);
  };

/** Positive numbers (seconds): JSON array or comma-separated text. */
export const positiveNumbers: Reader<number[]> = (raw) => {
  const v = fromText(raw);
  const list =
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map(Number)
      : v;
  if (!Array.isArray(list) || list.length === 0 || list.some((n) => typeof n !== 'number' || !Number.isFinite(n) || n <= 0)) {
    return fail(`must be a list of positive numbers such as 60,300,900, got ${shown(raw)}`);
  }
  return ok(list as number[]);
};

/** A JSON object (or its text), checked by `check`. */
export const jsonObject =
  <T>(check: (o: Record<string, unknown>) => Converted<T>): Reader<T> =>
  (raw) => {
    const v = fromText(raw);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail(`must be a JSON object, got ${shown(raw)}`);
    return check(v as Record<string, unknown>);
  };

/** A regular expression, matched case-insensitively. */
export const pattern: Reader<string> = (raw) => {
  if (typeof raw !== 'string' || raw === '') return fail(`must be a regular expression, got ${shown(raw)}`);
  try {
    new RegExp(raw, 'i');
    return ok(raw);
  } catch (err) {
    return fail(`must be a regular expression: ${(err as Error).message}`);
  }
};

/** Any text (trimmed). */
export const anyText =
  (max: number): Reader<string> =>
  (raw) =>
    typeof raw === 'string' && raw.length <= max ? ok(raw.trim()) : fail(`must be text of at most ${max} characters, got ${shown(raw)}`);
