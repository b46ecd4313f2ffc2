import { isUtf8 } from 'node:buffer';
import { gzipSync } from 'node:zlib';
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

  /** A POST whose body is these bytes, as API Gateway hands a binary body to the function. */
  const bytesEvent = (bytes: Uint8Array, headers: Record<string, string> = {}) => ({
    ...httpEvent({ method: 'POST', body: 'x', headers: { 'content-type': 'application/json', ...headers } }),
    body: Buffer.from(bytes).toString('base64'),
    isBase64Encoded: true,
  });
  const utf8 = (s: string) => Buffer.from(s, 'utf8');

  describe('strict decoding', () => {
    it('refuses a body that is not UTF-8 with a 400 naming the problem, so two order ids cannot become one', () => {
      for (const id of [[0xff], [0xfe], [0xc3, 0x28]]) {
        const body = Buffer.concat([utf8('{"orderId":"A'), Buffer.from(id), utf8('"}')]);
        expect(() => readInput(bytesEvent(body), 1000)).toThrow(
          expect.objectContaining({
            code: 'invalid_utf8',
            field: 'body',
            status: 400,
            message: expect.stringContaining('not valid UTF-8'),
          }),
        );
      }
    });

    it('accepts a UTF-8 byte order mark', () => {
      expect(readInput(bytesEvent(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('{"ü":1}')])), 1000)).toEqual({ ü: 1 });
      expect(readInput(httpEvent({ body: '\uFEFF{"a":1}' }), 1000)).toEqual({ a: 1 });
      const form = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8('sessionId=s1&clickref=A')]);
      expect(readInput(bytesEvent(form, { 'content-type': 'application/x-www-form-urlencoded' }), 1000)).toEqual({
        sessionId: 's1',
        clickref: 'A',
      });
    });

    it('honours a declared UTF-8 charset in any spelling, and refuses any other with a 415 naming it', () => {
      for (const type of [
        'application/json; charset=UTF-8',
        'application/json;charset="utf-8"',
        'text/plain; Charset=utf8',
        'text/plain; charset=us-ascii',
      ]) {
        expect(readInput(httpEvent({ body: '{"a":1}', headers: { 'content-type': type } }), 1000), type).toEqual({ a: 1 });
      }
      for (const charset of ['iso-8859-1', 'windows-1252', 'UTF-16']) {
        expect(() =>
          readInput(httpEvent({ body: '{"a":1}', headers: { 'content-type': `application/json; charset=${charset}` } }), 1000),
        ).toThrow(
          expect.objectContaining({
            code: 'unsupported_charset',
            field: 'content-type',
            status: 415,
            message: expect.stringContaining(charset),
          }),
        );
      }
    });

    it('reads a gzip body (Content-Encoding: gzip), bounded after decompression; other encodings are a 415', () => {
      const order = { orderId: 'ORD-1', items: [{ value: 19.99 }] };
      for (const encoding of ['gzip', 'GZIP', 'x-gzip']) {
        expect(readInput(bytesEvent(gzipSync(JSON.stringify(order)), { 'content-encoding': encoding }), 1000)).toEqual(order);
      }
      // 8 MB of spaces compresses to about 8 KB: refused once 1,000 bytes come out, without inflating the rest.
      const bomb = gzipSync(Buffer.concat([utf8('{"a":"'), Buffer.alloc(8_000_000, 0x20), utf8('"}')]));
      expect(bomb.byteLength).toBeLessThan(10_000);
      expect(() => readInput(bytesEvent(bomb, { 'content-encoding': 'gzip' }), 10_000)).toThrow(
        expect.objectContaining({ code: 'payload_too_large', status: 413, message: expect.stringContaining('decompressed') }),
      );
      expect(() => readInput(bytesEvent(utf8('{"a":1}'), { 'content-encoding': 'gzip' }), 1000)).toThrow(
        expect.objectContaining({ code: 'invalid_encoding', field: 'body', status: 400 }),
      );
      for (const encoding of ['br', 'deflate', 'compress']) {
        expect(() => readInput(bytesEvent(utf8('{"a":1}'), { 'content-encoding': encoding }), 1000)).toThrow(
          expect.objectContaining({ code: 'unsupported_encoding', field: 'content-encoding', status: 415 }),
        );
      }
    });

    it('percent-decodes query and form parameters strictly, naming the parameter', () => {
      expect(() => readInput(httpEvent({ query: 'data=%7B%22orderId%22%3A%22%FF%22%7D' }), 1000)).toThrow(
        expect.objectContaining({ code: 'invalid_encoding', field: 'data', status: 400 }),
      );
      expect(() => readInput(httpEvent({ query: 'sessionId=abc%E0%A4&clickref=A' }), 1000)).toThrow(
        expect.objectContaining({ code: 'invalid_encoding', field: 'sessionId' }),
      );
      expect(() => readInput(httpEvent({ query: 'clickref=50%zz' }), 1000)).toThrow(expect.objectContaining({ field: 'clickref' }));
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      expect(() => readInput(httpEvent({ body: 'data=%FF', headers: form }), 1000)).toThrow(
        expect.objectContaining({ code: 'invalid_encoding', field: 'body.data' }),
      );
    });

    it('property: bytes that are not UTF-8 are always refused; UTF-8 bytes are never refused for their encoding', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
          let code: string | undefined;
          try {
            readInput(bytesEvent(bytes), 10_000);
          } catch (err) {
            expect(err).toBeInstanceOf(InputError);
            code = (err as InputError).code;
          }
          expect(code === 'invalid_utf8').toBe(!isUtf8(bytes));
        }),
        { numRuns: 2000 },
      );
    });

    it('property: any text, percent-encoded either way, comes back exactly', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme' }), (text) => {
          expect(readInput(httpEvent({ query: `sessionId=${encodeURIComponent(text)}` }), 100_000)).toEqual({ sessionId: text });
          expect(readInput(httpEvent({ query: new URLSearchParams({ sessionId: text }).toString() }), 100_000)).toEqual({
            sessionId: text,
          });
        }),
        { numRuns: 1000 },
      );
    });
  });
});
