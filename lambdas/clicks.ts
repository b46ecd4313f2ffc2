/** Lambda entry of the clicks function: wiring from the environment; the logic is in core/. */
import { systemClock } from './adapters/clock.js';
import { clickStoreFromEnv, dynamoClient } from './commons/dynamodb.js';
import { trackerConfigFromEnv } from './commons/env-config.js';
import { maxBodyBytes } from './commons/limits.js';
import { powertoolsLog } from './commons/logger.js';
import { powertoolsMetrics } from './commons/metrics.js';
import { originVerifyFromEnv } from './commons/tokens.js';
import { createClicksHandler } from './handlers/clicks.js';

export const handler = createClicksHandler({
  config: trackerConfigFromEnv(),
  clicks: clickStoreFromEnv(dynamoClient()),
  clock: systemClock,
  log: powertoolsLog(),
  metrics: powertoolsMetrics(),
  maxBodyBytes: maxBodyBytes(process.env, 16_384),
  originVerify: originVerifyFromEnv(),
});
