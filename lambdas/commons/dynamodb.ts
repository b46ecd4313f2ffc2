import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoClickStore, DynamoConversionStore } from '../adapters/dynamodb-stores.js';

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

/**
 * Every DynamoDB call is bounded: DynamoDB answers in milliseconds, so a request without an answer
 * after 1 s is abandoned and retried (3 attempts in all, ~3.5 s at worst with backoff). Without
 * `throwOnRequestTimeout` the handler's `requestTimeout` only logs a warning and the call waits
 * for as long as the socket lives — minutes — turning a hung write into a Lambda timeout, a 5xx,
 * a Tealium retry and a second send. Calls made under a request deadline are cut shorter still.
 * `DYNAMODB_ENDPOINT` points the client at the local mode's embedded DynamoDB.
 */
export const DYNAMODB_REQUEST_TIMEOUT_MS = 1000;

export function dynamoClient(env: Env = process.env): DynamoDBClient {
  const endpoint = env['DYNAMODB_ENDPOINT'];
  return new DynamoDBClient({
    maxAttempts: 3,
    requestHandler: { connectionTimeout: DYNAMODB_REQUEST_TIMEOUT_MS, requestTimeout: DYNAMODB_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    ...(endpoint ? { endpoint } : {}),
  });
}

export const clickStoreFromEnv = (db: DynamoDBClient, env: Env = process.env) =>
  new DynamoClickStore(db, required(env, 'CLICKS_TABLE'));

export const conversionStoreFromEnv = (db: DynamoDBClient, env: Env = process.env) =>
  new DynamoConversionStore(db, required(env, 'CONVERSIONS_TABLE'));
