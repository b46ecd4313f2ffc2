/** The scheduled functions' (retry, reconcile) middy middleware; the HTTP functions flush in http/http-function.ts. */
import type { MiddlewareObj } from '@middy/core';
import type { Metrics } from '../core/metrics.js';

/**
 * Flushes the invocation's metrics when the handler ends, answered or failed. It must return
 * nothing: a middy middleware that returns a value replaces the response.
 */
export function flushMetrics(metrics: Metrics): MiddlewareObj {
  const flush = async (): Promise<void> => {
    metrics.flush?.();
  };
  return { after: flush, onError: flush };
}
