/**
 * JSON text read without losing digits. `JSON.parse` turns every number into a double, so an order
 * id sent as the number 9007199254740993 (above 2^53) comes back as …992: the order is sent under
 * the wrong conversionRef and the next order, whose id rounds to the same double, is refused as a
 * duplicate. Integers a double cannot hold exactly are therefore kept as their digits, as strings;
 * every field that takes an id, a price or a quantity accepts numeric strings anyway.
 *
 * Only bodies holding a run of 16 or more digits are scanned (anything shorter is exact as a
 * double), so ordinary postbacks pay one native regex test.
 */

const LONG_DIGITS = /\d{16}/;
/** JSON's own integer grammar: no leading zeros (`012` is not JSON, and must stay not JSON). */
const INTEGER = /^-?(0|[1-9]\d*)$/;

/** `JSON.parse`, except that integers outside ±(2^53 − 1) become strings of their exact digits. */
export function parseJsonText(text: string): unknown {
  return JSON.parse(LONG_DIGITS.test(text) ? quoteUnsafeIntegers(text) : text) as unknown;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;

const isNumberChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === MINUS;

/**
 * Wraps every integer token that is not a safe integer in quotes. Strings are skipped (with their
 * escapes), so digits inside them are never touched; text that is not JSON stays not JSON, and
 * `JSON.parse` reports it as before.
 */
export function quoteUnsafeIntegers(text: string): string {
  let out = '';
  let copied = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i += 2;
        else {
          i++;
          if (d === QUOTE) break;
        }
      }
      continue;
    }
    if (c === MINUS || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      while (i < n && isNumberChar(text.charCodeAt(i))) i++;
      const token = text.slice(start, i);
      if (INTEGER.test(token) && !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(copied, start)}"${token}"`;
        copied = i;
      }
      continue;
    }
    i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
