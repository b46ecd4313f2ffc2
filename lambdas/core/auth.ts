/**
 * Postback authentication: `Authorization: Bearer <token>` or `Basic base64(<any user>:<token>)`
 * (Tealium's webhook connector can send either). Comparison is constant-time: both sides are
 * hashed to 32 bytes and compared with timingSafeEqual, so neither content nor length leaks.
 * Several tokens may be valid at once (the current and the previous one during a rotation).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The token a request presents, or undefined when the header is missing or malformed. */
export function presentedToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^\s*(bearer|basic)\s+(\S+)\s*$/i.exec(authorization);
  if (!m) return undefined;
  const [, scheme = '', credential = ''] = m;
  if (scheme.toLowerCase() === 'bearer') return credential;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credential)) return undefined;
  const decoded = Buffer.from(credential, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Digests of the valid tokens, computed once per token (they change only on rotation). */
const validDigests = new Map<string, Buffer>();
function digestOfValid(token: string): Buffer {
  let d = validDigests.get(token);
  if (!d) {
    if (validDigests.size > 16) validDigests.clear();
    d = digest(token);
    validDigests.set(token, d);
  }
  return d;
}

/** Constant-time: is `presented` one of `valid`? Every valid value is compared, whatever matches first. */
export function matchesAny(presented: string | undefined, valid: readonly string[]): boolean {
  if (presented === undefined || presented === '') return false;
  const p = digest(presented);
  let ok = false;
  for (const v of valid) {
    if (v !== '' && timingSafeEqual(p, digestOfValid(v))) ok = true;
  }
  return ok;
}

/** True when the header presents one of `validTokens`. */
export function isAuthorized(authorization: string | undefined, validTokens: readonly string[]): boolean {
  return matchesAny(presentedToken(authorization), validTokens);
}

/**
 * The port to the valid tokens (the postback token, Segment's shared secret, the origin-verify
 * value): adapters/token-source.ts reads them from Secrets Manager, or holds fixed ones.
 */
export interface TokenSource {
  /**
   * Is `presented` a valid token now? Rejects when that cannot be known (the secret cannot be
   * read): a 503, which Tealium retries, rather than a 401, which loses the order.
   */
  accepts(presented: string | undefined): Promise<boolean>;
  /**
   * Does `check` pass for the valid tokens (a request signed with one of them)? Decided as
   * `accepts` decides: the cached tokens, then a read of the secret that started after the call.
   */
  satisfies(check: (valid: readonly string[]) => boolean): Promise<boolean>;
  /** The tokens accepted now (at least one), as cached. */
  tokens(): Promise<readonly string[]>;
}
