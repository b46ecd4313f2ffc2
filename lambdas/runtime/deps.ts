/** What the postbacks and retry functions share: the use cases' dependencies, from the environment. */
import { systemClock } from '../adapters/clock.js';
import { DynamoClickReader, DynamoConversionStore, DynamoOrderUpdates } from '../adapters/dynamodb-stores.js';
import { newId } from '../adapters/ids.js';
import { createFetchSender, dryRunSender } from '../adapters/partnerize-sender.js';
import type { ClickStore, Deps } from '../core/model.js';
import { dynamoClient } from './dynamodb.js';
import { configFromEnv, dynamodbEndpointFromEnv, ENV, required, type Env } from './env.js';
import { observability } from './observability.js';

/** A function that was given no clicks table (the retry function): using it is a wiring bug. */
const noClicks: ClickStore = {
  put: () => Promise.reject(new Error(`this function has no clicks table (${ENV.clicksTable})`)),
  get: () => Promise.reject(new Error(`this function has no clicks table (${ENV.clicksTable})`)),
};

/** `db`: the function's one DynamoDB client, when it has other stores on it too (the retry function's outbox). */
export function depsFromEnv(env: Env, uses: { clicks: boolean }, db = dynamoClient(dynamodbEndpointFromEnv(env))): Deps {
  const config = configFromEnv(env);
  const conversionsTable = required(env, ENV.conversionsTable);
  return {
    config,
    clicks: uses.clicks ? new DynamoClickReader(db, required(env, ENV.clicksTable)) : noClicks,
    conversions: new DynamoConversionStore(db, conversionsTable),
    updates: new DynamoOrderUpdates(db, conversionsTable),
    // A dry run is dry: its sender refuses to call anyone.
    sender: config.partnerizeMode === 'live' ? createFetchSender() : dryRunSender,
    clock: systemClock,
    newId,
    random: Math.random,
    ...observability(env),
  };
}
