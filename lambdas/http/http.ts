/**
 * HTTP plumbing shared by the handlers: reading the input of an API Gateway (HTTP API, payload v2)
 * request — JSON body, form body, or query string with Tealium's `data=` — and writing answers.
 * Input is decoded strictly: bytes that are not UTF-8 are refused, never replaced, since a
 * replacement character makes two different order ids one.
 */
import { gunzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { InputError } from '../core/errors.js';
import { parseJsonText } from '../core/json-text.js';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;

const BASE_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export const noContent = (): HttpResult => ({ statusCode: 204, headers: { 'cache-control': 'no-store' } });

export function errorBody(code: string, message: string, field?: string): { error: { code: string; message: string; field?: string } } {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

export function header(event: HttpEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function parseJson(text: string, field: string): unknown {
  try {
    return parseJsonText(text);
  } catch (err) {
    throw new InputError('invalid_json', `${field} is not valid JSON: ${(err as Error).message}`, field);
  }
}

/**
 * How a route reads query and form parameters: `fields` takes them as the input itself (GET
 * /clicks?sessionId=…&clickref=…); `data` requires Tealium's `data=<JSON>` (postbacks: a form whose
 * order arrived under another name, e.g. `event=`, must not be read as an empty order).
 */
export type ParamsMode = 'fields' | 'data';

type Params = ReadonlyArray<readonly [string, string]>;

/**
 * `a=1&b=2`, percent-decoded strictly: a malformed escape or bytes that are not UTF-8 are a 400
 * naming the parameter. (URLSearchParams would turn them into U+FFFD, and two different order ids
 * into one.)
 */
function parseParams(text: string, where: 'query' | 'body'): Params {
  const out: Array<[string, string]> = [];
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = percentDecoded(eq < 0 ? part : part.slice(0, eq), where, undefined);
    out.push([name, percentDecoded(eq < 0 ? '' : part.slice(eq + 1), where, name)]);
  }
  return out;
}

function percentDecoded(raw: string, where: 'query' | 'body', name: string | undefined): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    const field = name === undefined ? where : where === 'body' ? `body.${name}` : name;
    const what = name === undefined ? `a parameter name in the ${where}` : `parameter ${name}`;
    throw new InputError('invalid_encoding', `${what} is not valid percent-encoded UTF-8`, field);
  }
}

/** Query or form parameters: `data` holds a JSON event (Tealium); otherwise the parameters themselves. */
function fromParams(params: Params, field: 'query' | 'body', mode: ParamsMode): unknown {
  const data = params.find(([k]) => k === 'data')?.[1];
  const dataField = field === 'query' ? 'data' : 'body.data';
  if (data !== undefined) return parseJson(data, dataField);
  if (mode === 'data') {
    const given = [...new Set(params.map(([k]) => k))].slice(0, 5).join(', ');
    throw new InputError(
      'missing_field',
      `${field === 'query' ? 'the query string' : 'the form body'} must carry the event as data=<url-encoded JSON> (Tealium's "Send Event Data" sends it so)${given ? `; got ${given}` : ''}`,
      'data',
    );
  }
  const out: Record<string, string> = {};
  for (const [k, v] of params) if (!Object.hasOwn(out, k)) out[k] = v;
  return out;
}

/**
 * Charsets a body may declare. JSON is UTF-8 by definition (RFC 8259) and a form body is ASCII
 * with UTF-8 escapes; US-ASCII is a subset. Any other declared charset is refused (415) rather
 * than guessed at: a Latin-1 order id read as UTF-8 would be another order id.
 */
const CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);
const CHARSET_PARAM = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i;

function checkCharset(contentType: string): void {
  const m = CHARSET_PARAM.exec(contentType);
  const charset = m?.[1] ?? m?.[2];
  if (charset !== undefined && !CHARSETS.has(charset.trim().toLowerCase())) {
    throw new InputError('unsupported_charset', `charset ${charset} is not supported: send the body as UTF-8`, 'content-type', 415);
  }
}

/**
 * The body's bytes as sent: a gzip body (`Content-Encoding: gzip`) is decompressed, never to more
 * than `maxBytes` (a small bomb must not become a large buffer); any other encoding is a 415.
 */
function decoded(event: HttpEvent, bytes: Buffer, maxBytes: number): Buffer {
  const encoding = (header(event, 'content-encoding') ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return bytes;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new InputError(
      'unsupported_encoding',
      `Content-Encoding ${encoding} is not supported: send the body as is, or gzip`,
      'content-encoding',
      415,
    );
  }
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes + 1 });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new InputError('payload_too_large', `body is larger than ${maxBytes} bytes once decompressed`, 'body', 413);
    }
    throw new InputError(
      'invalid_encoding',
      `body is not valid gzip data (Content-Encoding: ${encoding}): ${(err as Error).message}`,
      'body',
    );
  }
}

/** Fails on bytes that are not UTF-8 instead of replacing them; drops a leading byte order mark. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8Text(bytes: Buffer): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new InputError('invalid_utf8', 'body is not valid UTF-8: send it as UTF-8 text (JSON is always UTF-8)', 'body');
  }
}

/**
 * The request's input: for GET the query string, for other methods the body (JSON, or form-encoded
 * with Tealium's `data=` field). Bodies over `maxBytes` (before or after decompression) are a 413;
 * unparseable ones, or ones that are not UTF-8, a 400; a charset or encoding we do not read, a 415.
 */
export function readInput(event: HttpEvent, maxBytes: number, params: ParamsMode = 'fields'): unknown {
  const method = event.requestContext?.http?.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') {
    const raw = event.rawQueryString ?? '';
    if (Buffer.byteLength(raw) > maxBytes) {
      throw new InputError('payload_too_large', `query string is larger than ${maxBytes} bytes`, 'query', 413);
    }
    return fromParams(parseParams(raw, 'query'), 'query', params);
  }
  const raw = event.body ?? '';
  const sent = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (sent.byteLength > maxBytes) {
    throw new InputError('payload_too_large', `body is larger than ${maxBytes} bytes`, 'body', 413);
  }
  const contentType = header(event, 'content-type') ?? '';
  checkCharset(contentType);
  const type = contentType.toLowerCase();
  const text = utf8Text(decoded(event, sent, maxBytes));
  if (text.trim() === '') throw new InputError('missing_body', 'body is required', 'body');
  // A JSON body is JSON whatever its content type says (curl -d sends JSON as a form; beacons as
  // text/plain). A form body is Tealium's `data=<url-encoded JSON>` or plain fields.
  const first = text.trimStart()[0];
  if (type.includes('application/x-www-form-urlencoded') && first !== '{' && first !== '[') {
    return fromParams(parseParams(text, 'body'), 'body', params);
  }
  return parseJson(text, 'body');
}

export function inputErrorResponse(err: InputError): HttpResult {
  return json(err.status, errorBody(err.code, err.message, err.field));
}
