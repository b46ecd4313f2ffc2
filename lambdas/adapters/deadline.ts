/**
 * A per-request deadline for store and secret calls. The HTTP function makes one per request
 * (http/http-function.ts), the handler binds the stores of the request to it (`withDeadline`), and
 * the adapters give each AWS SDK call an AbortSignal for the time that is left, so that even a
 * failure is answered while the caller still waits (core/answer-budget.ts).
 *
 * (An AsyncLocalStorage would spare the binding, but on Node 20 it turns on promise hooks for the
 * whole process: 15% of the local server's throughput.)
 */

/**
 * One request's deadline: a single AbortSignal shared by all its SDK calls (created on first use,
 * one timer per request rather than one per call), released by `dispose()` when the request ends.
 */
export class Deadline {
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `at`: when calls give up; `since`: when the time counted towards it began (the request's arrival). */
  constructor(
    readonly at: number,
    readonly since = Date.now(),
  ) {}

  static in(ms: number): Deadline {
    const now = Date.now();
    return new Deadline(now + ms, now);
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
