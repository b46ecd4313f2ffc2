/**
 * The HTTP sender for Partnerize calls: Node's fetch with a hard timeout (covering the body too),
 * classifying every answer by `classifyStatus` (`core/retry-policy.ts`: 2xx sent; 408, 429, 5xx
 * retryable; any other rejected) and every call without one by its cause (`causeOf`).
 */
import type { PartnerizeSender, SendCause, SendErrorClass, SendResult } from '../core/model.js';
import type { OutgoingCall } from '../core/partnerize-url.js';
import { classifyStatus, parseRetryAfter } from '../core/retry-policy.js';
import { readBody } from './read-body.js';

export const BODY_KEPT = 256;
const BODY_READ_LIMIT = 4096;

/** Node's error codes for each cause; anything else is `other`. */
const CAUSE_OF_CODE: Record<string, SendCause> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_NONAME: 'dns',
  UND_ERR_CONNECT_TIMEOUT: 'connect_timeout',
  // The OS's timeout: on connect, or on an established socket after the request went out.
  ETIMEDOUT: 'timeout',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_CLOSED: 'reset',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
};

/**
 * Why a call got no answer. Refused, unresolvable and TLS failures never reached Partnerize; a
 * timeout or a connection cut after the request went out may have (`uncertain`).
 */
export function causeOf(err: unknown): { error: SendErrorClass; cause: SendCause; uncertain: boolean } {
  const name = (err as { name?: string } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return { error: 'timeout', cause: 'timeout', uncertain: true };
  const inner = (err as { cause?: { code?: string; name?: string; message?: string } } | null)?.cause;
  const code = inner?.code ?? '';
  let cause: SendCause =
    CAUSE_OF_CODE[code] ??
    (inner?.name === 'ConnectTimeoutError' ? 'connect_timeout' : inner?.message === 'bad port' ? 'bad_port' : 'other');
  if (cause === 'other' && (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)))
    cause = 'tls';
  const error: SendErrorClass =
    cause === 'connect_timeout' || cause === 'timeout' ? 'timeout' : inner || err instanceof TypeError ? 'connection' : 'error';
  return { error, cause, uncertain: cause === 'timeout' || cause === 'reset' || cause === 'other' };
}

const hostOf = (url: string): string | undefined => {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
};

export function createFetchSender(
  userAgent = 'partnerize-s2s-tracker',
  fetchImpl: typeof fetch = fetch,
  now: () => number = () => performance.now(),
): PartnerizeSender {
  return {
    async send(call: OutgoingCall, timeoutMs: number): Promise<SendResult> {
      const started = now();
      const latency = () => Math.round(now() - started);
      try {
        const res = await fetchImpl(call.url, {
          method: call.method,
          signal: AbortSignal.timeout(timeoutMs),
          headers: { 'user-agent': userAgent, accept: '*/*' },
        });
        let body: string | undefined;
        try {
          body = (await readBody(res, BODY_READ_LIMIT)).slice(0, BODY_KEPT);
        } catch {
          // The status is what counts; a body cut off by the timeout is not an error of the call.
        }
        return {
          result: classifyStatus(res.status),
          status: res.status,
          latencyMs: latency(),
          body,
          retryAfterS: res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get('retry-after'), Date.now()) : undefined,
        };
      } catch (err) {
        return { result: 'retryable', ...causeOf(err), host: hostOf(call.url), latencyMs: latency() };
      }
    },
  };
}

/** Raised when something tries to call Partnerize from a dry-run process: a bug, never a send. */
export class DryRunViolation extends Error {
  override name = 'DryRunViolation';
}

/**
 * The sender of a dry-run process: no call leaves it. The use cases never ask it to send (they
 * record dry runs instead), so being asked is a bug — loud, never a silent send.
 */
export const dryRunSender: PartnerizeSender = {
  send: async (call) => {
    throw new DryRunViolation(`dry-run mode: refusing to call ${hostOf(call.url) ?? 'Partnerize'}`);
  },
};
