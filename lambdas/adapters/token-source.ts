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
 * function added later therefore works without 401s.
 *
 * Guarantee: a token that became valid before a request arrived is accepted by that request,
 * whatever the cache holds — an unknown token is decided by a read of the secret that started after
 * the request arrived (a read already in flight that started earlier is waited for, then one more
 * is made). Known tokens are served from the cache (`ttlMs`, 5 min by default) without a read, so a
 * retired token keeps working until the caches expire.
 *
 * A read: cold, one GetSecretValue per stage, made together (3 calls). Warm, one DescribeSecret,
 * whose `VersionIdsToStages` says which version carries each label, without any value. A version's
 * value never changes, so when the same versions carry the three labels nothing changed and the
 * cached tokens are the answer; a version not seen before is read by its id (a rotation: one more
 * GetSecretValue). This is how AWS's own caching clients refresh a secret. DescribeSecret rather
 * than ListSecretVersionIds: it shares GetSecretValue's request quota (10,000/s per account and
 * region), where ListSecretVersionIds has its own small one (50/s) that a flood of wrong tokens
 * would use up — for every function, and for `pz token`, which lists versions with it.
 *
 * What a wrong token costs (test/bench/wrong-token.ts drives the postbacks handler against a fake
 * Secrets Manager answering each call in 20 ms): on a warm instance, one DescribeSecret and no
 * GetSecretValue, answered in 21–22 ms, without waiting for any slot — the read is cheap, so reads
 * for unknown tokens are not spaced out. One read at a time per instance: requests that arrive
 * during a read wait for it, then share the next one. A Lambda instance serves one request at a
 * time, so each wrong-token request costs one call: at the postbacks route throttle (200/s by
 * default) 200 calls/s, $0.05 per 10,000 calls = $5 per million wrong tokens, about $3.60 an hour,
 * and about 200 × 0.022 s ≈ 4–5 concurrent instances (docs/capacity.md §3, §5). Every one of them
 * is also a 401, which the postbacks-4xx-share alarm pages for. Without junk: 1 call per instance
 * per `ttlMs` (3 when cold). A request without any token is refused without a read.
 *
 * No negative cache of refused tokens: a refused token can only become valid by a change to the
 * secret, which an instance learns of only by reading it, so a cache that spared the read would
 * keep refusing it — after a rollback of a mistaken retire, Tealium's own token.
 */
import { DescribeSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { matchesAny, type TokenSource } from '../core/auth.js';
import { DeadlineBound } from './deadline.js';

/** A fixed set of tokens (the local mode, tests). */
export const staticTokens = (...tokens: string[]): TokenSource => ({
  accepts: async (presented) => matchesAny(presented, tokens),
  satisfies: async (check) => check(tokens),
  tokens: async () => tokens,
});

export const TOKEN_STAGES = ['AWSCURRENT', 'AWSPREVIOUS', 'AWSPENDING'] as const;

const isNotFound = (err: unknown) => (err as { name?: string } | null)?.name === 'ResourceNotFoundException';

/** Named AbortError so the HTTP layer answers 503 (retry later), like a store cut off by the deadline. */
const tooLate = () =>
  new DOMException('the secret (postback token or origin-verify value) could not be read before the request deadline', 'AbortError');

export interface SecretsManagerTokensOptions {
  /**
   * Least time between the starts of two reads, for the reads it is worth saving: a refresh after
   * a failed read (stale tokens are served meanwhile), and with `waitForRead: false` the read for an
   * unknown value. A read that decides an unknown value with `waitForRead` (the default) is not
   * spaced: it starts as soon as the one in flight ends, and is one DescribeSecret.
   */
  readSpacingMs?: number;
  /** Longest a read may take: a hung call must not hold the one read slot. */
  readTimeoutMs?: number;
  /**
   * An unknown value is decided by a read that starts after it arrived (the default: the postback
   * token, where a 401 loses an order), or — false — by a read only if one may start now, else
   * refused at once (the origin-verify value: a wrong one is junk, and a rotation is known ahead of use).
   */
  waitForRead?: boolean;
}

/** A labelled version as read: its id (versions never change, so a known id needs no second read) and its token. */
interface Version {
  id?: string;
  token: string;
}

/** What a read found: for each of TOKEN_STAGES in order, the version that carries it, if any. */
type Held = (Version | undefined)[];

interface Read {
  /** Reads are numbered as they start: a request that arrived when `n` reads had started is decided by read `n` or later. */
  index: number;
  promise: Promise<readonly string[]>;
}

interface State {
  started: number;
  lastStartAt: number;
  inflight?: Read;
  cached?: { tokens: readonly string[]; held: Held; at: number; index: number };
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

  /** The tokens of a successful read numbered `arrival` or later: joins it, or waits out an older one and starts it. */
  private async readStartedFrom(arrival: number): Promise<readonly string[]> {
    const s = this.state;
    for (;;) {
      if (s.cached && s.cached.index >= arrival) return s.cached.tokens;
      if (!s.inflight) return this.startRead();
      if (s.inflight.index >= arrival) return s.inflight.promise;
      await s.inflight.promise.catch(() => undefined);
    }
  }

  private startRead(): Promise<readonly string[]> {
    const s = this.state;
    const index = s.started++;
    const at = this.now();
    s.lastStartAt = at;
    const promise = this.load()
      .then((held) => {
        const [current, ...others] = held.map((v) => v?.token);
        if (!current) throw new Error(`the secret ${this.secretId} has no value`);
        const tokens = [...new Set([current, ...others.filter((t): t is string => !!t)])];
        s.cached = { tokens, held, at, index };
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

  /**
   * The versions carrying the three stages. Known labels (a warm instance): one DescribeSecret,
   * which lists each labelled version's id and stages but no value, then a GetSecretValue by id
   * for a version not read before — none when nothing changed. Cold (or answers without version
   * ids): one GetSecretValue per stage, made together.
   */
  private async load(): Promise<Held> {
    const abortSignal = AbortSignal.timeout(this.readTimeoutMs);
    const known = this.state.cached?.held;
    if (!known?.[0]?.id) return Promise.all(TOKEN_STAGES.map((VersionStage) => this.read({ VersionStage }, abortSignal)));
    const stages =
      (await this.client.send(new DescribeSecretCommand({ SecretId: this.secretId }), { abortSignal })).VersionIdsToStages ?? {};
    return Promise.all(
      TOKEN_STAGES.map((stage) => {
        const id = Object.keys(stages).find((v) => stages[v]?.includes(stage));
        return id === undefined ? undefined : (known.find((v) => v?.id === id) ?? this.read({ VersionId: id }, abortSignal));
      }),
    );
  }

  private async read(which: { VersionStage?: string; VersionId?: string }, abortSignal: AbortSignal): Promise<Version | undefined> {
    try {
      const r = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId, ...which }), { abortSignal });
      return r.SecretString === undefined ? undefined : { id: r.VersionId, token: tokenOf(r.SecretString) };
    } catch (err) {
      // A stage nobody carries; or a version unlabelled (and deleted) since it was listed.
      if (which.VersionStage !== 'AWSCURRENT' && isNotFound(err)) return undefined;
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
