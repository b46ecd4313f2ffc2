/** Lambda entry of the clicks function: wiring from the environment; the logic is in core/. */
import { systemClock } from './adapters/clock.js';
import { clickStoreFromEnv, dynamoClient } from './commons/dynamodb.js';
import { trackerConfigFromEnv } from './commons/env-config.js';
import { maxBodyBytes } from './commons/limits.js';
import { jsonLog } from './commons/logger.js';
import { emfMetrics } from './commons/metrics.js';
import { originVerifyFromEnv } from './commons/origin-guard.js';
import { createClicksHandler } from './handlers/clicks.js';

export const handler = createClicksHandler({
  config: trackerConfigFromEnv(),
  clicks: clickStoreFromEnv(dynamoClient()),
  clock: systemClock,
  log: jsonLog(),
  // Clicks are the high-volume path: their counts go out once a minute per instance, not per request.
  metrics: emfMetrics({ minFlushIntervalMs: 60_000 }),
  maxBodyBytes: maxBodyBytes(process.env, 16_384),
  originVerify: originVerifyFromEnv(),
});
