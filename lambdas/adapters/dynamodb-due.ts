/**
 * The due index, read. Only the sweeps (the retry function, the local mode's loop) and the CLI
 * query it: the classes that do (dynamodb-stores.ts `DynamoOwedConversions`, the update outbox)
 * are the only importers, so the request paths' bundles (clicks, postbacks) carry no Query command.
 */
import { QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DueRef } from '../core/model.js';
import { type Deadline, sendOptions } from './deadline.js';
import { fromItem } from './marshal.js';
import { CONVERSIONS } from './tables.js';

/** The keys (and due times) of one partition of the due index, due at or before `now`, oldest first. */
export async function queryDue(
  table: { db: DynamoDBClient; tableName: string; deadline: Deadline | undefined },
  shard: string,
  now: number,
  limit: number,
): Promise<DueRef[]> {
  const out: DueRef[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const r = await table.db.send(
      new QueryCommand({
        TableName: table.tableName,
        IndexName: CONVERSIONS.dueIndex,
        KeyConditionExpression: '#shard = :shard AND #dueAt <= :now',
        ExpressionAttributeNames: { '#shard': CONVERSIONS.dueIndexPartitionKey, '#dueAt': CONVERSIONS.dueIndexSortKey },
        ExpressionAttributeValues: { ':shard': { S: shard }, ':now': { N: String(now) } },
        ScanIndexForward: true,
        Limit: limit - out.length,
        ExclusiveStartKey: start,
      }),
      sendOptions(table.deadline),
    );
    for (const item of r.Items ?? []) {
      const { conversionRef, dueAt } = fromItem(item) as DueRef;
      out.push({ conversionRef, dueAt });
    }
    start = r.LastEvaluatedKey;
  } while (start && out.length < limit);
  return out;
}
