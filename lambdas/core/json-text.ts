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
/** JSON's number grammar: a token that is not a JSON number is never quoted (it stays an error). */
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * `JSON.parse`, except that integers outside ±(2^53 − 1), and numbers of more than 17 significant
 * digits, become strings of their exact digits.
 */
export function parseJsonText(text: string): unknown {
  return JSON.parse(LONG_DIGITS.test(text) ? quoteInexactNumbers(text) : text) as unknown;
}

/** A double's shortest decimal form never needs more significant digits than this. */
const DOUBLE_MAX_DIGITS = 17;

/** Significant digits of a number token's mantissa (no sign, no exponent, no leading or trailing zeros). */
const significantDigits = (token: string): number =>
  (token.replace(/^-/, '').split(/[eE]/)[0] ?? '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;

const isInexact = (token: string): boolean =>
  INTEGER.test(token) ? !Number.isSafeInteger(Number(token)) : NUMBER.test(token) && significantDigits(token) > DOUBLE_MAX_DIGITS;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;

const isNumberChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === MINUS;

/**
 * Wraps every number token a double cannot hold (see {@link parseJsonText}) in quotes. Strings are skipped (with their
 * escapes), so digits inside them are never touched; text that is not JSON stays not JSON, and
 * `JSON.parse` reports it as before.
 */
export function quoteInexactNumbers(text: string): string {
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
      if (isInexact(token)) {
        out += `${text.slice(copied, start)}"${token}"`;
        copied = i;
      }
      continue;
    }
    i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
