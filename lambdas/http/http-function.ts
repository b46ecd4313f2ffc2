/**
 * The one way an HTTP function is put together: metrics flushed and errors answered whatever
 * happens, and one deadline per request (core/answer-budget.ts) that the optional origin guard and
 * then the body bind their secret and store calls to.
 */
import middy from '@middy/core';
import { Deadline } from '../adapters/deadline.js';
import { ANSWER_BUDGET_MS } from '../core/answer-budget.js';
import type { TokenSource } from '../core/auth.js';
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
  const guard = originGuard(deps.originVerify, () => deps.anonymousRefusalMetric && deps.metrics.add(deps.anonymousRefusalMetric, 1));
  return middy<HttpEvent, HttpResult>()
    .use(flushMetrics(deps.metrics))
    .use(httpErrors(deps.log))
    .handler(async (event) => {
      // From the request's arrival: the origin guard's secret read counts against the budget too.
      const deadline = Deadline.in(ANSWER_BUDGET_MS);
      try {
        return (guard && (await guard(event, deadline))) ?? (await body(event, deadline));
      } finally {
        deadline.dispose();
      }
    });
}
