import middy from '@middy/core';
import type { Deps } from '../core/model.js';
import { sweep, type SweepOptions, type SweepReport } from '../core/sweep.js';
import { flushMetrics } from '../observability/metrics.js';

/** The scheduled retry run: sends what is due, within its bounds, and reports what it did. */
export function createRetryHandler(deps: Deps, options: SweepOptions) {
  return middy<unknown, SweepReport>()
    .use(flushMetrics(deps.metrics))
    .handler(async (_event, context) => {
      // Stop claiming early enough that the last send (and its bookkeeping) ends before Lambda's timeout.
      const left = context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
      const budgetMs = Math.max(0, Math.min(options.budgetMs, left - deps.config.retryTimeoutMs - 5_000));
      const report = await sweep(deps, { ...options, budgetMs });
      if (report.due > 0) deps.log.info('retry run', { ...report });
      return report;
    });
}
