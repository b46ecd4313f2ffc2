/**
 * JSON text read without losing digits. `JSON.parse` turns every number into a double, so an order
 * id sent as the number 9007199254740993 (above 2^53) comes back as …992: the order is sent under
 * the wrong conversionRef and the next order, whose id rounds to the same double, is refused as a
 * duplicate. Integers a double cannot hold exactly are therefore kept as their digits, as strings;
 * every field that takes an id, a price or a quantity accepts numeric strings anyway.
 *
 * The same integer written with a fraction or an exponent (`9007199254740993.0`,
 * `9.007199254740993e15`) is the same id: it becomes the same digits.
 *
 * Only bodies holding a run of 16 or more digits, or a bare number with an exponent, are scanned
 * (anything else is exact as a double), so ordinary postbacks pay one native regex test.
 */

// An exponent counts only on a bare number (after `:`, `,` or `[`): hex ids inside strings
// (Tealium's visitor id) are full of `5e3`.
const MAY_BE_INEXACT = /\d{16}|[:,[]\s*-?\d+(?:\.\d+)?[eE]/;
/** JSON's own integer grammar: no leading zeros (`012` is not JSON, and must stay not JSON). */
const INTEGER = /^-?(0|[1-9]\d*)$/;
/** JSON's number grammar: a token that is not a JSON number is never quoted (it stays an error). */
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * `JSON.parse`, except that integers outside ±(2^53 − 1) (in any form), and numbers of more than 17
 * significant digits, become strings of their exact digits.
 */
export function parseJsonText(text: string): unknown {
  return JSON.parse(MAY_BE_INEXACT.test(text) ? quoteInexactNumbers(text) : text) as unknown;
}

/** A double's shortest decimal form never needs more significant digits than this. */
const DOUBLE_MAX_DIGITS = 17;

/** Significant digits of a number token's mantissa (no sign, no exponent, no leading or trailing zeros). */
const significantDigits = (token: string): number =>
  (token.replace(/^-/, '').split(/[eE]/)[0] ?? '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;

/**
 * Integers of more digits than this are written by `JSON.stringify` with an exponent (1e21 and up):
 * no id is that long, and such numbers stay numbers.
 */
const MAX_INTEGER_DIGITS = 21;

/**
 * The integer a fraction or exponent form denotes, as plain digits (`9.007199254740993e15` →
 * `9007199254740993`); undefined when it has a fractional part or more than {@link MAX_INTEGER_DIGITS} digits.
 */
export function integerDigitsOf(token: string): string | undefined {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(token);
  if (!m) return undefined;
  const [, sign = '', int = '', frac = '', exp = '0'] = m;
  const all = int + frac;
  const digits = all.replace(/^0+/, '');
  if (digits === '') return '0';
  // Where the decimal point falls in `digits`.
  const point = int.length + Number(exp) - (all.length - digits.length);
  if (point <= 0 || point > MAX_INTEGER_DIGITS || /[1-9]/.test(digits.slice(point))) return undefined;
  const whole = digits.slice(0, point) + '0'.repeat(Math.max(0, point - digits.length));
  return sign ? `-${whole}` : whole;
}

/** What a number token a double cannot hold becomes (its exact digits), or undefined when a double holds it. */
function exactFormOf(token: string): string | undefined {
  if (INTEGER.test(token)) return Number.isSafeInteger(Number(token)) ? undefined : token;
  if (!NUMBER.test(token)) return undefined;
  const integer = integerDigitsOf(token);
  if (integer !== undefined) return Number.isSafeInteger(Number(integer)) ? undefined : integer;
  // A fraction beside an integer part a double cannot hold (9007199254740993.5) loses digits too;
  // from 1e21 on, numbers are JSON.stringify's own exponent forms and stay numbers.
  const size = Math.abs(Number(token));
  const unsafeWhole = size > Number.MAX_SAFE_INTEGER && size < 1e21;
  return significantDigits(token) > DOUBLE_MAX_DIGITS || unsafeWhole ? token : undefined;
}

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
      const exact = exactFormOf(text.slice(start, i));
      if (exact !== undefined) {
        out += `${text.slice(copied, start)}"${exact}"`;
        copied = i;
      }
      continue;
    }
    i++;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
