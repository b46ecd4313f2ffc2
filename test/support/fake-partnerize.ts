/**
 * A real HTTP server on 127.0.0.1 standing in for Partnerize: it records every request and answers
 * as scripted — a status, a hang (never answers), or a dropped connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query exactly as received (still percent-encoded). */
  url: string;
  headers: IncomingMessage['headers'];
  at: number;
  /** The status we answered with; undefined for a hang or a dropped connection. */
  answered?: number;
}

export type Behaviour =
  | { status: number; body?: string; headers?: Record<string, string>; delayMs?: number }
  | { hang: true }
  | { drop: true };

export const OK: Behaviour = { status: 200, body: 'OK' };

export class FakePartnerize {
  readonly requests: RecordedRequest[] = [];
  private script: Behaviour[] = [];
  private fallback: (req: RecordedRequest, index: number) => Behaviour = () => OK;
  private readonly sockets = new Set<Socket>();
  private readonly waiters: Array<() => void> = [];

  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(port = 0): Promise<FakePartnerize> {
    let fake: FakePartnerize | undefined;
    const server = createServer((req, res) => fake?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const addr = server.address();
    if (typeof addr !== 'object' || !addr) throw new Error('fake partnerize did not bind');
    fake = new FakePartnerize(server, `http://127.0.0.1:${addr.port}`);
    server.on('connection', (s: Socket) => {
      fake?.sockets.add(s);
      s.on('close', () => fake?.sockets.delete(s));
    });
    return fake;
  }

  /** The next requests get these answers, in order; then the default. */
  respondWith(...behaviours: Behaviour[]): this {
    this.script.push(...behaviours);
    return this;
  }

  /** What every request gets once the script is used up. */
  setDefault(b: Behaviour | ((req: RecordedRequest, index: number) => Behaviour)): this {
    this.fallback = typeof b === 'function' ? b : () => b;
    this.script = [];
    return this;
  }

  reset(): this {
    this.requests.length = 0;
    this.script = [];
    this.fallback = () => OK;
    return this;
  }

  /** How many times each conversionRef was answered 2xx (accepted). */
  acceptedCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.requests) {
      if (r.answered === undefined || r.answered < 200 || r.answered >= 300) continue;
      const ref = decodeURIComponent(/\/conversionref:([^/]+)\//.exec(r.url)?.[1] ?? '');
      counts.set(ref, (counts.get(ref) ?? 0) + 1);
    }
    return counts;
  }

  /** Requests whose path holds `conversionref:<ref>/`. */
  requestsFor(conversionRef: string): RecordedRequest[] {
    return this.requests.filter((r) => r.url.includes(`/conversionref:${encodeURIComponent(conversionRef)}/`));
  }

  /** Paths of the requests received, decoded nowhere: exactly what went over the wire. */
  get paths(): string[] {
    return this.requests.map((r) => r.url);
  }

  async waitForRequests(n: number, timeoutMs = 10_000): Promise<RecordedRequest[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < n) {
      if (Date.now() > deadline) throw new Error(`fake Partnerize got ${this.requests.length} requests, wanted ${n}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.requests;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const recorded: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, at: Date.now() };
    const index = this.requests.length;
    this.requests.push(recorded);
    this.waiters.splice(0).forEach((w) => w());
    req.resume();
    const b = this.script.shift() ?? this.fallback(recorded, index);
    if ('hang' in b) return; // never answers; the socket is destroyed at close()
    if ('drop' in b) {
      req.socket.destroy();
      return;
    }
    const answer = () => {
      recorded.answered = b.status;
      res.writeHead(b.status, { 'content-type': 'text/plain', ...(b.headers ?? {}) });
      res.end(b.body ?? '');
    };
    if (b.delayMs) setTimeout(answer, b.delayMs);
    else answer();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
