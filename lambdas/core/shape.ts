/**
 * Structure checks for outside input: objects of fields, lists, optional parts — each field checked
 * by its converter (fields.ts), the first failure reported with its path. This is what the
 * functions used zod/mini for; these 60 lines do the same for the shapes the tracker reads, for
 * 15 KB less in every function bundle (the bundle budget, docs/performance.md).
 */
import type { Converted } from './fields.js';

export type Path = PropertyKey[];
export interface Issue {
  path: Path;
  message: string;
  /** A specific error code (e.g. `invalid_clickref`); `missing_field`/`invalid_field` otherwise. */
  code?: string | undefined;
}
export type Checked<T> = { ok: true; value: T } | { ok: false; issue: Issue };
/** A check of one part of the input, at `path`. */
export type Shape<T> = (input: unknown, path: Path) => Checked<T>;
export type Out<S> = S extends Shape<infer T> ? T : never;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const own = (o: Record<string, unknown>, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);

/** A scalar field checked by a converter (its failure may carry a specific `code`). */
export const field =
  <T>(conv: (v: unknown) => Converted<T>): Shape<T> =>
  (input, path) => {
    const r = conv(input);
    return r.ok ? r : { ok: false, issue: { path, message: r.message, code: (r as { code?: string }).code } };
  };

/** An object with these fields, in this order (the first failing field is reported); other keys are dropped. */
export const object =
  <F extends Record<string, Shape<unknown>>>(fields: F, error: string): Shape<{ [K in keyof F]: Out<F[K]> }> =>
  (input, path) => {
    if (!isObject(input)) return { ok: false, issue: { path, message: error } };
    const out: Record<string, unknown> = {};
    for (const [key, shape] of Object.entries(fields)) {
      const r = shape(own(input, key), [...path, key]);
      if (!r.ok) return r;
      out[key] = r.value;
    }
    return { ok: true, value: out as { [K in keyof F]: Out<F[K]> } };
  };

/** Absent (undefined) is fine; anything else must pass `shape`. */
export const optional =
  <T>(shape: Shape<T>): Shape<T | undefined> =>
  (input, path) =>
    input === undefined ? { ok: true, value: undefined } : shape(input, path);

/** A list of `item`s, at most `max` of them. */
export const list =
  <T>(item: Shape<T>, what: string, max: number): Shape<T[]> =>
  (input, path) => {
    if (!Array.isArray(input))
      return { ok: false, issue: { path, message: input === undefined ? 'is required' : `must be a list of ${what}` } };
    if (input.length > max) return { ok: false, issue: { path, message: `must have at most ${max} ${what}` } };
    const out: T[] = [];
    for (let i = 0; i < input.length; i++) {
      const r = item(input[i], [...path, i]);
      if (!r.ok) return r;
      out.push(r.value);
    }
    return { ok: true, value: out };
  };
