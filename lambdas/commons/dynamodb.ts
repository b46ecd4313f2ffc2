import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoClickStore, DynamoConversionStore } from '../adapters/dynamodb-stores.js';

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

/**
 * One client per function instance, with short socket timeouts (DynamoDB answers in milliseconds)
 * so a stuck request is retried quickly and cannot eat Tealium's 5 s window. `DYNAMODB_ENDPOINT` points it at the local
 * mode's embedded DynamoDB.
 */
export function dynamoClient(env: Env = process.env): DynamoDBClient {
  const endpoint = env['DYNAMODB_ENDPOINT'];
  return new DynamoDBClient({
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 1000 },
    ...(endpoint ? { endpoint } : {}),
  });
}

export const clickStoreFromEnv = (db: DynamoDBClient, env: Env = process.env) =>
  new DynamoClickStore(db, required(env, 'CLICKS_TABLE'));

export const conversionStoreFromEnv = (db: DynamoDBClient, env: Env = process.env) =>
  new DynamoConversionStore(db, required(env, 'CONVERSIONS_TABLE'));
