/**
 * Where the postback token comes from (the `TokenSource` port, core/auth.ts): a Secrets Manager
 * secret in AWS, or a fixed value in local mode. Callers ask one question, `accepts(presented)`,
 * and the source answers it whole — check the cache, re-read the secret when the token is unknown,
 * check again — because the answer depends on how the re-reads are timed, and a 401 costs an order
 * (Tealium does not retry 4xx).
 *
 * Valid tokens: the secret's AWSCURRENT and AWSPREVIOUS versions, so a rotation never refuses the
 * token a caller has not switched away from yet, and AWSPENDING, so a token can be staged before it
 * is promoted. That is AWS's own rotation protocol seen from the resource's side: a service accepts
 * the pending credential from `setSecret` on, before `finishSecret` promotes it; a rotation
 * function added later therefore works without 401s. Cost: a third GetSecretValue per read.
 *
 * Guarantee: a token that became valid before a request arrived is accepted by that request,
 * whatever the cache holds — an unknown token is decided by a read of the secret that started after
 * the request arrived (a read already in flight that started earlier is waited for, then one more
 * is made). Known tokens are served from the cache (`ttlMs`, 5 min by default) without a read, so a
 * retired token keeps working until the caches expire.
 *
 * Cost bound under junk (wrong tokens): one read at a time per instance, at least `readSpacingMs`
 * (1 s) between the starts of two reads; requests wait for the next slot rather than fail, and all
 * requests waiting in an instance share its read. A read is one GetSecretValue per stage (3 calls),
 * so one instance makes at most 3 calls/s = 259,200 a day = $1.30 a day at $0.05 per 10,000 calls.
 * A Lambda instance serves one request at a time, so there each wrong-token request costs a read
 * (sharing happens only with several requests in flight, as in the local server): account-wide the
 * bound is the wrong-token requests the API lets through, at most the postbacks route throttle
 * (50/s by default: 150 calls/s, about $2.70 an hour). Every one of them is also a 401, which the
 * postbacks-4xx-share alarm pages for. Without junk: 3 calls per instance per `ttlMs`.
 *
 * No negative cache of refused tokens: a refused token can only become valid by a change to the
 * secret, which an instance learns of only by reading it, so a cache that spared the read would
 * keep refusing it — after a rollback of a mistaken retire, Tealium's own token.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { matchesAny, type TokenSource } from '../core/auth.js';
import { DeadlineBound } from './deadline.js';

/** A fixed set of tokens (the local mode, tests). */
export const staticTokens = (...tokens: string[]): TokenSource => ({
  accepts: async (presented) => matchesAny(presented, tokens),
  satisfies: async (check) => check(tokens),
  tokens: async () => tokens,
});

export const TOKEN_STAGES = ['AWSCURRENT', 'AWSPREVIOUS', 'AWSPENDING'] as const;
type Stage = (typeof TOKEN_STAGES)[number];

const isNotFound = (err: unknown) => (err as { name?: string } | null)?.name === 'ResourceNotFoundException';

/** Named AbortError so the HTTP layer answers 503 (retry later), like a store cut off by the deadline. */
const tooLate = () =>
  new DOMException('the secret (postback token or origin-verify value) could not be read before the request deadline', 'AbortError');

export interface SecretsManagerTokensOptions {
  /** Least time between the starts of two reads of the secret (all but the very first). */
  readSpacingMs?: number;
  /** Longest a read may take: a hung call must not hold the one read slot. */
  readTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * An unknown value waits for the next read slot (the default: the postback token, where a 401
   * loses an order), or — false — is decided by a read only if one may start now, else refused
   * at once (the origin-verify value: a wrong one is junk, and a rotation is known ahead of use).
   */
  waitForRead?: boolean;
}

interface Read {
  /** Reads are numbered as they start: a request that arrived when `n` reads had started is decided by read `n` or later. */
  index: number;
  promise: Promise<readonly string[]>;
}

interface State {
  started: number;
  lastStartAt: number;
  inflight?: Read;
  cached?: { tokens: readonly string[]; at: number; index: number };
}

/**
 * Reads AWSCURRENT, AWSPREVIOUS and AWSPENDING of a secret whose value is the token (or JSON with a
 * `token` field). A failed read keeps serving the tokens read before.
 */
export class SecretsManagerTokens extends DeadlineBound implements TokenSource {
  /** Shared by every deadline-bound view of this source. */
  private readonly state: State = { started: 0, lastStartAt: Number.NEGATIVE_INFINITY };
  private readonly readSpacingMs: number;
  private readonly readTimeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly waitForRead: boolean;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretId: string,
    private readonly ttlMs = 300_000,
    private readonly now: () => number = () => Date.now(),
    options: SecretsManagerTokensOptions = {},
  ) {
    super();
    this.readSpacingMs = options.readSpacingMs ?? 1_000;
    this.readTimeoutMs = options.readTimeoutMs ?? 3_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.waitForRead = options.waitForRead ?? true;
  }

  accepts(presented: string | undefined): Promise<boolean> {
    if (presented === undefined || presented === '') return Promise.resolve(false);
    return this.satisfies((valid) => matchesAny(presented, valid));
  }

  async satisfies(check: (valid: readonly string[]) => boolean): Promise<boolean> {
    const arrival = this.state.started;
    if (check(await this.tokens())) return true;
    if (!this.waitForRead) {
      const s = this.state;
      const read = s.inflight?.promise ?? (this.now() - s.lastStartAt >= this.readSpacingMs ? this.startRead() : undefined);
      return read !== undefined && check(await this.within(read));
    }
    return check(await this.within(this.readStartedFrom(arrival)));
  }

  async tokens(): Promise<readonly string[]> {
    const s = this.state;
    if (s.cached && this.now() - s.cached.at < this.ttlMs) return s.cached.tokens;
    // Stale, and the last read failed a moment ago: serve what we have rather than hammer the API.
    if (s.cached && !s.inflight && this.now() - s.lastStartAt < this.readSpacingMs) return s.cached.tokens;
    try {
      return await this.within(s.inflight?.promise ?? this.startRead());
    } catch (err) {
      if (s.cached) return s.cached.tokens;
      throw err;
    }
  }

  /** The tokens of a successful read numbered `arrival` or later: joins, waits for its slot, or starts it. */
  private async readStartedFrom(arrival: number): Promise<readonly string[]> {
    const s = this.state;
    // The read count at which this request last waited out the spacing: if no read started while
    // it slept, the slot is its own (even if an injected clock did not move).
    let waitedAt = -1;
    for (;;) {
      if (s.cached && s.cached.index >= arrival) return s.cached.tokens;
      if (s.inflight) {
        if (s.inflight.index >= arrival) return s.inflight.promise;
        await s.inflight.promise.catch(() => undefined);
        continue;
      }
      if (waitedAt !== s.started) {
        const wait = s.lastStartAt + this.readSpacingMs - this.now();
        if (wait > 0) {
          waitedAt = s.started;
          await this.sleep(wait);
          continue;
        }
      }
      return this.startRead();
    }
  }

  private startRead(): Promise<readonly string[]> {
    const s = this.state;
    const index = s.started++;
    const at = this.now();
    s.lastStartAt = at;
    const promise = this.load()
      .then((tokens) => {
        s.cached = { tokens, at, index };
        return tokens;
      })
      .finally(() => {
        if (s.inflight?.index === index) s.inflight = undefined;
      });
    // Every waiter may have given up (deadline): the failure must not become an unhandled rejection.
    promise.catch(() => undefined);
    s.inflight = { index, promise };
    return promise;
  }

  private async load(): Promise<readonly string[]> {
    const abortSignal = AbortSignal.timeout(this.readTimeoutMs);
    const [current, ...others] = await Promise.all(TOKEN_STAGES.map((stage) => this.read(stage, abortSignal)));
    if (!current) throw new Error(`the secret ${this.secretId} has no value`);
    return [...new Set([current, ...others.filter((t): t is string => t !== undefined && t !== '')])];
  }

  private async read(stage: Stage, abortSignal: AbortSignal): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId, VersionStage: stage }), { abortSignal });
      return r.SecretString === undefined ? undefined : tokenOf(r.SecretString);
    } catch (err) {
      if (stage !== 'AWSCURRENT' && isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** `work`, or a rejection when this view's deadline passes first (the shared read goes on). */
  private within<T>(work: Promise<T>): Promise<T> {
    const deadline = this.deadline;
    if (!deadline) return work;
    const signal = deadline.signal;
    if (signal.aborted) return Promise.reject(tooLate());
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(tooLate());
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }
}

/** A secret string is the token itself, or JSON `{"token": "…"}`. */
export function tokenOf(secret: string): string {
  const s = secret.trim();
  if (s.startsWith('{')) {
    try {
      const parsed = JSON.parse(s) as { token?: unknown };
      if (typeof parsed.token === 'string') return parsed.token;
    } catch {
      // not JSON: the whole string is the token
    }
  }
  return s;
}
