/**
 * The HTTP sender for Partnerize calls: Node's fetch with a hard timeout (covering the body too),
 * classifying every ending the way the contract says.
 */
import type { PartnerizeSender, SendErrorClass, SendResult } from '../core/model.js';
import type { OutgoingCall } from '../core/partnerize-url.js';
import { classifyStatus, parseRetryAfter } from '../core/retry-policy.js';

export const BODY_KEPT = 256;
const BODY_READ_LIMIT = 4096;

async function readPrefix(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_READ_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(Buffer.concat(chunks)).slice(0, BODY_KEPT);
}

function errorClass(err: unknown): SendErrorClass {
  const name = (err as { name?: string } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  const cause = (err as { cause?: { code?: string; name?: string } } | null)?.cause;
  if (cause?.name === 'ConnectTimeoutError' || cause?.code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if (cause?.code || (err instanceof TypeError && /fetch failed/i.test(err.message))) return 'connection';
  return 'error';
}

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
          body = await readPrefix(res);
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
        return { result: 'retryable', error: errorClass(err), latencyMs: latency() };
      }
    },
  };
}
