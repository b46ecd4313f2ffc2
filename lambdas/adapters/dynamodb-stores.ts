/**
 * DynamoDB adapters for the click and conversion stores. Every write that decides something is a
 * single conditional request: no transactions, no read-then-write races.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { fromItem, toItem } from './marshal.js';
import {
  DUE_SHARD,
  UPDATES_SHARD,
  updatesKey,
  type AttemptOutcome,
  type AttemptStart,
  type AttemptTrigger,
  type ClickRecord,
  type ClickStore,
  type ConversionRecord,
  type ConversionAdmin,
  type ConversionStatus,
  type ConversionStore,
  type CreateResult,
  type DueRef,
  type Leased,
  type NewOrderUpdates,
  type OperatorAttribution,
  type OrderUpdatesRecord,
  type OrderUpdateStore,
  type OwedConversions,
  type UpdateEntry,
  type RequeueableStatus,
} from '../core/model.js';
import { InputError } from '../core/errors.js';
import { iso } from '../core/time.js';
import { DeadlineBound, sendOptions } from './deadline.js';
import { queryDue } from './dynamodb-due.js';
import { CLICKS, CONVERSIONS } from './tables.js';

/**
 * A table adapter. `withDeadline` gives a view of the same object (same client, same class) whose
 * calls give up at the deadline: the handlers bind one per request.
 */
export abstract class DynamoTable extends DeadlineBound {
  constructor(
    protected readonly db: DynamoDBClient,
    protected readonly tableName: string,
  ) {
    super();
  }

  /**
   * A conditional write, the one place its condition failure is caught: applied (with the item's
   * attributes, if the command asked for them), or not because its condition did not hold (with the
   * item as it was, if the command asked for it); any other failure is thrown. `bounded: false`
   * exempts it from the request deadline (recording a send that has happened matters more than
   * answering fast; the client's own timeouts still bound it).
   */
  protected async conditionalWrite(command: PutItemCommand | UpdateItemCommand, bounded = true): Promise<WriteOutcome> {
    try {
      const output = await this.db.send(command as UpdateItemCommand, bounded ? sendOptions(this.deadline) : {});
      return { applied: true, attributes: output.Attributes };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      return { applied: false, item: err.Item };
    }
  }

  /** A conditional write: true when it was applied, false when its condition did not hold. */
  protected async applied(command: PutItemCommand | UpdateItemCommand, bounded = true): Promise<boolean> {
    return (await this.conditionalWrite(command, bounded)).applied;
  }

  /** A consistent read of one item (under the request deadline, when there is one). */
  protected async read<T>(key: Record<string, AttributeValue>): Promise<T | undefined> {
    const r = await this.db.send(
      new GetItemCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      sendOptions(this.deadline),
    );
    return r.Item ? (fromItem(r.Item) as T) : undefined;
  }

  protected key(conversionRef: string): Record<string, AttributeValue> {
    return { [CONVERSIONS.partitionKey]: { S: conversionRef } };
  }

  /**
   * The lease, for every record of the due index (conversions, order updates, jobs): moves `dueAt`
   * to `leaseUntil`, writes `leaseId` and the run that starts, when `condition` holds; the record
   * as it is now, or undefined. The item is read back as it was before the update, so a run an
   * earlier holder started and never finished is not lost: it comes back as `interrupted`.
   */
  protected async takeLeaseIf<T extends Leased>(
    key: string,
    condition: string,
    values: Record<string, AttributeValue>,
    lease: { now: number; leaseUntil: number; leaseId: string; trigger: AttemptTrigger },
  ): Promise<T | undefined> {
    const started: AttemptStart = { at: iso(lease.now), trigger: lease.trigger };
    const r = await this.conditionalWrite(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(key),
        UpdateExpression: 'SET #dueAt = :leaseUntil, #leaseId = :leaseId, #updatedAt = :updatedAt, #started = :started',
        ConditionExpression: condition,
        // DynamoDB refuses names an expression does not use: only the condition's own, and the update's.
        ExpressionAttributeNames: Object.fromEntries(
          Object.entries({ '#pk': CONVERSIONS.partitionKey, '#status': 'status', '#shard': CONVERSIONS.dueIndexPartitionKey })
            .filter(([k]) => condition.includes(k))
            .concat([
              ['#dueAt', 'dueAt'],
              ['#leaseId', 'leaseId'],
              ['#updatedAt', 'updatedAt'],
              ['#started', 'attemptStarted'],
            ]),
        ),
        ExpressionAttributeValues: {
          ...values,
          ':leaseUntil': { N: String(lease.leaseUntil) },
          ':leaseId': { S: lease.leaseId },
          ':updatedAt': { S: iso(lease.now) },
          ':now': { N: String(lease.now) },
          ':started': { M: toItem(started) },
        },
        ReturnValues: 'ALL_OLD',
      }),
    );
    if (!r.applied || !r.attributes) return undefined;
    const before = fromItem(r.attributes) as T & { updatedAt?: string };
    return {
      ...before,
      dueAt: lease.leaseUntil,
      leaseId: lease.leaseId,
      updatedAt: started.at,
      attemptStarted: started,
      interrupted: before.attemptStarted,
    };
  }
}

/** What a conditional write did (`DynamoTable.conditionalWrite`). */
type WriteOutcome =
  | { applied: true; attributes: Record<string, AttributeValue> | undefined }
  | { applied: false; item: Record<string, AttributeValue> | undefined };

/** Conditions, named (DynamoDB expression text). */
export const CONDITIONS = {
  /** Nobody has written this key yet. */
  isNew: 'attribute_not_exists(#pk)',
  /** Still exactly the record that was read, and nobody holds it. */
  isUnchangedAndFree: '#writeId = :writeId AND #status = :status AND attribute_not_exists(#leaseId)',
  heldByMe: '#leaseId = :leaseId',
  /** Nobody holds it, or the holder's lease (its `dueAt`) has run out. */
  leaseIsFree: '(attribute_not_exists(#leaseId) OR #dueAt <= :now)',
  /** An update not stored yet, on a record with room for it (held or not). */
  updateIsNew: 'attribute_not_exists(#entries.#id) AND size(#entries) < :maxEntries',
} as const;

const isConditionFailure = (err: unknown): err is ConditionalCheckFailedException =>
  err instanceof ConditionalCheckFailedException ||
  (typeof err === 'object' && err !== null && (err as { name?: string }).name === 'ConditionalCheckFailedException');

/** Reads a session's click: the postbacks function's store (it never writes a click, and its role may not). */
export class DynamoClickReader extends DynamoTable implements ClickStore {
  put(_click: ClickRecord, _lockedSince?: number): Promise<boolean> {
    return Promise.reject(new Error('this clicks store only reads (the postbacks function never writes a click)'));
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

/** The clicks table's conditions, beside the one writer that uses them (the clicks function). */
export const CLICK_CONDITIONS = {
  /** The latest click wins: never overwrite a click recorded after this one. */
  clickIsNotNewer: 'attribute_not_exists(#pk) OR #clickedAt <= :clickedAt',
  /**
   * …nor a locked one: a click that came with a session key, recorded since :lockedSince (the click
   * lock, core/clicks.ts). A click without a key never locks its session.
   */
  clickIsNotNewerNorLocked:
    'attribute_not_exists(#pk) OR (#clickedAt <= :clickedAt AND (attribute_not_exists(#keyDigest) OR #clickedAt < :lockedSince))',
  /** …or unless the locked click came with this click's key. */
  clickIsNotNewerNorLockedToAnotherKey:
    'attribute_not_exists(#pk) OR (#clickedAt <= :clickedAt AND (attribute_not_exists(#keyDigest) OR #clickedAt < :lockedSince OR #keyDigest = :keyDigest))',
} as const;

export class DynamoClickStore extends DynamoClickReader {
  override async put(click: ClickRecord, lockedSince?: number): Promise<boolean> {
    const names: Record<string, string> = { '#pk': CLICKS.partitionKey, '#clickedAt': 'clickedAt' };
    const values: Record<string, AttributeValue> = { ':clickedAt': { N: String(click.clickedAt) } };
    let condition: string = CLICK_CONDITIONS.clickIsNotNewer;
    if (lockedSince !== undefined) {
      condition = CLICK_CONDITIONS.clickIsNotNewerNorLocked;
      names['#keyDigest'] = 'keyDigest';
      values[':lockedSince'] = { N: String(lockedSince) };
      if (click.keyDigest !== undefined) {
        condition = CLICK_CONDITIONS.clickIsNotNewerNorLockedToAnotherKey;
        values[':keyDigest'] = { S: click.keyDigest };
      }
    }
    return this.applied(
      new PutItemCommand({
        TableName: this.tableName,
        Item: toItem(click),
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }
}

export class DynamoConversionStore extends DynamoTable implements ConversionStore {
  async create(record: ConversionRecord): Promise<CreateResult> {
    const r = await this.conditionalWrite(
      new PutItemCommand({
        TableName: this.tableName,
        Item: toItem(record),
        ConditionExpression: CONDITIONS.isNew,
        ExpressionAttributeNames: { '#pk': CONVERSIONS.partitionKey },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    if (r.applied) return { created: true };
    const existing = r.item ? (fromItem(r.item) as ConversionRecord) : await this.get(record.conversionRef);
    if (!existing) throw new Error(`conversion ${record.conversionRef} exists but could not be read`);
    return { created: false, existing };
  }

  async replace(record: ConversionRecord, existing: Pick<ConversionRecord, 'writeId' | 'status'>): Promise<boolean> {
    return this.applied(
      new PutItemCommand({
        TableName: this.tableName,
        Item: toItem(record),
        ConditionExpression: CONDITIONS.isUnchangedAndFree,
        ExpressionAttributeNames: { '#writeId': 'writeId', '#status': 'status', '#leaseId': 'leaseId' },
        ExpressionAttributeValues: { ':writeId': { S: existing.writeId }, ':status': { S: existing.status } },
      }),
    );
  }

  async get(conversionRef: string): Promise<ConversionRecord | undefined> {
    return this.read<ConversionRecord>(this.key(conversionRef));
  }

  async claim(
    conversionRef: string,
    now: number,
    leaseUntil: number,
    leaseId: string,
    trigger: AttemptTrigger,
  ): Promise<ConversionRecord | undefined> {
    return this.takeLeaseIf<ConversionRecord>(
      conversionRef,
      '#status IN (:pending, :queued) AND #dueAt <= :now',
      { ':pending': { S: 'pending' }, ':queued': { S: 'queued' } },
      { now, leaseUntil, leaseId, trigger },
    );
  }

  async finishAttempt(conversionRef: string, leaseId: string, outcome: AttemptOutcome, now: number): Promise<boolean> {
    const names: Record<string, string> = {
      '#status': 'status',
      '#attempts': 'attempts',
      '#retries': 'retries',
      '#updatedAt': 'updatedAt',
      '#leaseId': 'leaseId',
      '#dueAt': 'dueAt',
      '#started': 'attemptStarted',
    };
    const attempts = outcome.interruptedAttempt ? [outcome.interruptedAttempt, outcome.attempt] : [outcome.attempt];
    const values: Record<string, AttributeValue> = {
      ':status': { S: outcome.status },
      ':attempt': { L: attempts.map((a) => ({ M: toItem(a) })) },
      ':retries': { N: String(outcome.retries) },
      ':updatedAt': { S: iso(now) },
      ':leaseId': { S: leaseId },
    };
    let update = 'SET #status = :status, #attempts = list_append(#attempts, :attempt), #retries = :retries, #updatedAt = :updatedAt';
    names['#shard'] = CONVERSIONS.dueIndexPartitionKey;
    if (outcome.dueAt !== undefined) {
      update += ', #dueAt = :dueAt, #shard = :shard REMOVE #leaseId, #started';
      values[':dueAt'] = { N: String(outcome.dueAt) };
      values[':shard'] = { S: outcome.dueShard ?? DUE_SHARD };
    } else {
      update += ' REMOVE #leaseId, #dueAt, #shard, #started';
    }
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(conversionRef),
        UpdateExpression: update,
        ConditionExpression: CONDITIONS.heldByMe,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
      false,
    );
  }
}

/** Updates a conversion may hold: each is a few hundred bytes, and a record must stay far below 400 KB. */
export const MAX_UPDATES_PER_ORDER = 100;

/**
 * The order updates records, as the postbacks function uses them: read one, add an update. The
 * retry function's side (leases, jobs) is `DynamoUpdateOutbox` (adapters/dynamodb-update-outbox.ts),
 * kept out of the postbacks bundle.
 */
export class DynamoOrderUpdates extends DynamoTable implements OrderUpdateStore {
  /**
   * The record is created with its first update; a later update is added by one conditional write
   * that also puts the record in the due index — at `dueAt` when it is not there, else at the time
   * already set (a lease's end, a held update's next look, a job's safety net: an update never
   * jumps ahead of those; a holder sees `version` move and looks again).
   */
  async add(base: NewOrderUpdates, entry: UpdateEntry, dueAt: number | undefined, now: number): Promise<'added' | 'duplicate'> {
    const key = updatesKey(base.ref);
    const record: OrderUpdatesRecord = {
      conversionRef: key,
      recordType: 'order_updates',
      ...base,
      createdAt: iso(now),
      updatedAt: iso(now),
      version: 1,
      entries: { [entry.id]: entry },
      ...(dueAt === undefined ? {} : { dueShard: UPDATES_SHARD, dueAt }),
    };
    const put = new PutItemCommand({
      TableName: this.tableName,
      Item: toItem(record),
      ConditionExpression: CONDITIONS.isNew,
      ExpressionAttributeNames: { '#pk': CONVERSIONS.partitionKey },
    });
    if (await this.applied(put)) return 'added';
    const due = dueAt === undefined ? '' : ', #shard = :shard, #dueAt = if_not_exists(#dueAt, :dueAt)';
    const added = await this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(key),
        UpdateExpression: `SET #entries.#id = :entry, #updatedAt = :now${due} ADD #version :one`,
        ConditionExpression: CONDITIONS.updateIsNew,
        ExpressionAttributeNames: {
          '#entries': 'entries',
          '#id': entry.id,
          '#updatedAt': 'updatedAt',
          '#version': 'version',
          ...(dueAt === undefined ? {} : { '#shard': CONVERSIONS.dueIndexPartitionKey, '#dueAt': 'dueAt' }),
        },
        ExpressionAttributeValues: {
          ':entry': { M: toItem(entry) },
          ':now': { S: iso(now) },
          ':one': { N: '1' },
          ':maxEntries': { N: String(MAX_UPDATES_PER_ORDER) },
          ...(dueAt === undefined ? {} : { ':shard': { S: UPDATES_SHARD }, ':dueAt': { N: String(dueAt) } }),
        },
      }),
    );
    if (added) return 'added';
    const r = await this.db.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: this.key(key),
        ConsistentRead: true,
        ProjectionExpression: '#entries.#id',
        ExpressionAttributeNames: { '#entries': 'entries', '#id': entry.id },
      }),
      sendOptions(this.deadline),
    );
    if (r.Item?.['entries']) return 'duplicate';
    throw new InputError('too_many_updates', `${base.ref} already has ${MAX_UPDATES_PER_ORDER} updates; no more are taken`, 'orderId', 409);
  }
}

/**
 * The operator side of the conversions table (replay, requeue, search): used by the CLI only, so
 * the functions' bundles and roles carry none of it.
 */
/** The conversions as the sweeps see them: the store, and its due index (dynamodb-due.ts). */
export class DynamoOwedConversions extends DynamoConversionStore implements OwedConversions {
  async listDue(now: number, limit: number, shard: string = DUE_SHARD): Promise<DueRef[]> {
    return queryDue({ db: this.db, tableName: this.tableName, deadline: this.deadline }, shard, now, limit);
  }
}

export class DynamoConversionAdmin extends DynamoOwedConversions implements ConversionAdmin {
  /** A lease is free when nobody holds one, or the holder's lease (dueAt) has run out. */
  async takeLease(
    conversionRef: string,
    now: number,
    leaseUntil: number,
    leaseId: string,
    trigger: AttemptTrigger,
    unchangedSince?: string,
  ): Promise<ConversionRecord | undefined> {
    const free = `attribute_exists(#pk) AND ${CONDITIONS.leaseIsFree}`;
    const lease = { now, leaseUntil, leaseId, trigger };
    return unchangedSince === undefined
      ? this.takeLeaseIf<ConversionRecord>(conversionRef, free, {}, lease)
      : this.takeLeaseIf<ConversionRecord>(conversionRef, `${free} AND #updatedAt = :seen`, { ':seen': { S: unchangedSince } }, lease);
  }

  async releaseLease(conversionRef: string, leaseId: string, now: number): Promise<boolean> {
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(conversionRef),
        // Due at once: an owed record goes back to the retry function without waiting out the lease.
        UpdateExpression: 'SET #dueAt = :now, #updatedAt = :updatedAt REMOVE #leaseId, #started',
        ConditionExpression: CONDITIONS.heldByMe,
        ExpressionAttributeNames: { '#dueAt': 'dueAt', '#updatedAt': 'updatedAt', '#leaseId': 'leaseId', '#started': 'attemptStarted' },
        ExpressionAttributeValues: { ':now': { N: String(now) }, ':updatedAt': { S: iso(now) }, ':leaseId': { S: leaseId } },
      }),
    );
  }

  async attachClickref(conversionRef: string, leaseId: string, a: OperatorAttribution, now: number): Promise<boolean> {
    const consent = a.consent ? ', #consent = :true, #operatorConsent = :operatorConsent' : '';
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(conversionRef),
        UpdateExpression: `SET #clickref = :clickref, #source = :source, #request = :request, #updatedAt = :updatedAt${consent}`,
        ConditionExpression: CONDITIONS.heldByMe,
        ExpressionAttributeNames: {
          '#clickref': 'clickref',
          '#source': 'clickrefSource',
          '#request': 'request',
          '#updatedAt': 'updatedAt',
          '#leaseId': 'leaseId',
          ...(a.consent ? { '#consent': 'consent', '#operatorConsent': 'operatorConsent' } : {}),
        },
        ExpressionAttributeValues: {
          ':clickref': { S: a.clickref },
          ':source': { S: a.source },
          ':request': { M: toItem(a.request) },
          ':updatedAt': { S: iso(now) },
          ':leaseId': { S: leaseId },
          ...(a.consent ? { ':true': { BOOL: true }, ':operatorConsent': { M: toItem(a.consent) } } : {}),
        },
      }),
    );
  }

  async requeue(conversionRef: string, from: readonly RequeueableStatus[], now: number): Promise<boolean> {
    const statusValues = Object.fromEntries(from.map((s, i) => [`:from${i}`, { S: s }]));
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(conversionRef),
        UpdateExpression:
          'SET #status = :queued, #shard = :shard, #dueAt = :now, #retries = :zero, #updatedAt = :updatedAt REMOVE #leaseId',
        // Never while someone holds the record (a replay in flight): its result must land.
        ConditionExpression: `attribute_exists(#request) AND #status IN (${Object.keys(statusValues).join(', ')}) AND ${CONDITIONS.leaseIsFree}`,
        ExpressionAttributeNames: {
          '#status': 'status',
          '#shard': CONVERSIONS.dueIndexPartitionKey,
          '#dueAt': 'dueAt',
          '#retries': 'retries',
          '#updatedAt': 'updatedAt',
          '#leaseId': 'leaseId',
          '#request': 'request',
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
    );
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
