/**
 * Where the postback token comes from: Secrets Manager in AWS (cached, current and previous
 * version so a rotation never rejects in-flight Tealium requests), or a fixed value in local mode.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { sendOptions, type Deadline } from './deadline.js';


export interface TokenSource {
  /** The tokens accepted now (at least one). */
  tokens(): Promise<readonly string[]>;
  /** Re-reads the tokens now (a rotation may just have happened); may serve the cache if it is very fresh. */
  refresh?(): Promise<readonly string[]>;
}

export const staticTokens = (...tokens: string[]): TokenSource => ({ tokens: async () => tokens });

const isNotFound = (err: unknown) =>
  (err as { name?: string } | null)?.name === 'ResourceNotFoundException';

/**
 * Reads AWSCURRENT and (if any) AWSPREVIOUS of a secret whose value is the token (or JSON with a
 * `token` field), caching them for `ttlMs`. A failed refresh keeps serving the cached tokens.
 */
export class SecretsManagerTokens implements TokenSource {
  /** Shared by every deadline-bound view of this source. */
  private readonly state: { cached?: { tokens: readonly string[]; at: number }; inflight?: Promise<readonly string[]> } = {};
  private deadline: Deadline | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretId: string,
    private readonly ttlMs = 300_000,
    private readonly now: () => number = Date.now,
    /** Forced re-reads (unknown tokens) happen at most this often, so wrong tokens cannot flood Secrets Manager. */
    private readonly minRefreshMs = 30_000,
  ) {}

  /** A view whose Secrets Manager calls give up at `deadline`; the cache is shared. */
  withDeadline(deadline: Deadline): SecretsManagerTokens {
    const view = Object.create(this) as SecretsManagerTokens;
    view.deadline = deadline;
    return view;
  }

  async refresh(): Promise<readonly string[]> {
    if (this.state.cached && this.now() - this.state.cached.at < this.minRefreshMs) return this.state.cached.tokens;
    return this.reload();
  }

  async tokens(): Promise<readonly string[]> {
    if (this.state.cached && this.now() - this.state.cached.at < this.ttlMs) return this.state.cached.tokens;
    return this.reload();
  }

  /** One read at a time; a failed read keeps serving the tokens read before. */
  private async reload(): Promise<readonly string[]> {
    this.state.inflight ??= this.load().finally(() => {
      this.state.inflight = undefined;
    });
    try {
      return await this.state.inflight;
    } catch (err) {
      if (this.state.cached) return this.state.cached.tokens;
      throw err;
    }
  }

  private async read(stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId, VersionStage: stage }), sendOptions(this.deadline));
      return r.SecretString === undefined ? undefined : tokenOf(r.SecretString);
    } catch (err) {
      if (stage === 'AWSPREVIOUS' && isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async load(): Promise<readonly string[]> {
    const [current, previous] = await Promise.all([this.read('AWSCURRENT'), this.read('AWSPREVIOUS')]);
    if (!current) throw new Error('the postback token secret has no value');
    const tokens = previous && previous !== current ? [current, previous] : [current];
    this.state.cached = { tokens, at: this.now() };
    return tokens;
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
