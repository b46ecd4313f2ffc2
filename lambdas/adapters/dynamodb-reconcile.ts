/**
 * The reconciliation's reads and writes on the conversions table (core/reconcile-run.ts): a
 * campaign's window through the KEYS_ONLY `campaignTime` index, then the records themselves in
 * batches of 100 (BatchGetItem, eventually consistent: half a read unit per 4 KB); the result
 * record of a run; and, for `pz reconcile --fix`, an applied update made owed again. Kept out of
 * the postbacks and retry bundles: only the reconcile function and the CLI load it.
 */
import {
  BatchGetItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import {
  UPDATES_SHARD,
  updatesKey,
  type ConversionRecord,
  type OrderUpdatesRecord,
  type ReconcileRunRecord,
  type ReconciliationStore,
  type UpdateAdmin,
} from '../core/model.js';
import { iso } from '../core/time.js';
import { CONDITIONS, DynamoTable } from './dynamodb-stores.js';
import { DynamoUpdateOutbox } from './dynamodb-update-outbox.js';
import { sendOptions } from './deadline.js';
import { fromItem, toItem } from './marshal.js';
import { CAMPAIGN_TIME_INDEX, CONVERSIONS } from './tables.js';

/** BatchGetItem's limit per request. */
const BATCH = 100;
/** Batches in flight: enough to hide the round trips (8 read a 10,000-record window in 1.4 s on dynalite, 4 in 1.7 s), few enough for the per-call timeout locally. */
const CONCURRENCY = 8;
/** Rounds for keys DynamoDB leaves unprocessed (throttling, 16 MB answers), with a doubling pause. */
const MAX_ROUNDS = 10;

export class DynamoReconciliation extends DynamoTable implements ReconciliationStore {
  async conversionsIn(campaignId: string, from: number, to: number): Promise<ConversionRecord[]> {
    const keys: string[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const r = await this.db
        .send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: CAMPAIGN_TIME_INDEX.name,
            KeyConditionExpression: '#campaign = :campaign AND #time BETWEEN :from AND :last',
            ExpressionAttributeNames: {
              '#campaign': CAMPAIGN_TIME_INDEX.partitionKey,
              '#time': CAMPAIGN_TIME_INDEX.sortKey,
            },
            ExpressionAttributeValues: { ':campaign': { S: campaignId }, ':from': { N: String(from) }, ':last': { N: String(to - 1) } },
            ExclusiveStartKey: start,
          }),
          sendOptions(this.deadline),
        )
        .catch((err: unknown) => {
          throw /specified index/i.test(String((err as Error).message)) ? new MissingIndexError() : err;
        });
      for (const item of r.Items ?? []) {
        const key = item[CONVERSIONS.partitionKey]?.S;
        if (key !== undefined) keys.push(key);
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return (await this.getAll(keys)).filter(isConversion) as unknown as ConversionRecord[];
  }

  async conversionsByRef(refs: readonly string[]): Promise<ConversionRecord[]> {
    return (await this.getAll(refs)).filter(isConversion) as unknown as ConversionRecord[];
  }

  async updatesOf(refs: readonly string[]): Promise<OrderUpdatesRecord[]> {
    return (await this.getAll(refs.map(updatesKey))).filter((r) => r['recordType'] === 'order_updates') as unknown as OrderUpdatesRecord[];
  }

  async putRun(run: ReconcileRunRecord): Promise<void> {
    await this.db.send(new PutItemCommand({ TableName: this.tableName, Item: toItem(run) }), sendOptions(this.deadline));
  }

  async getRun(key: string): Promise<ReconcileRunRecord | undefined> {
    const r = await this.db.send(new GetItemCommand({ TableName: this.tableName, Key: this.key(key) }), sendOptions(this.deadline));
    return r.Item ? (fromItem(r.Item) as ReconcileRunRecord) : undefined;
  }

  /** The items of these keys that exist, in no particular order. */
  private async getAll(keys: readonly string[]): Promise<Array<Record<string, unknown>>> {
    const unique = [...new Set(keys)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += BATCH) chunks.push(unique.slice(i, i + BATCH));
    const out: Array<Record<string, unknown>> = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, chunks.length) }, async () => {
        while (next < chunks.length) out.push(...(await this.getBatch(chunks[next++]!)));
      }),
    );
    return out;
  }

  private async getBatch(keys: readonly string[]): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    let pending: Array<Record<string, AttributeValue>> = keys.map((k) => this.key(k));
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_ROUNDS) throw new Error(`DynamoDB left ${pending.length} keys unread after ${MAX_ROUNDS} rounds`);
      if (round > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** round));
      const r = await this.db.send(
        new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: pending } } }),
        sendOptions(this.deadline),
      );
      for (const item of r.Responses?.[this.tableName] ?? []) out.push(fromItem(item));
      pending = r.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
    }
    return out;
  }
}

/** A table created before the index existed: dynalite (the local mode) cannot add one to it. */
export class MissingIndexError extends Error {
  override name = 'MissingIndexError';
  constructor() {
    super(
      `the conversions table has no ${CAMPAIGN_TIME_INDEX.name} index: in AWS, deploy the stack (DynamoDB adds it and fills it from the existing records); locally, a DATA_DIR created before reconciliation existed needs a new DATA_DIR (dynalite cannot add an index to a table)`,
    );
  }
}

const isConversion = (r: Record<string, unknown>): boolean => r['recordType'] === undefined && typeof r['orderTime'] === 'number';

/** The operator's side of the update outbox (`pz reconcile --fix`); the retry function's bundle does not carry it. */
export class DynamoUpdateAdmin extends DynamoUpdateOutbox implements UpdateAdmin {
  async requeueEntry(conversionRef: string, entryId: string, note: string, now: number): Promise<boolean> {
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(updatesKey(conversionRef)),
        UpdateExpression:
          'SET #entries.#id.#state = :owed, #entries.#id.#retries = :zero, #entries.#id.#note = :note, #entries.#id.#updatedAt = :at, ' +
          '#shard = :shard, #dueAt = :now, #updatedAt = :at ADD #version :one REMOVE #entries.#id.#notBefore, #entries.#id.#group',
        // Only an update still applied (nobody re-sent it meanwhile), on a record nobody holds.
        ConditionExpression: `#entries.#id.#state = :applied AND ${CONDITIONS.leaseIsFree}`,
        ExpressionAttributeNames: {
          '#entries': 'entries',
          '#id': entryId,
          '#state': 'state',
          '#retries': 'retries',
          '#note': 'note',
          '#updatedAt': 'updatedAt',
          '#notBefore': 'notBefore',
          '#group': 'group',
          '#shard': CONVERSIONS.dueIndexPartitionKey,
          '#dueAt': 'dueAt',
          '#version': 'version',
          '#leaseId': 'leaseId',
        },
        ExpressionAttributeValues: {
          ':owed': { S: 'owed' },
          ':applied': { S: 'applied' },
          ':zero': { N: '0' },
          ':one': { N: '1' },
          ':note': { S: note },
          ':at': { S: iso(now) },
          ':shard': { S: UPDATES_SHARD },
          ':now': { N: String(now) },
        },
      }),
    );
  }
}
