/**
 * Recording a click: the latest clickref of a session, exactly as given (support questions Q1, Q3, Q6, docs/support-questions.md).
 */
import { deviceFromUserAgent } from './device.js';
import { InputError } from './errors.js';
import { METRICS } from './metrics.js';
import type { Deps } from './model.js';
import { readClick, singleEvent } from './order-events.js';
import { ClickSchema, parseWith } from './schema.js';
import { expiresAfterDays } from './time.js';

export interface ClickAnswer {
  /** False when deliberately not recorded (consent refused). */
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
  if (click.sessionId.length < config.minSessionIdLength) {
    const field = rename(['sessionId']);
    throw new InputError(
      'invalid_field',
      `${field} must be at least ${config.minSessionIdLength} characters (a short, guessable session id lets anyone overwrite its clickref)`,
      field,
    );
  }
  if (click.consent === false) {
    deps.metrics.add(METRICS.clicksNotRecorded, 1);
    return { recorded: false };
  }
  const now = deps.clock.now();
  await deps.clicks.put({
    sessionId: click.sessionId,
    clickref: click.clickref,
    clickedAt: now,
    device: click.device ?? deviceFromUserAgent(click.userAgent ?? requestUserAgent),
    expiresAt: expiresAfterDays(now, config.attributionWindowDays),
  });
  deps.metrics.add(METRICS.clicksRecorded, 1);
  return { recorded: true };
}
