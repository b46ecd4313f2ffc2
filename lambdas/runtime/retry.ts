/** The retry function, put together from its environment. */
import { DynamoOwedConversions } from '../adapters/dynamodb-stores.js';
import { DynamoUpdateOutbox } from '../adapters/dynamodb-update-outbox.js';
import { createPartnerizeApi } from '../adapters/partnerize-api.js';
import type { SweepDeps } from '../core/model.js';
import { createRetryHandler } from '../handlers/retry.js';
import { apiCredentials } from './api-keys.js';
import { depsFromEnv } from './deps.js';
import { dynamoClient } from './dynamodb.js';
import { dynamodbEndpointFromEnv, ENV, required, type Env } from './env.js';

export function retryFunction(env: Env) {
  // One DynamoDB client for the conversions and the order updates' outbox.
  const db = dynamoClient(dynamodbEndpointFromEnv(env));
  const deps = depsFromEnv(env, { clicks: false }, db);
  const sweepDeps: SweepDeps = {
    ...deps,
    conversions: new DynamoOwedConversions(db, required(env, ENV.conversionsTable)),
    updates: new DynamoUpdateOutbox(db, required(env, ENV.conversionsTable)),
    api: createPartnerizeApi({ baseUrl: deps.config.partnerizeApiBaseUrl, credentials: apiCredentials(env) }),
  };
  const { sweepLimit, sweepConcurrency, sweepBudgetMs, sweepSendsPerSecond, updateBatchSize } = deps.config;
  return createRetryHandler(sweepDeps, {
    conversions: {
      limit: sweepLimit,
      concurrency: sweepConcurrency,
      budgetMs: sweepBudgetMs,
      sendsPerSecond: sweepSendsPerSecond,
      waitUntil: (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now()))),
    },
    updates: { batchSize: updateBatchSize, concurrency: Math.max(sweepConcurrency, 16), budgetMs: sweepBudgetMs },
  });
}
