/**
 * A Partnerize sender for unit tests: it answers from a script, one answer per call, in order, and
 * keeps every call. No network: the answers are what the fetch sender (adapters/partnerize-sender.ts)
 * would have returned, including its error class and whether the call may have landed.
 */
import type { Clock, PartnerizeSender, SendCause, SendErrorClass, SendResult } from '#lambdas/core/model.js';
import type { OutgoingCall } from '#lambdas/core/partnerize-url.js';
import { classifyStatus } from '#lambdas/core/retry-policy.js';

export interface ScriptedAnswer {
  /** An HTTP answer with this status (classified by `classifyStatus`, core/retry-policy.ts), or no answer for this cause. */
  answer: { status: number; body?: string; retryAfterS?: number } | { cause: Exclude<SendCause, 'interrupted'> };
  /** How long the call takes: the fake clock moves on by this much. */
  latencyMs?: number;
  /** Runs while the call is in flight (another process takes the lease, the store goes away …). */
  during?: () => unknown;
}

/** The fetch sender's reading of each cause (adapters/partnerize-sender.ts `causeOf`). */
const NO_ANSWER: Record<Exclude<SendCause, 'interrupted'>, { error: SendErrorClass; uncertain: boolean }> = {
  refused: { error: 'connection', uncertain: false },
  dns: { error: 'connection', uncertain: false },
  tls: { error: 'connection', uncertain: false },
  connect_timeout: { error: 'timeout', uncertain: false },
  bad_port: { error: 'connection', uncertain: false },
  timeout: { error: 'timeout', uncertain: true },
  reset: { error: 'connection', uncertain: true },
  other: { error: 'error', uncertain: true },
};

/** Answers, spelled for reading in a test. */
export const answer = {
  sent: (body = 'OK', latencyMs = 0): ScriptedAnswer => ({ answer: { status: 200, body }, latencyMs }),
  status: (status: number, opts: { body?: string; retryAfterS?: number; latencyMs?: number } = {}): ScriptedAnswer => ({
    answer: { status, body: opts.body ?? '', ...(opts.retryAfterS === undefined ? {} : { retryAfterS: opts.retryAfterS }) },
    latencyMs: opts.latencyMs ?? 0,
  }),
  rejected: (body: string, status = 400): ScriptedAnswer => ({ answer: { status, body } }),
  noAnswer: (cause: Exclude<SendCause, 'interrupted'>, latencyMs = 0): ScriptedAnswer => ({ answer: { cause }, latencyMs }),
};

export interface SentCall {
  call: OutgoingCall;
  timeoutMs: number;
  /** The fake clock's time when the call went out. */
  at: number;
}

export class ScriptedSender implements PartnerizeSender {
  readonly calls: SentCall[] = [];
  private readonly script: ScriptedAnswer[];

  /**
   * @param otherwise the answer once the script is used up; without one, an unscripted call fails
   *   the test (a send nobody expected).
   */
  constructor(
    script: ScriptedAnswer[] = [],
    private readonly opts: { clock?: Clock & { advance(ms: number): void }; otherwise?: ScriptedAnswer } = {},
  ) {
    this.script = [...script];
  }

  /** Adds answers to the end of the script. (Not `then`: that would make the sender a thenable.) */
  enqueue(...answers: ScriptedAnswer[]): this {
    this.script.push(...answers);
    return this;
  }

  get remaining(): number {
    return this.script.length;
  }

  async send(call: OutgoingCall, timeoutMs: number): Promise<SendResult> {
    this.calls.push({ call, timeoutMs, at: this.opts.clock?.now() ?? 0 });
    const next = this.script.shift() ?? this.opts.otherwise;
    if (!next) throw new Error(`scripted sender: unexpected call #${this.calls.length} to ${call.url}`);
    await next.during?.();
    const latencyMs = next.latencyMs ?? 0;
    this.opts.clock?.advance(latencyMs);
    const a = next.answer;
    if ('cause' in a) {
      return { result: 'retryable', cause: a.cause, ...NO_ANSWER[a.cause], host: hostOf(call.url), latencyMs };
    }
    return { result: classifyStatus(a.status), status: a.status, body: a.body, retryAfterS: a.retryAfterS, latencyMs };
  }
}

const hostOf = (url: string): string | undefined => {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
};
