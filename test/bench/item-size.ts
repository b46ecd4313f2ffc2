/**
 * DynamoDB item size, as DynamoDB bills it: attribute names and values in UTF-8 bytes; numbers
 * about one byte per two significant digits plus one; booleans and nulls one byte; lists and maps
 * three bytes plus their elements (and, for maps, their keys) and one byte per element.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

function numberSize(n: string): number {
  const digits = n.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

export function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return utf8(v.S);
  if (v.N !== undefined) return numberSize(v.N);
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.L !== undefined) return 3 + v.L.reduce((s, e) => s + 1 + valueSize(e), 0);
  if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((s, [k, e]) => s + 1 + utf8(k) + valueSize(e), 0);
  if (v.SS !== undefined) return v.SS.reduce((s, e) => s + utf8(e), 0);
  if (v.NS !== undefined) return v.NS.reduce((s, e) => s + numberSize(e), 0);
  return 0;
}

export function itemSize(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((s, [k, v]) => s + utf8(k) + valueSize(v), 0);
}
