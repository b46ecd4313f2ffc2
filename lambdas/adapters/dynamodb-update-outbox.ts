/**
 * The retry function's side of the order updates records and their bulk jobs, on the conversions
 * table: the due index's `updates` and `jobs` partitions, the same lease as conversions
 * (`takeLeaseIf`), and one conditional write per decision. Kept out of the postbacks bundle: only
 * the retry function and the CLI load it.
 */
import { PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  APPROVALS_SHARD,
  JOBS_SHARD,
  UPDATES_SHARD,
  updatesKey,
  type DueRef,
  type EntryPatch,
  type JobMember,
  type Leased,
  type OrderUpdatesRecord,
  type UpdateJobRecord,
  type UpdateOutbox,
  type UpdatesChange,
} from '../core/model.js';
import { iso } from '../core/time.js';
import { queryDue } from './dynamodb-due.js';
import { CONDITIONS, DynamoOrderUpdates } from './dynamodb-stores.js';
import { toItem } from './marshal.js';
import { CONVERSIONS } from './tables.js';

const OUTBOX_CONDITIONS = {
  /** A record in `shard` whose due time has come (its lease, if any, ran out). */
  dueIn: '#shard = :shard AND #dueAt <= :now',
  /** Held by me, and nobody changed it since I read it. */
  heldByMeUnchanged: '#leaseId = :leaseId AND #version = :version',
  /** The update still waits for this job's result, nobody holds the record, and nothing changed since it was sent. */
  awaitsJobUnchanged:
    '#entries.#id.#jobId = :jobId AND #entries.#id.#state = :submitted AND attribute_not_exists(#leaseId) AND #version = :version',
  /** The update still waits for this job's result, and nobody holds the record. */
  awaitsJobAndFree: '#entries.#id.#jobId = :jobId AND #entries.#id.#state = :submitted AND attribute_not_exists(#leaseId)',
  awaitsJob: '#entries.#id.#jobId = :jobId AND #entries.#id.#state = :submitted',
  /** A sent conversion whose approval is due, that no replay holds. */
  awaitsApproval: '#shard = :approvals AND attribute_not_exists(#leaseId)',
} as const;

export class DynamoUpdateOutbox extends DynamoOrderUpdates implements UpdateOutbox {
  async get(conversionRef: string): Promise<OrderUpdatesRecord | undefined> {
    return this.read<OrderUpdatesRecord>(this.key(updatesKey(conversionRef)));
  }

  async listDue(shard: typeof UPDATES_SHARD | typeof JOBS_SHARD, now: number, limit: number): Promise<DueRef[]> {
    return queryDue({ db: this.db, tableName: this.tableName, deadline: this.deadline }, shard, now, limit);
  }

  async claim(key: string, now: number, leaseUntil: number, leaseId: string): Promise<OrderUpdatesRecord | undefined> {
    return this.claimIn<OrderUpdatesRecord>(UPDATES_SHARD, key, now, leaseUntil, leaseId);
  }

  /** The lease of a record of one partition of the due index, when it is due there. */
  private claimIn<T extends Leased>(shard: string, key: string, now: number, leaseUntil: number, leaseId: string): Promise<T | undefined> {
    return this.takeLeaseIf<T>(key, OUTBOX_CONDITIONS.dueIn, { ':shard': { S: shard } }, { now, leaseUntil, leaseId, trigger: 'retry' });
  }

  /**
   * Writes the holder's decisions and lets go. If `version` moved while it held the record (an update
   * was added, a job settled), its next due time is stale: the record is made due at once instead.
   */
  async finish(key: string, leaseId: string, change: UpdatesChange, now: number): Promise<boolean> {
    if (await this.finishIf(key, leaseId, change, now, change.dueAt, OUTBOX_CONDITIONS.heldByMeUnchanged)) return true;
    return this.finishIf(key, leaseId, change, now, now, CONDITIONS.heldByMe);
  }

  private finishIf(
    key: string,
    leaseId: string,
    change: UpdatesChange,
    now: number,
    dueAt: number | undefined,
    condition: string,
  ): Promise<boolean> {
    const names: Record<string, string> = { '#updatedAt': 'updatedAt', '#leaseId': 'leaseId', '#started': 'attemptStarted' };
    const values: Record<string, AttributeValue> = { ':now': { S: iso(now) }, ':leaseId': { S: leaseId } };
    const sets = ['#updatedAt = :now'];
    if (change.entries.length > 0) names['#entries'] = 'entries';
    change.entries.forEach((e, i) => {
      names[`#e${i}`] = e.id;
      values[`:e${i}`] = { M: toItem(e) };
      sets.push(`#entries.#e${i} = :e${i}`);
    });
    if (change.items) {
      names['#items'] = 'items';
      names['#itemsReadAt'] = 'itemsReadAt';
      values[':items'] = { L: change.items.map((it) => ({ M: toItem(it) })) };
      sets.push('#items = :items', '#itemsReadAt = :now');
    }
    names['#shard'] = CONVERSIONS.dueIndexPartitionKey;
    names['#dueAt'] = 'dueAt';
    const removes = ['#leaseId', '#started'];
    if (dueAt === undefined) removes.push('#shard', '#dueAt');
    else {
      values[':shard'] = { S: UPDATES_SHARD };
      values[':dueAt'] = { N: String(dueAt) };
      sets.push('#shard = :shard', '#dueAt = :dueAt');
    }
    if (condition.includes('#version')) {
      names['#version'] = 'version';
      values[':version'] = { N: String(change.version) };
    }
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(key),
        UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
      false,
    );
  }

  /**
   * Writes a job's result on one of its updates. Each write is conditional on the update still
   * waiting for this job; tried in order, the first that applies wins.
   */
  async settle(member: JobMember, jobId: string, patch: EntryPatch, now: number): Promise<boolean> {
    const result = entryResult(member, jobId, patch, now);
    const owed = patch.state === 'owed';
    // Nothing left to do: the record leaves the due index (an update added later makes it due again).
    if (!owed && !member.followUp && (await this.settleIf(member, result, OUTBOX_CONDITIONS.awaitsJobUnchanged, { out: true })))
      return true;
    if (await this.settleIf(member, result, OUTBOX_CONDITIONS.awaitsJobAndFree, { at: owed ? (patch.notBefore ?? now) : now })) return true;
    // Held (or the update no longer waits for this job): the result only; the holder sees `version` move.
    return this.settleIf(member, result, OUTBOX_CONDITIONS.awaitsJob, 'keep');
  }

  /** Writes `result` under `condition`, moving the record in the due index as `due` says (due `at`, `out` of it, or `keep` it). */
  private settleIf(
    member: JobMember,
    result: Expression,
    condition: string,
    due: { at: number } | { out: true } | 'keep',
  ): Promise<boolean> {
    const names = { ...result.names };
    const values = { ...result.values };
    const sets = [...result.sets];
    const removes = [...result.removes];
    if (condition.includes('#leaseId')) names['#leaseId'] = 'leaseId';
    if (condition.includes(':version')) values[':version'] = { N: String(member.version) };
    if (due !== 'keep') {
      names['#shard'] = CONVERSIONS.dueIndexPartitionKey;
      names['#dueAt'] = 'dueAt';
      if ('at' in due) {
        values[':shard'] = { S: UPDATES_SHARD };
        values[':dueAt'] = { N: String(due.at) };
        sets.push('#shard = :shard', '#dueAt = :dueAt');
      } else removes.push('#shard', '#dueAt');
    }
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(member.record),
        UpdateExpression: `SET ${sets.join(', ')} ADD #version :one${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
      false,
    );
  }

  async createJob(job: UpdateJobRecord): Promise<void> {
    await this.db.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: toItem(job),
        ConditionExpression: CONDITIONS.isNew,
        ExpressionAttributeNames: { '#pk': CONVERSIONS.partitionKey },
      }),
    );
  }

  async claimJob(key: string, now: number, leaseUntil: number, leaseId: string): Promise<UpdateJobRecord | undefined> {
    return this.claimIn<UpdateJobRecord>(JOBS_SHARD, key, now, leaseUntil, leaseId);
  }

  async finishJob(
    key: string,
    leaseId: string,
    change: { status: string; polls: number; dueAt?: number | undefined },
    now: number,
  ): Promise<boolean> {
    const done = change.dueAt === undefined;
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(key),
        UpdateExpression: done
          ? 'SET #status = :status, #polls = :polls, #updatedAt = :now, #finishedAt = :now REMOVE #leaseId, #started, #shard, #dueAt'
          : 'SET #status = :status, #polls = :polls, #updatedAt = :now, #dueAt = :dueAt REMOVE #leaseId, #started',
        ConditionExpression: CONDITIONS.heldByMe,
        ExpressionAttributeNames: {
          '#status': 'status',
          '#polls': 'polls',
          '#updatedAt': 'updatedAt',
          '#leaseId': 'leaseId',
          '#started': 'attemptStarted',
          '#dueAt': 'dueAt',
          ...(done ? { '#finishedAt': 'finishedAt', '#shard': CONVERSIONS.dueIndexPartitionKey } : {}),
        },
        ExpressionAttributeValues: {
          ':status': { S: change.status },
          ':polls': { N: String(change.polls) },
          ':now': { S: iso(now) },
          ':leaseId': { S: leaseId },
          ...(done ? {} : { ':dueAt': { N: String(change.dueAt) } }),
        },
      }),
      false,
    );
  }

  async clearApproval(conversionRef: string): Promise<boolean> {
    return this.applied(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.key(conversionRef),
        UpdateExpression: 'REMOVE #shard, #dueAt',
        ConditionExpression: OUTBOX_CONDITIONS.awaitsApproval,
        ExpressionAttributeNames: { '#shard': CONVERSIONS.dueIndexPartitionKey, '#dueAt': 'dueAt', '#leaseId': 'leaseId' },
        ExpressionAttributeValues: { ':approvals': { S: APPROVALS_SHARD } },
      }),
      false,
    );
  }
}

/** The parts of an update expression, before the condition and the due index are added. */
interface Expression {
  names: Record<string, string>;
  values: Record<string, AttributeValue>;
  sets: string[];
  removes: string[];
}

/** A job's result on one update: its state, the attempt appended, and the schedule's fields set or cleared. */
function entryResult(member: JobMember, jobId: string, patch: EntryPatch, now: number): Expression {
  const names: Record<string, string> = {
    '#entries': 'entries',
    '#id': member.entry,
    '#jobId': 'jobId',
    '#state': 'state',
    '#attempts': 'attempts',
    '#entryUpdatedAt': 'updatedAt',
    '#updatedAt': 'updatedAt',
    '#version': 'version',
  };
  const values: Record<string, AttributeValue> = {
    ':jobId': { S: jobId },
    ':submitted': { S: 'submitted' },
    ':state': { S: patch.state },
    ':attempt': { L: [{ M: toItem(patch.attempt) }] },
    ':none': { L: [] },
    ':now': { S: iso(now) },
    ':one': { N: '1' },
  };
  const sets = [
    '#entries.#id.#state = :state',
    '#entries.#id.#attempts = list_append(if_not_exists(#entries.#id.#attempts, :none), :attempt)',
    '#entries.#id.#entryUpdatedAt = :now',
    '#updatedAt = :now',
  ];
  const removes: string[] = [];
  for (const f of ['note', 'retries', 'notBefore', 'group'] as const) {
    names[`#${f}`] = f;
    const v = patch[f];
    if (v === undefined) {
      // A field a result does not set is cleared, except the schedule's count, which carries on.
      if (f !== 'retries') removes.push(`#entries.#id.#${f}`);
      else delete names['#retries'];
      continue;
    }
    values[`:${f}`] = typeof v === 'number' ? { N: String(v) } : { S: v };
    sets.push(`#entries.#id.#${f} = :${f}`);
  }
  return { names, values, sets, removes };
}
