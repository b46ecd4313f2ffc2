/**
 * An AWS SDK request handler that hands DynamoDB requests to the embedded dynalite over its worker
 * thread's message port instead of a loopback socket. dynalite still parses, executes and answers
 * every request as the DynamoDB API; only the TCP hop is gone (on small machines it cost as much as
 * the work itself). dynalite's TCP listener stays, for the CLI and other tools.
 */
import type { Worker } from 'node:worker_threads';

interface SdkRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

interface SdkResponse {
  statusCode: number;
  headers: Record<string, string>;
  /** A byte array: the SDK reads it as is (a stream would cost an async iteration per response). */
  body: Uint8Array;
}

interface WorkerAnswer {
  id?: number;
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export function workerRequestHandler(worker: Worker) {
  let nextId = 0;
  const pending = new Map<number, (a: WorkerAnswer) => void>();
  worker.on('message', (m: WorkerAnswer) => {
    if (m.id === undefined) return;
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    handle(request: SdkRequest, options?: { abortSignal?: AbortSignal }): Promise<{ response: SdkResponse }> {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        const abort = () => {
          pending.delete(id);
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        };
        if (options?.abortSignal?.aborted) return abort();
        options?.abortSignal?.addEventListener('abort', abort, { once: true });
        pending.set(id, (a) => {
          options?.abortSignal?.removeEventListener('abort', abort);
          resolve({ response: { statusCode: a.statusCode, headers: a.headers, body: Buffer.from(a.body) } });
        });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(request.headers)) headers[k.toLowerCase()] = v;
        const body = request.body === undefined ? '' : typeof request.body === 'string' ? request.body : Buffer.from(request.body).toString('utf8');
        worker.postMessage({ id, method: request.method, path: request.path, headers, body });
      });
    },
    updateHttpClientConfig(): void {},
    httpHandlerConfigs(): Record<string, never> {
      return {};
    },
    destroy(): void {},
  };
}
