import type { APIGatewayProxyEventV2 } from 'aws-lambda';

export interface EventInit {
  method?: 'GET' | 'POST' | 'PUT';
  path?: string;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  /** Raw query string, or parameters to encode. */
  query?: string | Record<string, string>;
  base64?: boolean;
}

/** An API Gateway HTTP API (payload 2.0) event, as the Lambda integration delivers it. */
export function httpEvent(init: EventInit): APIGatewayProxyEventV2 {
  const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
  const path = init.path ?? '/';
  const raw = typeof init.query === 'string' ? init.query : init.query ? new URLSearchParams(init.query).toString() : '';
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  }
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) query[k] = v;
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: raw,
    headers,
    ...(raw ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.1', userAgent: headers['user-agent'] ?? '' },
      requestId: 'req',
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: '24/Nov/2026:10:00:00 +0000',
      timeEpoch: Date.UTC(2026, 10, 24, 10),
    },
    ...(body !== undefined ? { body: init.base64 ? Buffer.from(body).toString('base64') : body } : {}),
    isBase64Encoded: Boolean(init.base64 && body !== undefined),
  };
}
