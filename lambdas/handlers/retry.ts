import middy from '@middy/core';
import { RECORDING_BOUND_MS } from '../core/answer-budget.js';
import type { SweepDeps } from '../core/model.js';
import { sweepUpdates, type UpdateSweepOptions, type UpdateSweepReport } from '../core/order-update-sweep.js';
import { sweep, type SweepOptions, type SweepReport } from '../core/sweep.js';
import { SECOND_MS } from '../core/time.js';
import { flushMetrics } from './flush-metrics.js';
import { workTimeLeftMs } from './time-left.js';

/** Kept back after the last send's own timeout: recording its result, then the run's end (report, metrics). */
export const AFTER_LAST_SEND_MS = RECORDING_BOUND_MS + SECOND_MS;

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
      const budgetMs = Math.min(options.conversions.budgetMs, workTimeLeftMs(context, deps.config.retryTimeoutMs + AFTER_LAST_SEND_MS));
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
