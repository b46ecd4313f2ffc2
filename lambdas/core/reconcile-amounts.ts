/**
 * Money for the reconciliation, exactly: amounts are whole numbers of 1/10,000 (BigInt), the
 * finest precision either side holds — order values are plain decimals of at most 4 places
 * (core/fields.ts) and Partnerize keeps 4 (`item_value` up to 99,999,999.9999). Floats never add
 * or compare money here: a report's `59.97000000000001` is read to 4 places first.
 */

/** An amount in 1/10,000 of the currency unit. */
export type Amount = bigint;

const PLACES = 4;
const SCALE = 10n ** BigInt(PLACES);

/**
 * A plain decimal (`19.99`, `-3`, `0.0001`) as an {@link Amount}; more places than 4 are rounded
 * half away from zero. Undefined for anything else.
 */
export function amountOf(text: string): Amount | undefined {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const [, sign, whole, frac = ''] = m;
  let units = BigInt(whole!) * SCALE + BigInt(frac.slice(0, PLACES).padEnd(PLACES, '0'));
  if (frac.length > PLACES && Number(frac[PLACES]) >= 5) units += 1n;
  return sign === '-' ? -units : units;
}

/** A number from Partnerize's JSON, to 4 places (its precision): float noise never reads as a difference. */
export function amountOfNumber(n: number): Amount | undefined {
  if (!Number.isFinite(n) || Math.abs(n) >= 1e15) return undefined;
  return amountOf(n.toFixed(PLACES));
}

/** `value × quantity`. */
export const times = (a: Amount, quantity: number): Amount => a * BigInt(quantity);

export const sum = (xs: Iterable<Amount>): Amount => {
  let s = 0n;
  for (const x of xs) s += x;
  return s;
};

export const abs = (a: Amount): Amount => (a < 0n ? -a : a);

/** A plain decimal with at least `minPlaces` places (2: `12.50`) and no trailing zeros beyond. */
export function formatAmount(a: Amount, minPlaces = 2): string {
  const neg = a < 0n;
  const v = neg ? -a : a;
  const whole = v / SCALE;
  let frac = (v % SCALE).toString().padStart(PLACES, '0');
  while (frac.length > minPlaces && frac.endsWith('0')) frac = frac.slice(0, -1);
  return `${neg ? '-' : ''}${whole}${frac === '' ? '' : `.${frac}`}`;
}

/**
 * ISO 4217 minor units that are not 2 (the currencies without cents, and those with mils): how
 * finely a currency's amounts are usually written.
 */
const MINOR_UNITS: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
};

export const minorUnits = (currency: string): number => MINOR_UNITS[currency.toUpperCase()] ?? 2;

/** Decimal places a plain decimal is written with. */
const placesOf = (text: string): number => text.split('.')[1]?.length ?? 0;

/**
 * How far Partnerize's total of some lines may honestly be from ours: nothing when every unit value
 * is written within the currency's minor unit (the usual case: a one-cent change is found); half a
 * minor unit per unit when a value is finer (19.995), which Partnerize may have rounded.
 */
export function tolerance(lines: ReadonlyArray<{ value: string; quantity: number }>, currency: string): Amount {
  const minor = minorUnits(currency);
  const half = SCALE / 10n ** BigInt(minor) / 2n;
  let t = 0n;
  for (const l of lines) if (placesOf(l.value) > minor) t += half * BigInt(l.quantity);
  return t;
}

/** Whether two amounts agree within `tol`. */
export const agree = (a: Amount, b: Amount, tol: Amount = 0n): boolean => abs(a - b) <= tol;
