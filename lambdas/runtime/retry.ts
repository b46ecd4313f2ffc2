/** The retry function, put together from its environment. */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretCredentials } from '../adapters/api-credentials.js';
import { DynamoUpdateOutbox } from '../adapters/dynamodb-update-outbox.js';
import { createPartnerizeApi, staticCredentials, type CredentialSource } from '../adapters/partnerize-api.js';
import type { SweepDeps } from '../core/model.js';
import type { Env } from '../core/settings.js';
import { createRetryHandler } from '../handlers/retry.js';
import { depsFromEnv } from './deps.js';
import { dynamoClient } from './dynamodb.js';
import { apiKeysLocationFromEnv, dynamodbEndpointFromEnv, ENV, required } from './env.js';

/** The Partnerize API keys: the secret the stack created (AWS), the two variables (local mode), or none yet. */
function apiCredentials(env: Env): CredentialSource {
  const where = apiKeysLocationFromEnv(env);
  if ('keys' in where) return staticCredentials(where.keys);
  if ('none' in where) return staticCredentials(undefined);
  const client = new SecretsManagerClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } });
  return secretCredentials(client, where.secretArn);
}

export function retryFunction(env: Env) {
  const deps = depsFromEnv(env, { clicks: false });
  const sweepDeps: SweepDeps = {
    ...deps,
    updates: new DynamoUpdateOutbox(dynamoClient(dynamodbEndpointFromEnv(env)), required(env, ENV.conversionsTable)),
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
