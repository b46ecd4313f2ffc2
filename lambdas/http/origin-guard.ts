/**
 * With the optional WAF, requests must come through CloudFront, which adds a secret
 * origin-verify header; anything else (the execute-api URL called directly, around the WAF) is a
 * 403. Off when no secret is configured (no WAF, local mode). A value the source does not hold may
 * be decided by a read of the secret (runtime/secrets.ts says when), bounded by the request's
 * budget: a read that cannot finish in time is a 503, which Tealium retries.
 */
import type { MiddlewareObj } from '@middy/core';
import { bindDeadline, Deadline, REQUEST_BUDGET_MS } from '../adapters/deadline.js';
import type { TokenSource } from '../adapters/token-source.js';
import { errorBody, header, json, type HttpEvent, type HttpResult } from './http.js';

export const ORIGIN_VERIFY_HEADER = 'x-origin-verify';

/** `withoutHeader` is told of each request refused that carried no origin-verify header at all. */
export function originGuard(source: TokenSource | undefined, withoutHeader: () => void = () => {}): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    before: async (request) => {
      if (!source) return undefined;
      const presented = header(request.event, ORIGIN_VERIFY_HEADER);
      const deadline = Deadline.in(REQUEST_BUDGET_MS);
      try {
        if (await bindDeadline(source, deadline).accepts(presented)) return undefined;
      } finally {
        deadline.dispose();
      }
      if (!presented) withoutHeader();
      return json(403, errorBody('forbidden', 'call this API through its protected (CloudFront) URL'));
    },
  };
}
