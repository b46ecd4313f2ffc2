/**
 * The one way an HTTP function is put together: metrics flushed and errors answered whatever
 * happens, the optional origin guard first, and a per-request deadline the body binds its stores to
 * (Tealium gives up at 5 s; a 5xx must reach it before then).
 */
import middy from '@middy/core';
import { Deadline, REQUEST_BUDGET_MS } from '../adapters/deadline.js';
import type { TokenSource } from '../adapters/token-source.js';
import type { Deps } from '../core/model.js';
import type { HttpEvent, HttpResult } from './http.js';
import { flushMetrics } from '../observability/metrics.js';
import { httpErrors } from './errors.js';
import { originGuard } from './origin-guard.js';

export interface HttpFunctionDeps extends Pick<Deps, 'log' | 'metrics'> {
  /** The CloudFront origin-verify value, with the optional WAF. */
  originVerify?: TokenSource | undefined;
  /** Counts requests refused that carried no credential at all: junk, not a caller whose setup broke. */
  anonymousRefusalMetric?: string | undefined;
}

export function httpFunction(deps: HttpFunctionDeps, body: (event: HttpEvent, deadline: Deadline) => Promise<HttpResult>) {
  return middy<HttpEvent, HttpResult>()
    .use(flushMetrics(deps.metrics))
    .use(httpErrors(deps.log))
    .use(originGuard(deps.originVerify, () => deps.anonymousRefusalMetric && deps.metrics.add(deps.anonymousRefusalMetric, 1)))
    .handler(async (event) => {
      const deadline = Deadline.in(REQUEST_BUDGET_MS);
      try {
        return await body(event, deadline);
      } finally {
        deadline.dispose();
      }
    });
}
