/**
 * DynamoDB attribute values for the tracker's records: plain JSON (strings, finite numbers,
 * booleans, null, lists, maps), undefined values left out. @aws-sdk/util-dynamodb does this and much
 * more (sets, binary, class instances, big numbers) for 5 KB of every bundle; the records need none
 * of the rest. `test/unit/marshal.test.ts` checks this against util-dynamodb on arbitrary values.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export function toAttribute(v: unknown): AttributeValue | undefined {
  if (v === undefined) return undefined;
  if (v === null) return { NULL: true };
  switch (typeof v) {
    case 'string':
      return { S: v };
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`cannot store the number ${v}`);
      return { N: String(v) };
    case 'boolean':
      return { BOOL: v };
    case 'object':
      if (Array.isArray(v)) return { L: v.map((e) => toAttribute(e) ?? { NULL: true }) };
      return { M: toItem(v as Record<string, unknown>) };
    default:
      throw new TypeError(`cannot store a ${typeof v}`);
  }
}

export function toItem(obj: object): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(obj)) {
    const a = toAttribute(v);
    if (a !== undefined) out[k] = a;
  }
  return out;
}

export function fromAttribute(a: AttributeValue): unknown {
  if (a.S !== undefined) return a.S;
  if (a.N !== undefined) return Number(a.N);
  if (a.BOOL !== undefined) return a.BOOL;
  if (a.NULL !== undefined) return null;
  if (a.L !== undefined) return a.L.map(fromAttribute);
  if (a.M !== undefined) return fromItem(a.M);
  if (a.SS !== undefined) return [...a.SS];
  if (a.NS !== undefined) return a.NS.map(Number);
  throw new TypeError(`unexpected attribute ${Object.keys(a).join(',')}`);
}

export function fromItem<T = Record<string, unknown>>(item: Record<string, AttributeValue>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item)) out[k] = fromAttribute(v);
  return out as T;
}
