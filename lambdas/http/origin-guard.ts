/**
 * With the optional WAF, requests must come through CloudFront, which adds a secret
 * origin-verify header; anything else (the execute-api URL called directly, around the WAF) is a
 * 403. Off when no secret is configured (no WAF, local mode).
 */
import type { MiddlewareObj } from '@middy/core';
import type { TokenSource } from '../adapters/token-source.js';
import { errorBody, header, json, type HttpEvent, type HttpResult } from './http.js';

export const ORIGIN_VERIFY_HEADER = 'x-origin-verify';

export function originGuard(source: TokenSource | undefined): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    before: async (request) => {
      if (!source) return undefined;
      if (await source.accepts(header(request.event, ORIGIN_VERIFY_HEADER))) return undefined;
      return json(403, errorBody('forbidden', 'call this API through its protected (CloudFront) URL'));
    },
  };
}
