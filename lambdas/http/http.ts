/**
 * HTTP plumbing shared by the handlers: reading the input of an API Gateway (HTTP API, payload v2)
 * request — JSON body, form body, or query string with Tealium's `data=` — and writing answers.
 */
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

/** Query or form parameters: `data` holds a JSON event (Tealium); otherwise the parameters themselves. */
function fromParams(params: URLSearchParams, field: 'query' | 'body', mode: ParamsMode): unknown {
  const data = params.get('data');
  const dataField = field === 'query' ? 'data' : 'body.data';
  if (data !== null) return parseJson(data, dataField);
  if (mode === 'data') {
    const given = [...new Set(params.keys())].slice(0, 5).join(', ');
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
 * The request's input: for GET the query string, for other methods the body (JSON, or form-encoded
 * with Tealium's `data=` field). Bodies over `maxBytes` are a 413; unparseable ones a 400.
 */
export function readInput(event: HttpEvent, maxBytes: number, params: ParamsMode = 'fields'): unknown {
  const method = event.requestContext?.http?.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') {
    const raw = event.rawQueryString ?? '';
    if (Buffer.byteLength(raw) > maxBytes) {
      throw new InputError('payload_too_large', `query string is larger than ${maxBytes} bytes`, 'query', 413);
    }
    return fromParams(new URLSearchParams(raw), 'query', params);
  }
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.byteLength > maxBytes) {
    throw new InputError('payload_too_large', `body is larger than ${maxBytes} bytes`, 'body', 413);
  }
  const text = bytes.toString('utf8');
  if (text.trim() === '') throw new InputError('missing_body', 'body is required', 'body');
  // A JSON body is JSON whatever its content type says (curl -d sends JSON as a form; beacons as
  // text/plain). A form body is Tealium's `data=<url-encoded JSON>` or plain fields.
  const type = (header(event, 'content-type') ?? '').toLowerCase();
  const first = text.trimStart()[0];
  if (type.includes('application/x-www-form-urlencoded') && first !== '{' && first !== '[') {
    return fromParams(new URLSearchParams(text), 'body', params);
  }
  return parseJson(text, 'body');
}

export function inputErrorResponse(err: InputError): HttpResult {
  return json(err.status, errorBody(err.code, err.message, err.field));
}
