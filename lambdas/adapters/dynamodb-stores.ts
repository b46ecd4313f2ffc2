/**
 * DynamoDB adapters for the click and conversion stores. Every write that decides something is a
 * single conditional request: no transactions, no read-then-write races.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  AttemptOutcome,
  ClickRecord,
  ClickStore,
  ConversionRecord,
  ConversionStore,
  CreateResult,
  DueRef,
} from '../core/model.js';
import { DUE_SHARD, iso } from '../core/delivery.js';
import { CLICKS, CONVERSIONS } from './tables.js';

const toItem = (v: object): Record<string, AttributeValue> =>
  marshall(v, { removeUndefinedValues: true, convertClassInstanceToMap: false });

const isConditionFailure = (err: unknown): err is ConditionalCheckFailedException =>
  err instanceof ConditionalCheckFailedException ||
  (typeof err === 'object' && err !== null && (err as { name?: string }).name === 'ConditionalCheckFailedException');

export class DynamoClickStore implements ClickStore {
  constructor(private readonly db: DynamoDBClient, private readonly tableName: string) {}

  async put(click: ClickRecord): Promise<void> {
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: toItem(click),
          // The latest click wins: never overwrite a click recorded after this one.
          ConditionExpression: 'attribute_not_exists(#pk) OR #clickedAt <= :clickedAt',
          ExpressionAttributeNames: { '#pk': CLICKS.partitionKey, '#clickedAt': 'clickedAt' },
          ExpressionAttributeValues: { ':clickedAt': { N: String(click.clickedAt) } },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  }

  async get(sessionId: string): Promise<ClickRecord | undefined> {
    const r = await this.db.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [CLICKS.partitionKey]: { S: sessionId } },
        ConsistentRead: true,
      }),
    );
    return r.Item ? (unmarshall(r.Item) as ClickRecord) : undefined;
  }
}

export class DynamoConversionStore implements ConversionStore {
  constructor(private readonly db: DynamoDBClient, private readonly tableName: string) {}

  private key(conversionRef: string): Record<string, AttributeValue> {
    return { [CONVERSIONS.partitionKey]: { S: conversionRef } };
  }

  async create(record: ConversionRecord): Promise<CreateResult> {
    try {
      await this.db.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: toItem(record),
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': CONVERSIONS.partitionKey },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { created: true };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const existing = err.Item ? (unmarshall(err.Item) as ConversionRecord) : await this.get(record.conversionRef);
      if (!existing) throw new Error(`conversion ${record.conversionRef} exists but could not be read`);
      return { created: false, existing };
    }
  }

  async get(conversionRef: string): Promise<ConversionRecord | undefined> {
    const r = await this.db.send(
      new GetItemCommand({ TableName: this.tableName, Key: this.key(conversionRef), ConsistentRead: true }),
    );
    return r.Item ? (unmarshall(r.Item) as ConversionRecord) : undefined;
  }

  async listDue(now: number, limit: number): Promise<DueRef[]> {
    const out: DueRef[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const r = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: CONVERSIONS.dueIndex,
          KeyConditionExpression: '#shard = :shard AND #dueAt <= :now',
          ExpressionAttributeNames: { '#shard': CONVERSIONS.dueIndexPartitionKey, '#dueAt': CONVERSIONS.dueIndexSortKey },
          ExpressionAttributeValues: { ':shard': { S: DUE_SHARD }, ':now': { N: String(now) } },
          ScanIndexForward: true,
          Limit: limit - out.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of r.Items ?? []) {
        const { conversionRef, dueAt } = unmarshall(item) as DueRef;
        out.push({ conversionRef, dueAt });
      }
      start = r.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  async claim(conversionRef: string, now: number, leaseUntil: number, leaseId: string): Promise<ConversionRecord | undefined> {
    try {
      const r = await this.db.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(conversionRef),
          UpdateExpression: 'SET #dueAt = :leaseUntil, #leaseId = :leaseId, #updatedAt = :updatedAt',
          ConditionExpression: '#status IN (:pending, :queued) AND #dueAt <= :now',
          ExpressionAttributeNames: {
            '#dueAt': 'dueAt', '#leaseId': 'leaseId', '#updatedAt': 'updatedAt', '#status': 'status',
          },
          ExpressionAttributeValues: {
            ':leaseUntil': { N: String(leaseUntil) },
            ':leaseId': { S: leaseId },
            ':updatedAt': { S: iso(now) },
            ':pending': { S: 'pending' },
            ':queued': { S: 'queued' },
            ':now': { N: String(now) },
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return r.Attributes ? (unmarshall(r.Attributes) as ConversionRecord) : undefined;
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  async finishAttempt(conversionRef: string, leaseId: string, outcome: AttemptOutcome, now: number): Promise<boolean> {
    const names: Record<string, string> = {
      '#status': 'status', '#attempts': 'attempts', '#retries': 'retries', '#updatedAt': 'updatedAt',
      '#leaseId': 'leaseId', '#dueAt': 'dueAt',
    };
    const values: Record<string, AttributeValue> = {
      ':status': { S: outcome.status },
      ':attempt': { L: [{ M: toItem(outcome.attempt) }] },
      ':retries': { N: String(outcome.retries) },
      ':updatedAt': { S: iso(now) },
      ':leaseId': { S: leaseId },
    };
    let update = 'SET #status = :status, #attempts = list_append(#attempts, :attempt), #retries = :retries, #updatedAt = :updatedAt';
    if (outcome.dueAt !== undefined) {
      update += ', #dueAt = :dueAt REMOVE #leaseId';
      values[':dueAt'] = { N: String(outcome.dueAt) };
    } else {
      update += ' REMOVE #leaseId, #dueAt, #shard';
      names['#shard'] = CONVERSIONS.dueIndexPartitionKey;
    }
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(conversionRef),
          UpdateExpression: update,
          ConditionExpression: '#leaseId = :leaseId',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }
}
