/**
 * Recording a click: the latest clickref of a session, exactly as given (support questions Q1, Q3, Q6, docs/support-questions.md).
 *
 * The click lock. Clicks are unauthenticated (a browser reports them), so whoever can name a live
 * session id could replace its clickref and take the attribution of the shopper's next order. A
 * click that came with a session key (the snippet's first-party secret, which other tags never see)
 * locks its session for `clickLockMinutes` (default 30): meanwhile a click with another clickref
 * replaces it only if it carries the same key; after that, the latest click wins as before. A
 * shopper's own browser keeps its key, so its second affiliate click wins at once. A click without
 * a key (a Tealium event, a GET, a server) never locks: the latest click of a keyless session wins,
 * as the design promises, since nothing tells its shopper from anyone else. What stays possible:
 * replacing a keyless session's click, a keyed one's once older than the lock (with a leaked
 * session id), and claiming a session id before its shopper's first click.
 */
import { deviceFromUserAgent } from './device.js';
import { InputError } from './errors.js';
import { METRICS } from './metrics.js';
import type { Deps } from './model.js';
import { readClick, singleEvent } from './order-events.js';
import { ClickSchema, parseWith } from './schema.js';
import { guessableSessionId, guessableSessionKey, keyDigest } from './session-id.js';
import { expiresAfterDays, MINUTE_MS } from './time.js';

export interface ClickAnswer {
  /** False when deliberately not recorded: consent refused, or the session's click is locked. */
  recorded: boolean;
}

/**
 * @param input the JSON body (native or Tealium event) or the GET query parameters.
 * @param requestUserAgent the caller's User-Agent header: the browser's own when the landing page
 *   reports the click, used when the body carries no user agent.
 */
export async function recordClick(
  input: unknown,
  requestUserAgent: string | undefined,
  deps: Pick<Deps, 'config' | 'clicks' | 'clock' | 'metrics'>,
): Promise<ClickAnswer> {
  const { config } = deps;
  const body = singleEvent(input);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InputError('invalid_body', 'body must be a JSON object with sessionId and clickref (or a Tealium event)');
  }
  const { native, rename } = readClick(body, config);
  const click = parseWith(ClickSchema, native, rename);
  for (const [name, problem] of [
    ['sessionId', guessableSessionId(click.sessionId, config)],
    ['sessionKey', click.sessionKey === undefined ? undefined : guessableSessionKey(click.sessionKey)],
  ] as const) {
    if (problem === undefined) continue;
    const field = rename([name]);
    throw new InputError('invalid_field', `${field} ${problem}`, field);
  }
  if (click.consent === false) {
    deps.metrics.add(METRICS.clicksNotRecorded, 1);
    return { recorded: false };
  }
  const now = deps.clock.now();
  const lockMs = config.clickLockMinutes * MINUTE_MS;
  const stored = await deps.clicks.put(
    {
      sessionId: click.sessionId,
      clickref: click.clickref,
      clickedAt: now,
      device: click.device ?? deviceFromUserAgent(click.userAgent ?? requestUserAgent),
      ...(click.sessionKey === undefined ? {} : { keyDigest: keyDigest(click.sessionKey) }),
      expiresAt: expiresAfterDays(now, config.attributionWindowDays),
    },
    lockMs > 0 ? now - lockMs : undefined,
  );
  if (!stored) {
    deps.metrics.add(METRICS.clicksLocked, 1);
    return { recorded: false };
  }
  deps.metrics.add(METRICS.clicksRecorded, 1);
  return { recorded: true };
}
