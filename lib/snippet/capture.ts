/// <reference lib="dom" />
/**
 * The landing-page half of the tracker: reads Partnerize's `clickref` from the URL (exact case),
 * keeps the latest in a first-party cookie, and reports `{sessionId, clickref, sessionKey}` to
 * `/clicks` — only after the consent callback says yes. The session key is 128 random bits kept in
 * a first-party cookie of its own and sent only to the tracker: for a while after a click, the
 * tracker lets only a click with the same key replace it (the click lock). Dependency-free; built as ESM (`pz-capture.mjs`) and as
 * a classic script (`pz-capture.js`, global `PzCapture`), each under 2 KB minified.
 *
 *   PzCapture.capture({ endpoint: 'https://<api>/clicks', consent: () => cmp.allows('affiliates') })
 */
import { CLICKREF_PATTERN } from '#lambdas/core/clickref.js';

export interface CaptureOptions {
  /** The tracker's clicks URL (the `ClicksUrl` output). */
  endpoint: string;
  /** Your session id (e.g. Tealium's visitor id), or a function returning it; else one is made and kept. */
  sessionId?: string | (() => string | undefined | null) | undefined;
  /**
   * Asked before anything is stored or sent; only `true` (or a promise of it) lets it go on. Return
   * a promise that settles when the shopper answers your consent banner. Missing: nothing happens.
   */
  consent: () => boolean | Promise<boolean>;
  /** Query parameter holding the clickref. Default `clickref`. */
  param?: string;
  /** Cookie keeping the latest clickref. Default `pz_clickref`. */
  cookieName?: string;
  /** Cookie keeping the generated session id. Default `pz_session`. */
  sessionCookieName?: string;
  /** Cookie lifetime = the attribution window. Default 30 days. */
  days?: number;
  /** e.g. `.example.com` to share the cookies across subdomains. */
  cookieDomain?: string;
  /** For tests and non-browser hosts. */
  env?: CaptureEnv;
}

/** What the snippet touches in the browser, injectable for tests. */
export interface CaptureEnv {
  href: string;
  getCookie(): string;
  setCookie(cookie: string): void;
  random(bytes: Uint8Array): Uint8Array;
  /** An iPad on iPadOS 13+ sends a Mac user agent; its touch points give it away. */
  touchMac?: boolean | undefined;
  beacon?: ((url: string, body: Blob) => boolean) | undefined;
  fetch?: ((url: string, init: RequestInit) => Promise<unknown>) | undefined;
}

export interface CaptureResult {
  clickref?: string;
  sessionId?: string;
  /** Why nothing was sent, if nothing was. */
  skipped?: 'no-clickref' | 'invalid-clickref' | 'no-consent' | 'send-failed';
  sent?: 'beacon' | 'fetch';
}

// The tracker's own rule (a clickref the API would refuse is not worth sending).
const CLICKREF = CLICKREF_PATTERN;

function browserEnv(): CaptureEnv {
  const nav = navigator as Navigator & { sendBeacon?: Navigator['sendBeacon'] };
  return {
    href: location.href,
    getCookie: () => document.cookie,
    setCookie: (c) => {
      // biome-ignore lint/suspicious/noDocumentCookie: the snippet keeps a first-party cookie in every browser, Cookie Store API or not.
      document.cookie = c;
    },
    random: (b) => crypto.getRandomValues(b),
    touchMac: nav.maxTouchPoints > 1 && /Macintosh/.test(nav.userAgent),
    beacon: nav.sendBeacon ? (u, b) => nav.sendBeacon(u, b) : undefined,
    fetch: typeof fetch === 'function' ? (u, i) => fetch(u, i) : undefined,
  };
}

export function readCookie(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export function cookie(name: string, value: string, days: number, secure: boolean, domain?: string): string {
  return `${name}=${encodeURIComponent(value)}; Max-Age=${Math.round(days * 86400)}; Path=/; SameSite=Lax${domain ? `; Domain=${domain}` : ''}${secure ? '; Secure' : ''}`;
}

/** 128 random bits, hex. */
export function newSessionId(random: (b: Uint8Array) => Uint8Array): string {
  return Array.from(random(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function capture(o: CaptureOptions): Promise<CaptureResult> {
  const env = o.env ?? browserEnv();
  const clickref = new URL(env.href).searchParams.get(o.param ?? 'clickref');
  if (!clickref) return { skipped: 'no-clickref' };
  if (!CLICKREF.test(clickref)) return { skipped: 'invalid-clickref' };
  let allowed = false;
  try {
    allowed = typeof o.consent === 'function' && (await o.consent()) === true;
  } catch {
    allowed = false;
  }
  if (!allowed) return { clickref, skipped: 'no-consent' };

  const days = o.days ?? 30;
  const secure = env.href.startsWith('https:');
  const sessionName = o.sessionCookieName ?? 'pz_session';
  const given = typeof o.sessionId === 'function' ? o.sessionId() : o.sessionId;
  const jar = env.getCookie();
  const sessionId = given || readCookie(jar, sessionName) || newSessionId(env.random);
  // The session key: sent only to the tracker, never a value other tags are given (pz_key).
  const sessionKey = readCookie(jar, 'pz_key') || newSessionId(env.random);
  const keep = (name: string, value: string) => env.setCookie(cookie(name, value, days, secure, o.cookieDomain));
  if (!given) keep(sessionName, sessionId);
  keep('pz_key', sessionKey);
  keep(o.cookieName ?? 'pz_clickref', clickref);

  // text/plain keeps the request "simple": no CORS preflight, and beacons accept it.
  const body = JSON.stringify({ sessionId, clickref, sessionKey, device: env.touchMac ? 'tablet' : undefined });
  const result: CaptureResult = { clickref, sessionId };
  if (env.beacon?.(o.endpoint, new Blob([body], { type: 'text/plain;charset=UTF-8' }))) return { ...result, sent: 'beacon' };
  try {
    if (!env.fetch) throw 0;
    await env.fetch(o.endpoint, {
      method: 'POST',
      body,
      keepalive: true,
      credentials: 'omit',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
    });
    return { ...result, sent: 'fetch' };
  } catch {
    return { ...result, skipped: 'send-failed' };
  }
}
