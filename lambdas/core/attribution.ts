/**
 * Which click an order is attributed to: the session's latest click, while it is inside the
 * attribution window. The window is checked here, not left to DynamoDB's TTL, whose deletion lags by
 * up to two days.
 */
import type { ClickRecord, ClickStore } from './model.js';
import { DAY_MS } from './time.js';

export function isLive(click: ClickRecord, now: number, windowDays: number): boolean {
  return now < click.clickedAt + windowDays * DAY_MS && now < click.expiresAt * 1000;
}

/** The session's latest click, if still live. */
export async function liveClick(
  sessionId: string | undefined,
  now: number,
  windowDays: number,
  clicks: Pick<ClickStore, 'get'>,
): Promise<ClickRecord | undefined> {
  if (!sessionId) return undefined;
  const click = await clicks.get(sessionId);
  return click && isLive(click, now, windowDays) ? click : undefined;
}
