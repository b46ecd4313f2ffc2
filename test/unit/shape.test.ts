import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { field, list, object, optional } from '#lambdas/core/shape.js';

const num = field((v) => (typeof v === 'number' ? { ok: true, value: v } : { ok: false, message: 'must be a number' }));
const shape = object({ a: num, items: optional(list(object({ b: num }, 'must be an object'), 'items', 2)) }, 'must be a JSON object');

describe('shape', () => {
  it('reports the first failing field, in the shape’s order, with its path; drops other keys', () => {
    expect(shape({ a: 1, items: [{ b: 2 }], extra: 3 }, [])).toEqual({ ok: true, value: { a: 1, items: [{ b: 2 }] } });
    expect(shape({ a: 'x', items: 'y' }, [])).toEqual({ ok: false, issue: { path: ['a'], message: 'must be a number', code: undefined } });
    expect(shape({ a: 1, items: [{ b: 2 }, { b: 'x' }] }, [])).toMatchObject({ ok: false, issue: { path: ['items', 1, 'b'] } });
    expect(shape({ a: 1, items: [1] }, [])).toMatchObject({ ok: false, issue: { path: ['items', 0], message: 'must be an object' } });
    expect(shape({ a: 1, items: {} }, [])).toMatchObject({ ok: false, issue: { path: ['items'], message: 'must be a list of items' } });
    expect(shape({ a: 1, items: [{ b: 1 }, { b: 2 }, { b: 3 }] }, [])).toMatchObject({ issue: { message: 'must have at most 2 items' } });
    expect(shape([], [])).toMatchObject({ ok: false, issue: { path: [], message: 'must be a JSON object' } });
  });

  it('reads only own properties (a key on the prototype is absent)', () => {
    expect(shape(JSON.parse('{"__proto__": {"a": 1}}'), [])).toMatchObject({ ok: false, issue: { path: ['a'] } });
  });

  it('property: any JSON value is either accepted or refused with a path, never thrown', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => void expect(typeof shape(v, []).ok).toBe('boolean')));
  });
});
