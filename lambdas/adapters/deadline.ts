/**
 * A per-request deadline for store and secret calls. The handler binds the stores of one request
 * to it (`withDeadline`), and the adapters give each AWS SDK call an AbortSignal for the time that
 * is left, so that even a failure is answered while the caller still waits (core/answer-budget.ts).
 *
 * (An AsyncLocalStorage would spare the binding, but on Node 20 it turns on promise hooks for the
 * whole process: 15% of the local server's throughput.)
 */

import { ANSWER_BUDGET_MS } from '../core/answer-budget.js';

/** Every store call of a request gives up by then (core/answer-budget.ts says why). */
export const REQUEST_BUDGET_MS = ANSWER_BUDGET_MS;

/**
 * One request's deadline: a single AbortSignal shared by all its SDK calls (created on first use,
 * one timer per request rather than one per call), released by `dispose()` when the request ends.
 */
export class Deadline {
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly at: number) {}

  static in(ms: number): Deadline {
    return new Deadline(Date.now() + ms);
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      this.timer = setTimeout(
        () => controller.abort(new DOMException('the request deadline passed', 'TimeoutError')),
        Math.max(1, this.at - Date.now()),
      );
      this.timer.unref?.();
    }
    return this.controller.signal;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Options for an SDK `send` under a deadline; none without one. */
export function sendOptions(deadline: Deadline | undefined): { abortSignal?: AbortSignal } {
  return deadline === undefined ? {} : { abortSignal: deadline.signal };
}

/** Something that can give a copy of itself whose calls respect a deadline. */
export interface DeadlineAware<T> {
  withDeadline(deadline: Deadline): T;
}

/**
 * The base of adapters whose calls can be bound to one request's deadline: `withDeadline` gives a
 * view of the same object — same client, same caches, same class — whose calls give up at it.
 */
export abstract class DeadlineBound {
  protected deadline: Deadline | undefined;

  withDeadline(deadline: Deadline): this {
    const view = Object.create(this) as this;
    view.deadline = deadline;
    return view;
  }
}

export function bindDeadline<T>(x: T, deadline: Deadline): T {
  const d = x as Partial<DeadlineAware<T>>;
  return typeof d.withDeadline === 'function' ? d.withDeadline(deadline) : x;
}
