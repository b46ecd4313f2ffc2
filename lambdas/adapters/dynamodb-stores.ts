/**
 * DynamoDB adapters for the click and conversion stores. Every write that decides something is a
 * single conditional request: no transactions, no read-then-write races.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { fromItem, toItem } from './marshal.js';
import type {
  AttemptOutcome,
  ClickRecord,
  ClickStore,
  ConversionRecord,
  ConversionAdmin,
  ConversionStatus,
  ConversionStore,
  CreateResult,
  DueRef,
  RequeueableStatus,
} from '../core/model.js';
import type { OutgoingCall } from '../core/partnerize-url.js';
import { DUE_SHARD, iso } from '../core/delivery.js';
import { sendOptions, type Deadline } from './deadline.js';
import { CLICKS, CONVERSIONS } from './tables.js';

/**
 * A table adapter. `withDeadline` gives a view of the same object (same client, same class) whose
 * calls give up at the deadline: the handlers bind one per request.
 */
abstract class DynamoTable {
  protected deadline: Deadline | undefined;

  constructor(
    protected readonly db: DynamoDBClient,
    protected readonly tableName: string,
  ) {}

  withDeadline(deadline: Deadline): this {
    const view = Object.create(this) as this;
    view.deadline = deadline;
    return view;
  }
}

const isConditionFailure = (err: unknown): err is ConditionalCheckFailedException =>
  err instanceof ConditionalCheckFailedException ||
  (typeof err === 'object' && err !== null && (err as { name?: string }).name === 'ConditionalCheckFailedException');

export class DynamoClickStore extends DynamoTable implements ClickStore {
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
        sendOptions(this.deadline),
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
      sendOptions(this.deadline),
    );
    return r.Item ? (fromItem(r.Item) as ClickRecord) : undefined;
  }
}

export class DynamoConversionStore extends DynamoTable implements ConversionStore {
  protected key(conversionRef: string): Record<string, AttributeValue> {
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
        sendOptions(this.deadline),
      );
      return { created: true };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const existing = err.Item ? (fromItem(err.Item) as ConversionRecord) : await this.get(record.conversionRef);
      if (!existing) throw new Error(`conversion ${record.conversionRef} exists but could not be read`);
      return { created: false, existing };
    }
  }

  async get(conversionRef: string): Promise<ConversionRecord | undefined> {
    const r = await this.db.send(
      new GetItemCommand({ TableName: this.tableName, Key: this.key(conversionRef), ConsistentRead: true }),
      sendOptions(this.deadline),
    );
    return r.Item ? (fromItem(r.Item) as ConversionRecord) : undefined;
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
        sendOptions(this.deadline),
      );
      for (const item of r.Items ?? []) {
        const { conversionRef, dueAt } = fromItem(item) as DueRef;
        out.push({ conversionRef, dueAt });
      }
      start = r.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  async claim(conversionRef: string, now: number, leaseUntil: number, leaseId: string): Promise<ConversionRecord | undefined> {
    return this.takeLeaseIf('#status IN (:pending, :queued) AND #dueAt <= :now', { ':pending': { S: 'pending' }, ':queued': { S: 'queued' } }, conversionRef, now, leaseUntil, leaseId);
  }

  /** Moves `dueAt` to `leaseUntil` and writes `leaseId` when `condition` holds; the record, or undefined. */
  protected async takeLeaseIf(
    condition: string,
    values: Record<string, AttributeValue>,
    conversionRef: string,
    now: number,
    leaseUntil: number,
    leaseId: string,
  ): Promise<ConversionRecord | undefined> {
    try {
      const r = await this.db.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(conversionRef),
          UpdateExpression: 'SET #dueAt = :leaseUntil, #leaseId = :leaseId, #updatedAt = :updatedAt',
          ConditionExpression: condition,
          // DynamoDB refuses names an expression does not use: only the condition's own, and the update's.
          ExpressionAttributeNames: Object.fromEntries(
            Object.entries({ '#pk': CONVERSIONS.partitionKey, '#status': 'status' }).filter(([k]) => condition.includes(k)).concat([
              ['#dueAt', 'dueAt'], ['#leaseId', 'leaseId'], ['#updatedAt', 'updatedAt'],
            ]),
          ),
          ExpressionAttributeValues: {
            ...values,
            ':leaseUntil': { N: String(leaseUntil) },
            ':leaseId': { S: leaseId },
            ':updatedAt': { S: iso(now) },
            ':now': { N: String(now) },
          },
          ReturnValues: 'ALL_NEW',
        }),
        sendOptions(this.deadline),
      );
      return r.Attributes ? (fromItem(r.Attributes) as ConversionRecord) : undefined;
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
    names['#shard'] = CONVERSIONS.dueIndexPartitionKey;
    if (outcome.dueAt !== undefined) {
      update += ', #dueAt = :dueAt, #shard = :shard REMOVE #leaseId';
      values[':dueAt'] = { N: String(outcome.dueAt) };
      values[':shard'] = { S: DUE_SHARD };
    } else {
      update += ' REMOVE #leaseId, #dueAt, #shard';
    }
    try {
      // No deadline here: the send has happened, recording it matters more than answering fast.
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

/**
 * The operator side of the conversions table (replay, requeue, search): used by the CLI only, so
 * the functions' bundles and roles carry none of it.
 */
export class DynamoConversionAdmin extends DynamoConversionStore implements ConversionAdmin {
  /** A lease is free when nobody holds one, or the holder's lease (dueAt) has run out. */
  async takeLease(conversionRef: string, now: number, leaseUntil: number, leaseId: string): Promise<ConversionRecord | undefined> {
    return this.takeLeaseIf('attribute_exists(#pk) AND (attribute_not_exists(#leaseId) OR #dueAt <= :now)', {}, conversionRef, now, leaseUntil, leaseId);
  }

  async attachClickref(conversionRef: string, leaseId: string, clickref: string, request: OutgoingCall, now: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(conversionRef),
          UpdateExpression: 'SET #clickref = :clickref, #source = :operator, #request = :request, #updatedAt = :updatedAt',
          ConditionExpression: '#leaseId = :leaseId',
          ExpressionAttributeNames: { '#clickref': 'clickref', '#source': 'clickrefSource', '#request': 'request', '#updatedAt': 'updatedAt', '#leaseId': 'leaseId' },
          ExpressionAttributeValues: {
            ':clickref': { S: clickref },
            ':operator': { S: 'operator' },
            ':request': { M: toItem(request) },
            ':updatedAt': { S: iso(now) },
            ':leaseId': { S: leaseId },
          },
        }),
        sendOptions(this.deadline),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async requeue(conversionRef: string, from: readonly RequeueableStatus[], now: number): Promise<boolean> {
    const statusValues = Object.fromEntries(from.map((s, i) => [`:from${i}`, { S: s }]));
    try {
      await this.db.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.key(conversionRef),
          UpdateExpression: 'SET #status = :queued, #shard = :shard, #dueAt = :now, #retries = :zero, #updatedAt = :updatedAt REMOVE #leaseId',
          // Never while someone holds the record (a replay in flight): its result must land.
          ConditionExpression: `attribute_exists(#request) AND #status IN (${Object.keys(statusValues).join(', ')}) AND (attribute_not_exists(#leaseId) OR #dueAt <= :now)`,
          ExpressionAttributeNames: {
            '#status': 'status', '#shard': CONVERSIONS.dueIndexPartitionKey, '#dueAt': 'dueAt', '#retries': 'retries',
            '#updatedAt': 'updatedAt', '#leaseId': 'leaseId', '#request': 'request',
          },
          ExpressionAttributeValues: {
            ...statusValues,
            ':queued': { S: 'queued' },
            ':shard': { S: DUE_SHARD },
            ':now': { N: String(now) },
            ':zero': { N: '0' },
            ':updatedAt': { S: iso(now) },
          },
        }),
        sendOptions(this.deadline),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** A filtered Scan: an operator tool, not a request path (conversions tables are small). */
  async *findByStatus(statuses: readonly ConversionStatus[], since?: string): AsyncIterable<ConversionRecord> {
    const values: Record<string, AttributeValue> = Object.fromEntries(statuses.map((s, i) => [`:s${i}`, { S: s }]));
    let filter = `#status IN (${Object.keys(values).join(', ')})`;
    if (since) {
      values[':since'] = { S: since };
      filter += ' AND #updatedAt >= :since';
    }
    let start: Record<string, AttributeValue> | undefined;
    do {
      const r = await this.db.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: filter,
          ExpressionAttributeNames: since ? { '#status': 'status', '#updatedAt': 'updatedAt' } : { '#status': 'status' },
          ExpressionAttributeValues: values,
          ExclusiveStartKey: start,
        }),
        sendOptions(this.deadline),
      );
      for (const item of r.Items ?? []) yield fromItem(item) as ConversionRecord;
      start = r.LastEvaluatedKey;
    } while (start);
  }
}
