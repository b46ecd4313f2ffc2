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
  /** Partnerize recorded a conversion for this request (whether or not the caller saw the answer). */
  recorded?: boolean;
}

/**
 * How the fake answers one request. A `hang` or a `drop` may still have recorded the conversion
 * (`recorded: true`: Partnerize read the call, stored it, and the answer never came back).
 */
export type Behaviour =
  | { status: number; body?: string; headers?: Record<string, string>; delayMs?: number }
  | { hang: true; recorded?: boolean }
  | { drop: true; recorded?: boolean };

/**
 * Partnerize's S2S call is not documented as idempotent; with `dedupe`, the fake answers a
 * conversionref it already recorded with this instead of recording it again.
 */
export interface DedupeAnswer {
  status: number;
  body: string;
}

export const OK: Behaviour = { status: 200, body: 'OK' };

const refOf = (url: string): string => decodeURIComponent(/\/conversionref:([^/]+)\//.exec(url)?.[1] ?? '');

export class FakePartnerize {
  readonly requests: RecordedRequest[] = [];
  private script: Behaviour[] = [];
  private fallback: (req: RecordedRequest, index: number) => Behaviour = () => OK;
  private readonly sockets = new Set<Socket>();
  private readonly waiters: Array<() => void> = [];
  private dedupe: DedupeAnswer | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

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
    this.dedupe = undefined;
    return this;
  }

  /** Answer repeats of a recorded conversionref with `answer` (undefined: record every call, as Partnerize may). */
  dedupeWith(answer: DedupeAnswer | undefined): this {
    this.dedupe = answer;
    return this;
  }

  /** How many conversions Partnerize recorded per conversionref: more than one is a double charge. */
  recordedCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.requests) {
      if (!r.recorded) continue;
      const ref = refOf(r.url);
      counts.set(ref, (counts.get(ref) ?? 0) + 1);
    }
    return counts;
  }

  /** How many times each conversionRef was answered 2xx (accepted). */
  acceptedCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.requests) {
      if (r.answered === undefined || r.answered < 200 || r.answered >= 300) continue;
      const ref = refOf(r.url);
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
    for (const w of this.waiters.splice(0)) w();
    req.resume();
    const ref = refOf(recorded.url);
    const repeat = this.dedupe !== undefined && this.requests.some((r) => r !== recorded && r.recorded && refOf(r.url) === ref);
    const b: Behaviour = repeat
      ? { status: this.dedupe!.status, body: this.dedupe!.body }
      : (this.script.shift() ?? this.fallback(recorded, index));
    if ('hang' in b) {
      recorded.recorded = b.recorded === true;
      return; // never answers; the socket is destroyed at close()
    }
    if ('drop' in b) {
      recorded.recorded = b.recorded === true;
      req.socket.destroy();
      return;
    }
    // A 2xx records the conversion when Partnerize decides, not when the caller hears of it.
    if (b.status >= 200 && b.status < 300) recorded.recorded = true;
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
