import middy from '@middy/core';
import type { SweepDeps } from '../core/model.js';
import { sweepUpdates, type UpdateSweepOptions, type UpdateSweepReport } from '../core/order-update-sweep.js';
import { sweep, type SweepOptions, type SweepReport } from '../core/sweep.js';
import { flushMetrics } from '../observability/metrics.js';

/** What a retry run did: the conversions' sweep, and the order updates' (bulk requests, jobs). */
export type RetryRunReport = SweepReport & { updates: UpdateSweepReport };

/**
 * The scheduled retry run: sends the owed conversions that are due and, beside them, the due order
 * updates in bulk, each within its bounds, and reports what it did.
 */
export function createRetryHandler(deps: SweepDeps, options: { conversions: SweepOptions; updates: UpdateSweepOptions }) {
  return middy<unknown, RetryRunReport>()
    .use(flushMetrics(deps.metrics))
    .handler(async (_event, context) => {
      // Stop claiming early enough that the last send (and its bookkeeping) ends before Lambda's timeout.
      const left = context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
      const budgetMs = Math.max(0, Math.min(options.conversions.budgetMs, left - deps.config.retryTimeoutMs - 5_000));
      // The two work on different records (their own partitions of the due index): they run side by
      // side, and one failing does not stop the other. A failure still fails the run (and pages): what
      // it left is due (or leased) and taken by the next run.
      const [conversions, updates] = await Promise.allSettled([
        sweep(deps, { ...options.conversions, budgetMs }),
        sweepUpdates(deps, { ...options.updates, budgetMs }),
      ]);
      if (conversions.status === 'rejected') throw conversions.reason;
      if (updates.status === 'rejected') {
        deps.log.error('order updates run failed', { error: String(updates.reason) });
        throw updates.reason;
      }
      const report = conversions.value;
      if (report.due > 0) deps.log.info('retry run', { ...report });
      return { ...report, updates: updates.value };
    });
}
