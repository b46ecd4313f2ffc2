/** The reconcile function, put together from its environment. */
import { systemClock } from '../adapters/clock.js';
import { DynamoReconciliation } from '../adapters/dynamodb-reconcile.js';
import { createPartnerizeApi } from '../adapters/partnerize-api.js';
import type { DailyDeps } from '../core/reconcile-run.js';
import { createReconcileHandler } from '../handlers/reconcile.js';
import { apiCredentials } from './api-keys.js';
import { dynamoClient } from './dynamodb.js';
import { configFromEnv, dynamodbEndpointFromEnv, ENV, required, type Env } from './env.js';
import { observability } from './observability.js';

export function reconcileDeps(env: Env): DailyDeps {
  const config = configFromEnv(env);
  return {
    config,
    store: new DynamoReconciliation(dynamoClient(dynamodbEndpointFromEnv(env)), required(env, ENV.conversionsTable)),
    // The keys are read when a run starts: filling the secret turns the daily run on, no deploy.
    api: createPartnerizeApi({ baseUrl: config.partnerizeApiBaseUrl, credentials: apiCredentials(env) }),
    now: systemClock.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    ...observability(env),
  };
}

export const reconcileFunction = (env: Env) => createReconcileHandler(reconcileDeps(env));
