/**
 * A per-request deadline for the store and secret calls, without threading it through the domain:
 * the handler runs the request inside `withDeadline`, and the adapters give each AWS SDK call an
 * AbortSignal for the time that is left. Tealium gives up on answers slower than 5 s and does not
 * retry those, so a 5xx must come back in time to be retried.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const deadlines = new AsyncLocalStorage<number>();

/** Tealium's 5 s minus headroom for the answer's way back. */
export const REQUEST_BUDGET_MS = 4_500;

export function withDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
  return deadlines.run(deadline, fn);
}

/** Options for an SDK `send` under the current deadline (none outside a request). */
export function underDeadline(): { abortSignal?: AbortSignal } {
  const d = deadlines.getStore();
  return d === undefined ? {} : { abortSignal: AbortSignal.timeout(Math.max(1, d - Date.now())) };
}
