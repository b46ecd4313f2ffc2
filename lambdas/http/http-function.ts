/**
 * The one way an HTTP function is put together: metrics flushed and errors answered whatever
 * happens, and one deadline per request (core/answer-budget.ts) that the optional origin guard and
 * then the body bind their secret and store calls to.
 *
 * Written out rather than built with middy (as the retry and reconcile functions are): these
 * functions used only its error and after hooks and its early timeout, and middy is 2.6 KB of the
 * postbacks bundle, whose size has a budget (test/infra/bundles.test.ts). The behaviour is middy's:
 * the answer is raced against Lambda's remaining time less 5 ms, a TimeoutError named as middy
 * names it; metrics are flushed after the answer, or after the error's answer.
 */
import { Deadline } from '../adapters/deadline.js';
import { ANSWER_BUDGET_MS } from '../core/answer-budget.js';
import type { TokenSource } from '../core/auth.js';
import type { Deps } from '../core/model.js';
import type { HttpEvent, HttpResult } from './http.js';
import { httpErrorAnswer } from './errors.js';
import { originGuard } from './origin-guard.js';

export interface HttpFunctionDeps extends Pick<Deps, 'log' | 'metrics'> {
  /** The CloudFront origin-verify value, with the optional WAF. */
  originVerify?: TokenSource | undefined;
  /** Counts requests refused that carried no credential at all: junk, not a caller whose setup broke. */
  anonymousRefusalMetric?: string | undefined;
}

/** What the function reads of Lambda's context: the time left before Lambda cuts the invocation off. */
export interface LambdaTimeLeft {
  getRemainingTimeInMillis?: () => number;
}

/** How long before Lambda's own timeout the function gives up and answers, so the caller gets an answer, not Lambda's error. */
const TIMEOUT_EARLY_MS = 5;

/** The error of a handler that ran out of Lambda's time: a `TimeoutError`, which the error answer maps to 503 (store-errors.ts). */
function outOfTime(): Error {
  // The message middy's timeout used before this wrapper replaced it: log searches keep finding it.
  const err = new Error('[AbortError]: The operation was aborted.');
  err.name = 'TimeoutError';
  return err;
}

export function httpFunction(deps: HttpFunctionDeps, body: (event: HttpEvent, deadline: Deadline) => Promise<HttpResult>) {
  const guard = originGuard(deps.originVerify, () => deps.anonymousRefusalMetric && deps.metrics.add(deps.anonymousRefusalMetric, 1));
  const errorAnswer = httpErrorAnswer(deps.log);
  const answer = async (event: HttpEvent): Promise<HttpResult> => {
    // From the request's arrival: the origin guard's secret read counts against the budget too.
    const deadline = Deadline.in(ANSWER_BUDGET_MS);
    try {
      return (guard && (await guard(event, deadline))) ?? (await body(event, deadline));
    } finally {
      deadline.dispose();
    }
  };
  return async (event: HttpEvent, context?: LambdaTimeLeft): Promise<HttpResult> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const result = await (context?.getRemainingTimeInMillis
        ? Promise.race([
            answer(event),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(outOfTime()), context.getRemainingTimeInMillis!() - TIMEOUT_EARLY_MS);
            }),
          ])
        : answer(event));
      clearTimeout(timer);
      deps.metrics.flush?.();
      return result;
    } catch (err) {
      clearTimeout(timer);
      const result = errorAnswer(err);
      deps.metrics.flush?.();
      return result;
    }
  };
}
