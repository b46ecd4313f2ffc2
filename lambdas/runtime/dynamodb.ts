import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Every DynamoDB call is bounded: DynamoDB answers in milliseconds, so a request without an answer
 * after 1 s is abandoned and retried (3 attempts in all, ~3.5 s at worst with backoff). Without
 * `throwOnRequestTimeout` the handler's `requestTimeout` only logs a warning and the call waits
 * for as long as the socket lives — minutes — turning a hung write into a Lambda timeout: an order
 * Tealium counts as failed and does not retry (core/answer-budget.ts). Calls made under a request
 * deadline are cut shorter still.
 */
export const DYNAMODB_REQUEST_TIMEOUT_MS = 1000;

/** Fake credentials for a local DynamoDB (dynalite does not check them; the SDK insists on some). */
export const LOCAL_DYNAMODB = { region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } as const;

/** One client per function instance; `endpoint` points it at a local DynamoDB (the local mode's dynalite). */
export function dynamoClient(endpoint?: string): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: DYNAMODB_REQUEST_TIMEOUT_MS,
      requestTimeout: DYNAMODB_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
    ...(endpoint ? { endpoint, ...LOCAL_DYNAMODB } : {}),
  });
}
