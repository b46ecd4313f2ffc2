import { InputError } from './errors.js';
import type { Converted } from './fields.js';

/** Partnerize clickrefs: letters, digits, `_` and `-`, 1 to 256 of them. Case is significant (support question Q1, docs/support-questions.md). */
export const CLICKREF_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

export type ClickrefProblem = 'missing_clickref' | 'blank_clickref' | 'invalid_clickref';

/**
 * Checks a clickref; an accepted value is always the input itself: never trimmed, re-cased or
 * re-encoded (support questions Q1, Q3, docs/support-questions.md).
 */
export function checkClickref(value: unknown): Converted<string> & { code?: ClickrefProblem } {
  if (value === undefined || value === null) return { ok: false, message: 'is required', code: 'missing_clickref' };
  if (typeof value !== 'string') return { ok: false, message: 'must be a string', code: 'invalid_clickref' };
  if (value.trim() === '') return { ok: false, message: 'is blank', code: 'blank_clickref' };
  if (!CLICKREF_PATTERN.test(value)) {
    return {
      ok: false,
      message: "must be 1-256 characters of A-Z, a-z, 0-9, '_' or '-' (sent exactly, case-sensitive)",
      code: 'invalid_clickref',
    };
  }
  return { ok: true, value };
}

/** {@link checkClickref}, throwing an {@link InputError} naming `field` (called `label` in the message, e.g. `--clickref`). */
export function parseClickref(value: unknown, field = 'clickref', label = field): string {
  const r = checkClickref(value);
  if (r.ok) return r.value;
  throw new InputError(r.code ?? 'invalid_clickref', `${label} ${r.message}`, field);
}
