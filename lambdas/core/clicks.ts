/**
 * Recording a click: the latest clickref of a session, exactly as given (support questions Q1, Q3, Q6, docs/support-questions.md).
 */
import { deviceFromUserAgent } from './device.js';
import { InputError } from './errors.js';
import { METRICS } from './metrics.js';
import type { Deps } from './model.js';
import { ClickSchema, formatPath, parseWith } from './schema.js';
import { guessableSessionId } from './session-id.js';
import { isTealiumEvent, mapTealiumClick } from './tealium.js';
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
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InputError('invalid_body', 'body must be a JSON object with sessionId and clickref (or a Tealium event)');
  }
  const { native, rename } = isTealiumEvent(input)
    ? mapTealiumClick(input, config.mapping, config.consentCategories)
    : { native: input, rename: formatPath };
  const click = parseWith(ClickSchema, native, rename);
  const guessable = guessableSessionId(click.sessionId, config);
  if (guessable !== undefined) {
    const field = rename(['sessionId']);
    throw new InputError('invalid_field', `${field} ${guessable}`, field);
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
