import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readInput } from '#lambdas/http/http.js';
import { InputError } from '#lambdas/core/errors.js';
import { httpEvent } from '../support/events.js';

describe('readInput', () => {
  it('parses a JSON body whatever the content type says (curl -d, sendBeacon text/plain)', () => {
    for (const type of ['application/json', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', '']) {
      expect(readInput(httpEvent({ body: '{"a":1}', headers: { 'content-type': type } }), 1000)).toEqual({ a: 1 });
    }
  });

  it('reads Tealium form posts (data=<url-encoded JSON>) and plain form fields', () => {
    const body = new URLSearchParams({ data: JSON.stringify({ data: { udo: { x: 'a b+c' } } }) }).toString();
    expect(readInput(httpEvent({ body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 1000)).toEqual({
      data: { udo: { x: 'a b+c' } },
    });
    expect(
      readInput(httpEvent({ body: 'sessionId=s1&clickref=A', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 1000),
    ).toEqual({ sessionId: 's1', clickref: 'A' });
  });

  it('reads GET query parameters and GET data=', () => {
    expect(readInput(httpEvent({ query: 'sessionId=s1&clickref=AbC&clickref=second' }), 1000)).toEqual({
      sessionId: 's1',
      clickref: 'AbC',
    });
    expect(readInput(httpEvent({ query: { data: '{"orderId":"1"}' } }), 1000)).toEqual({ orderId: '1' });
    expect(() => readInput(httpEvent({ query: { data: '{bad' } }), 1000)).toThrow(
      expect.objectContaining({ code: 'invalid_json', field: 'data' }),
    );
  });

  it('decodes base64 bodies', () => {
    expect(readInput(httpEvent({ body: '{"ü":1}', base64: true }), 1000)).toEqual({ ü: 1 });
  });

  it('answers 413 over the limit and 400 for empty or broken bodies', () => {
    expect(() => readInput(httpEvent({ body: 'x'.repeat(1001) }), 1000)).toThrow(expect.objectContaining({ status: 413, field: 'body' }));
    expect(() => readInput(httpEvent({ method: 'POST', body: '  ' }), 1000)).toThrow(expect.objectContaining({ code: 'missing_body' }));
    expect(() => readInput(httpEvent({ body: '{"a":' }), 1000)).toThrow(expect.objectContaining({ code: 'invalid_json' }));
  });

  it('property: any body either parses or is an InputError (never anything else)', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain'),
        fc.boolean(),
        (body, type, b64) => {
          try {
            readInput(httpEvent({ method: 'POST', body, headers: { 'content-type': type }, base64: b64 }), 10_000);
          } catch (err) {
            expect(err).toBeInstanceOf(InputError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
