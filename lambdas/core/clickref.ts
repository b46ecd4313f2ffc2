import { InputError } from './errors.js';

/** Partnerize clickrefs: letters, digits, `_` and `-`, 1 to 256 of them. Case is significant (FAQ Q1). */
export const CLICKREF_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * Accepts a clickref exactly as given or throws an {@link InputError} naming `field`.
 * The returned value is always the input itself: never trimmed, re-cased or re-encoded.
 */
export function parseClickref(value: unknown, field = 'clickref'): string {
  if (value === undefined || value === null) {
    throw new InputError('missing_clickref', `${field} is required`, field);
  }
  if (typeof value !== 'string') {
    throw new InputError('invalid_clickref', `${field} must be a string`, field);
  }
  if (value.trim() === '') {
    throw new InputError('blank_clickref', `${field} is blank`, field);
  }
  if (!CLICKREF_PATTERN.test(value)) {
    throw new InputError(
      'invalid_clickref',
      `${field} must be 1-256 characters of A-Z, a-z, 0-9, '_' or '-' (sent exactly, case-sensitive)`,
      field,
    );
  }
  return value;
}
