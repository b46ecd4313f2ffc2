/**
 * How guessable a session id looks. Anyone who can name a live session id can post a click for it
 * and so steer the attribution of that shopper's next order; ids made by a counter, typed by a
 * person or padded out (`12345678`, `aaaaaaaa`, the all-zero UUID) can be named without being
 * seen. The estimate is cheap and deliberately simple: each character adds the bits of the
 * alphabet the id draws from, unless it is predictable from the ones before it — a repeat, a step
 * of one continuing a run (`4`, `5` after `3`), or the next character of a short block repeated
 * (`abcabc…`, up to 8 long). Separators (`- _ . :`) add nothing.
 *
 * What it cannot see: an id that looks random but is made from something guessable (a hash of an
 * e-mail address), or words (each letter counts 4.7 bits, though a dictionary has far fewer
 * words). It refuses what is certainly guessable; it does not certify the rest. Random 128-bit ids
 * score about 117 bits and, in a million draws of each common form (hex, UUID v4 and v7, base64url,
 * Tealium's visitor id), never below 76; a GA client id (`1987342156.1732451234`: 31 random bits
 * and a time) about 57, but under 32 about once in 22,000 (measured over 2 million): its digits
 * repeat and run by chance. Refusing those would lose a real shopper's click, so an id of GA's
 * client-id form (digits, a dot, a 10-digit time) has a lower bar, {@link GA_CLIENT_ID_BITS}: under
 * it about once in 2 million, while made-up ones (`1234567890.1700000000`, 20 bits) stay refused.
 */

import { createHash } from 'node:crypto';

const SEPARATORS = new Set(['-', '_', '.', ':']);
/** Longest repeated block recognised (`deadbeef` repeated is predictable after its first 8). */
const MAX_PERIOD = 8;

/** The alphabet an id draws from: digits only, hex in one case, else the classes it uses. */
function alphabetSize(chars: string): number {
  if (/^\d*$/.test(chars)) return 10;
  if (/^[\da-f]*$/.test(chars) || /^[\dA-F]*$/.test(chars)) return 16;
  let size = 0;
  if (/\d/.test(chars)) size += 10;
  if (/[a-z]/.test(chars)) size += 26;
  if (/[A-Z]/.test(chars)) size += 26;
  if (/[^\dA-Za-z]/.test(chars)) size += 33;
  return size;
}

function predictable(codes: readonly number[], i: number): boolean {
  const c = codes[i]!;
  const prev = codes[i - 1];
  if (prev === undefined) return false;
  if (c === prev) return true;
  const before = codes[i - 2];
  if (before !== undefined && Math.abs(c - prev) === 1 && c - prev === prev - before) return true;
  for (let p = 2; p <= MAX_PERIOD && i - 1 - p >= 0; p++) if (c === codes[i - p] && prev === codes[i - 1 - p]) return true;
  return false;
}

/** The estimated bits of a session id (see above). */
export function estimatedBits(id: string): number {
  const chars = [...id].filter((ch) => !SEPARATORS.has(ch));
  const codes = chars.map((ch) => ch.codePointAt(0)!);
  const perChar = Math.log2(alphabetSize(chars.join('')));
  let bits = 0;
  for (let i = 0; i < codes.length; i++) if (!predictable(codes, i)) bits += perChar;
  return bits;
}

/** GA's client id: a random number below 2^31, a dot, the first visit's time in seconds. */
const GA_CLIENT_ID = /^\d{1,10}\.\d{10}$/;
/** The bar for ids of GA's client-id form (at least 8 of their 20 digits not predictable). */
export const GA_CLIENT_ID_BITS = 24;

/** Why a session id is refused on a click (too short, or guessable), or undefined. */
export function guessableSessionId(id: string, rule: { minSessionIdLength: number; minSessionIdBits: number }): string | undefined {
  if (id.length < rule.minSessionIdLength) {
    return `must be at least ${rule.minSessionIdLength} characters (a short, guessable session id lets anyone overwrite its clickref)`;
  }
  const bits = estimatedBits(id);
  const bar = GA_CLIENT_ID.test(id) ? Math.min(rule.minSessionIdBits, GA_CLIENT_ID_BITS) : rule.minSessionIdBits;
  if (bits < bar) {
    return `looks guessable: repeated or sequential characters, or too few (about ${Math.floor(bits)} bits, at least ${bar} needed); a guessable session id lets anyone overwrite its clickref, so use a long random one (the snippet's, or Tealium's visitor id)`;
  }
  return undefined;
}

/**
 * The session key a click may carry (its format is checked with the click: core/schema.ts): a
 * secret the browser holds beside the session id (the snippet makes 128 random bits and keeps them
 * in a first-party cookie), never handed to other tags, unlike a session id. It proves a later
 * click comes from the same browser (the click lock, core/clicks.ts), so it must be hard to guess
 * outright: far above the session id bar.
 */
export const MIN_SESSION_KEY_BITS = 64;

/** Why a session key is refused, or undefined. */
export const guessableSessionKey = (key: string): string | undefined =>
  estimatedBits(key) < MIN_SESSION_KEY_BITS ? 'looks guessable: send 128 random bits (the snippet does)' : undefined;

/** What the clicks table keeps of a session key: its SHA-256, so the table cannot be read for keys. */
export const keyDigest = (key: string): string => createHash('sha256').update(key).digest('base64url');
