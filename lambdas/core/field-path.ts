/**
 * Paths into a JSON event, written the way people read them: `data.udo.order_id`,
 * `data.udo["qp.clickref"]` (a key that itself holds a dot), `data.udo.product_sku[0]`.
 */
import { InputError } from './errors.js';

export type PathKey = string | number;
export type FieldPath = readonly PathKey[];

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Parses a path string; throws an {@link InputError} naming `field` when it is malformed. */
export function parsePath(source: string, field = 'path'): FieldPath {
  const keys: PathKey[] = [];
  let i = 0;
  const bad = (why: string) => new InputError('invalid_path', `${field}: '${source}' ${why}`, field);
  if (source === '') throw bad('is empty');
  while (i < source.length) {
    const ch = source[i];
    if (ch === '[') {
      const quote = source[i + 1];
      if (quote === '"' || quote === "'") {
        let j = i + 2;
        let key = '';
        while (j < source.length && source[j] !== quote) {
          if (source[j] === '\\' && j + 1 < source.length) j++;
          key += source[j];
          j++;
        }
        if (source[j] !== quote || source[j + 1] !== ']') throw bad('has an unclosed ["…"]');
        keys.push(key);
        i = j + 2;
      } else {
        const close = source.indexOf(']', i);
        const digits = close < 0 ? '' : source.slice(i + 1, close);
        if (!/^\d+$/.test(digits)) throw bad('has a [ that is neither ["key"] nor [index]');
        keys.push(Number(digits));
        i = close + 1;
      }
    } else {
      if (ch === '.') {
        if (keys.length === 0) throw bad('starts with a dot');
        i++;
      }
      let j = i;
      while (j < source.length && source[j] !== '.' && source[j] !== '[') j++;
      const key = source.slice(i, j);
      if (key === '') throw bad('has an empty key');
      keys.push(key);
      i = j;
    }
  }
  return keys;
}

/** Writes a path back as a string that {@link parsePath} reads as the same keys. */
export function formatFieldPath(path: FieldPath): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (IDENT.test(k)) out += out === '' ? k : `.${k}`;
    else out += `["${k.replace(/["\\]/g, (c) => `\\${c}`)}"]`;
  }
  return out;
}

/** The value at `path`, or undefined. Only own enumerable properties of plain objects are followed. */
export function getPath(root: unknown, path: FieldPath): unknown {
  let cur: unknown = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (typeof k === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[k];
    } else {
      if (Array.isArray(cur) || !Object.hasOwn(cur, k)) return undefined;
      cur = (cur as Record<string, unknown>)[k];
    }
  }
  return cur;
}
