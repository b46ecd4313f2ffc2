/** The clicks function, put together from its environment. */
import { DynamoClickStore } from '../adapters/dynamodb-stores.js';
import { systemClock } from '../adapters/clock.js';
import { createClicksHandler } from '../handlers/clicks.js';
import { dynamoClient } from './dynamodb.js';
import { configFromEnv, dynamodbEndpointFromEnv, ENV, required, type Env } from './env.js';
import { observability } from './observability.js';
import { originVerifyFromEnv } from './secrets.js';

/** A click is a session id, a clickref and little else: a larger body is a 413. */
export const CLICKS_MAX_BODY_BYTES = 16_384;

export function clicksFunction(env: Env) {
  return createClicksHandler({
    config: configFromEnv(env),
    clicks: new DynamoClickStore(dynamoClient(dynamodbEndpointFromEnv(env)), required(env, ENV.clicksTable)),
    clock: systemClock,
    // Clicks are the high-volume path: their counts go out once a minute per instance, not per request.
    ...observability(env, { minFlushIntervalMs: 60_000 }),
    maxBodyBytes: CLICKS_MAX_BODY_BYTES,
    originVerify: originVerifyFromEnv(env),
  });
}
