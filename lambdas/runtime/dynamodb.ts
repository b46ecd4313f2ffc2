import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DYNAMODB_TRIES, DYNAMODB_TRY_TIMEOUT_MS } from '../core/answer-budget.js';

/** Fake credentials for a local DynamoDB (dynalite does not check them; the SDK insists on some). */
export const LOCAL_DYNAMODB = { region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } as const;

/**
 * One client per function instance; `endpoint` points it at a local DynamoDB (the local mode's
 * dynalite). Every call is bounded by tries and a timeout per try (core/answer-budget.ts). Without
 * `throwOnRequestTimeout` the handler's `requestTimeout` only logs a warning and the call waits for
 * as long as the socket lives — minutes — turning a hung write into a Lambda timeout: an order
 * Tealium counts as failed and does not retry (core/answer-budget.ts). Calls made under a request
 * deadline are cut shorter still.
 */
export function dynamoClient(endpoint?: string): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: DYNAMODB_TRIES,
    requestHandler: {
      connectionTimeout: DYNAMODB_TRY_TIMEOUT_MS,
      requestTimeout: DYNAMODB_TRY_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
    ...(endpoint ? { endpoint, ...LOCAL_DYNAMODB } : {}),
  });
}
