/**
 * With the optional WAF, requests must come through CloudFront, which adds a secret
 * origin-verify header; anything else (the execute-api URL called directly, around the WAF) is a
 * 403. Off when no secret is configured (no WAF, local mode). A value the source does not hold may
 * be decided by a read of the secret (runtime/secrets.ts says when), bounded by the request's
 * deadline: a read that cannot finish in time is a 503, which Tealium retries.
 */
import { bindDeadline, type Deadline } from '../adapters/deadline.js';
import type { TokenSource } from '../core/auth.js';
import { errorBody, header, json, type HttpEvent, type HttpResult } from './http.js';

export const ORIGIN_VERIFY_HEADER = 'x-origin-verify';

/** The guard of one request: its 403, or undefined to let it through. */
export type OriginGuard = (event: HttpEvent, deadline: Deadline) => Promise<HttpResult | undefined>;

/**
 * The guard for `source`; undefined when there is none (no guard). `withoutHeader` is told of each
 * request refused that carried no origin-verify header at all.
 */
export function originGuard(source: TokenSource | undefined, withoutHeader: () => void = () => {}): OriginGuard | undefined {
  if (!source) return undefined;
  return async (event, deadline) => {
    const presented = header(event, ORIGIN_VERIFY_HEADER);
    if (await bindDeadline(source, deadline).accepts(presented)) return undefined;
    if (!presented) withoutHeader();
    return json(403, errorBody('forbidden', 'call this API through its protected (CloudFront) URL'));
  };
}
