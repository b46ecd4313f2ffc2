import { systemClock } from '../adapters/clock.js';
import { newId } from '../adapters/ids.js';
import { createFetchSender, dryRunSender } from '../adapters/partnerize-sender.js';
import type { Deps } from '../core/model.js';
import { clickStoreFromEnv, conversionStoreFromEnv, dynamoClient } from './dynamodb.js';
import { trackerConfigFromEnv } from './env-config.js';
import { jsonLog } from './logger.js';
import { emfMetrics } from './metrics.js';

/** Everything the postback and retry functions need, from the environment. */
export function depsFromEnv(env: Record<string, string | undefined> = process.env): Deps {
  const db = dynamoClient(env);
  const config = trackerConfigFromEnv(env);
  return {
    config,
    clicks: clickStoreFromEnv(db, env),
    conversions: conversionStoreFromEnv(db, env),
    sender: config.mode === 'live' ? createFetchSender() : dryRunSender,
    clock: systemClock,
    newId,
    random: Math.random,
    log: jsonLog(),
    metrics: emfMetrics(),
  };
}
