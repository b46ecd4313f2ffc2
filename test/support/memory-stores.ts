/**
 * In-memory adapters implementing the ports: for the unit tests of the use cases, and for measuring
 * the handlers' own CPU cost (I/O excluded). Every method keeps the semantics of its DynamoDB
 * adapter (lambdas/adapters/dynamodb-stores.ts): the same conditions decide, the same attributes
 * are set and removed. test/integration/store-contract.test.ts runs the same scenarios against both.
 */
import {
  APPROVALS_SHARD,
  DUE_SHARD,
  JOBS_SHARD,
  UPDATES_SHARD,
  updatesKey,
  type AttemptOutcome,
  type AttemptTrigger,
  type ClickRecord,
  type ClickStore,
  type ConversionAdmin,
  type ConversionRecord,
  type ConversionStatus,
  type ConversionStore,
  type CreateResult,
  type DueRef,
  type EntryPatch,
  type JobMember,
  type Leased,
  type NewOrderUpdates,
  type OperatorAttribution,
  type OrderUpdatesRecord,
  type UpdateEntry,
  type UpdateJobRecord,
  type UpdatesChange,
  type PartnerizeSender,
  type ReconcileRunRecord,
  type ReconciliationStore,
  type RequeueableStatus,
  type SendResult,
  type UpdateAdmin,
} from '#lambdas/core/model.js';
import { MAX_UPDATES_PER_ORDER } from '#lambdas/adapters/dynamodb-stores.js';
import { InputError } from '#lambdas/core/errors.js';
import { iso } from '#lambdas/core/time.js';

/**
 * Records are shallow-copied, not deep-cloned: the domain never mutates what it hands over, and a
 * deep clone would dominate the cost the benchmark measures. Updates build a new object, so a copy
 * handed out earlier never changes under its holder. The conversion map is bounded like a warm
 * Lambda's memory would be.
 */
const clone = <T extends object>(v: T): T => ({ ...v });
const MAX_CONVERSIONS = 5_000;

const isOwed = (status: ConversionStatus): boolean => status === 'pending' || status === 'queued';

export class MemoryClickStore implements ClickStore {
  readonly items = new Map<string, ClickRecord>();
  async put(click: ClickRecord, lockedSince?: number): Promise<boolean> {
    const old = this.items.get(click.sessionId);
    const replaces =
      !old ||
      (old.clickedAt <= click.clickedAt &&
        (lockedSince === undefined ||
          old.keyDigest === undefined ||
          old.clickedAt < lockedSince ||
          (click.keyDigest !== undefined && old.keyDigest === click.keyDigest)));
    if (replaces) this.items.set(click.sessionId, clone(click));
    return replaces;
  }
  async get(sessionId: string): Promise<ClickRecord | undefined> {
    const c = this.items.get(sessionId);
    return c && clone(c);
  }
}

export class MemoryConversionStore implements ConversionStore {
  readonly items = new Map<string, ConversionRecord>();

  async create(record: ConversionRecord): Promise<CreateResult> {
    const existing = this.items.get(record.conversionRef);
    if (existing) return { created: false, existing: clone(existing) };
    if (this.items.size >= MAX_CONVERSIONS) this.items.clear();
    this.items.set(record.conversionRef, clone(record));
    return { created: true };
  }

  async replace(record: ConversionRecord, existing: Pick<ConversionRecord, 'writeId' | 'status'>): Promise<boolean> {
    const r = this.items.get(record.conversionRef);
    if (!r || r.writeId !== existing.writeId || r.status !== existing.status || r.leaseId !== undefined) return false;
    this.items.set(record.conversionRef, clone(record));
    return true;
  }

  async get(ref: string): Promise<ConversionRecord | undefined> {
    const r = this.items.get(ref);
    return r && clone(r);
  }

  async listDue(now: number, limit: number, shard: string = DUE_SHARD): Promise<DueRef[]> {
    return dueIn(this.items.values(), shard, now, limit);
  }

  async claim(
    ref: string,
    now: number,
    leaseUntil: number,
    leaseId: string,
    trigger: AttemptTrigger,
  ): Promise<ConversionRecord | undefined> {
    return this.takeLeaseIf(ref, (r) => isOwed(r.status) && r.dueAt !== undefined && r.dueAt <= now, { now, leaseUntil, leaseId, trigger });
  }

  /**
   * Like the DynamoDB adapter's conditional update: moves `dueAt` to `leaseUntil`, writes the lease
   * and the attempt that starts, and hands back the earlier holder's unfinished attempt as `interrupted`.
   */
  protected takeLeaseIf(
    ref: string,
    condition: (r: ConversionRecord) => boolean,
    lease: { now: number; leaseUntil: number; leaseId: string; trigger: AttemptTrigger },
  ): ConversionRecord | undefined {
    return takeLease(this.items, ref, condition, lease);
  }

  async finishAttempt(ref: string, leaseId: string, o: AttemptOutcome, now: number): Promise<boolean> {
    const r = this.items.get(ref);
    if (!r || r.leaseId !== leaseId) return false;
    const next: ConversionRecord = {
      ...r,
      status: o.status,
      attempts: [...r.attempts, ...(o.interruptedAttempt ? [o.interruptedAttempt] : []), o.attempt],
      retries: o.retries,
      updatedAt: iso(now),
    };
    delete next.leaseId;
    delete next.attemptStarted;
    if (o.dueAt === undefined) {
      delete next.dueAt;
      delete next.dueShard;
    } else {
      next.dueAt = o.dueAt;
      next.dueShard = o.dueShard ?? DUE_SHARD;
    }
    this.items.set(ref, next);
    return true;
  }
}

/** The operator side, with the conditions of DynamoConversionAdmin. */
export class MemoryConversionAdmin extends MemoryConversionStore implements ConversionAdmin {
  /** A lease is free when nobody holds one, or the holder's lease (dueAt) has run out. */
  async takeLease(
    ref: string,
    now: number,
    leaseUntil: number,
    leaseId: string,
    trigger: AttemptTrigger,
    unchangedSince?: string,
  ): Promise<ConversionRecord | undefined> {
    const unchanged = (r: ConversionRecord) => unchangedSince === undefined || r.updatedAt === unchangedSince;
    return this.takeLeaseIf(ref, (r) => leaseIsFree(r, now) && unchanged(r), { now, leaseUntil, leaseId, trigger });
  }

  async releaseLease(ref: string, leaseId: string, now: number): Promise<boolean> {
    const r = this.items.get(ref);
    if (!r || r.leaseId !== leaseId) return false;
    const { leaseId: _lease, attemptStarted: _started, ...rest } = r;
    this.items.set(ref, { ...rest, dueAt: now, updatedAt: iso(now) });
    return true;
  }

  async attachClickref(ref: string, leaseId: string, a: OperatorAttribution, now: number): Promise<boolean> {
    const r = this.items.get(ref);
    if (!r || r.leaseId !== leaseId) return false;
    this.items.set(ref, {
      ...r,
      clickref: a.clickref,
      clickrefSource: a.source,
      request: a.request,
      updatedAt: iso(now),
      ...(a.consent ? { consent: true, operatorConsent: a.consent } : {}),
    });
    return true;
  }

  async requeue(ref: string, from: readonly RequeueableStatus[], now: number): Promise<boolean> {
    const r = this.items.get(ref);
    if (!r || r.request === undefined || !(from as readonly ConversionStatus[]).includes(r.status) || !leaseIsFree(r, now)) return false;
    // Like the adapter, `attemptStarted` stays: a replay whose lease ran out may have landed.
    const next: ConversionRecord = { ...r, status: 'queued', dueShard: DUE_SHARD, dueAt: now, retries: 0, updatedAt: iso(now) };
    delete next.leaseId;
    this.items.set(ref, next);
    return true;
  }

  async *findByStatus(statuses: readonly ConversionStatus[], since?: string): AsyncIterable<ConversionRecord> {
    for (const r of [...this.items.values()]) {
      if (statuses.includes(r.status) && (since === undefined || r.updatedAt >= since)) yield clone(r);
    }
  }
}

/** The sparse due index holds only records with both `dueShard` and `dueAt`. */
function dueIn(records: Iterable<Leased & { conversionRef: string }>, shard: string, now: number, limit: number): DueRef[] {
  return [...records]
    .filter((r) => r.dueShard === shard && r.dueAt !== undefined && r.dueAt <= now)
    .sort((a, b) => a.dueAt! - b.dueAt!)
    .slice(0, limit)
    .map((r) => ({ conversionRef: r.conversionRef, dueAt: r.dueAt! }));
}

/**
 * Like the DynamoDB adapters' conditional update: moves `dueAt` to `leaseUntil`, writes the lease
 * and the run that starts, and hands back the earlier holder's unfinished run as `interrupted`.
 */
function takeLease<T extends Leased & { updatedAt?: string }>(
  items: Map<string, T>,
  key: string,
  condition: (r: T) => boolean,
  lease: { now: number; leaseUntil: number; leaseId: string; trigger: AttemptTrigger },
): T | undefined {
  const before = items.get(key);
  if (!before || !condition(before)) return undefined;
  const at = iso(lease.now);
  const held: T = {
    ...before,
    dueAt: lease.leaseUntil,
    leaseId: lease.leaseId,
    updatedAt: at,
    attemptStarted: { at, trigger: lease.trigger },
  };
  items.set(key, held);
  return { ...held, interrupted: before.attemptStarted };
}

/**
 * The order updates records and bulk jobs, with the conditions of DynamoOrderUpdates and
 * DynamoUpdateOutbox. `conversions` is the same table's conversion records (the approvals partition).
 */
export class MemoryUpdateOutbox implements UpdateAdmin {
  readonly items = new Map<string, OrderUpdatesRecord>();
  readonly jobs = new Map<string, UpdateJobRecord>();

  constructor(private readonly conversions: { items: Map<string, ConversionRecord> } = { items: new Map() }) {}

  async get(ref: string): Promise<OrderUpdatesRecord | undefined> {
    const r = this.items.get(updatesKey(ref));
    return r && structuredClone(r);
  }

  async add(base: NewOrderUpdates, entry: UpdateEntry, dueAt: number | undefined, now: number): Promise<'added' | 'duplicate'> {
    const key = updatesKey(base.ref);
    const r = this.items.get(key);
    const due = dueAt === undefined ? {} : { dueShard: UPDATES_SHARD, dueAt };
    if (!r) {
      this.items.set(key, {
        conversionRef: key,
        recordType: 'order_updates',
        ...base,
        createdAt: iso(now),
        updatedAt: iso(now),
        version: 1,
        entries: { [entry.id]: structuredClone(entry) },
        ...due,
      });
      return 'added';
    }
    if (r.entries[entry.id]) return 'duplicate';
    if (Object.keys(r.entries).length >= MAX_UPDATES_PER_ORDER)
      throw new InputError(
        'too_many_updates',
        `${base.ref} already has ${MAX_UPDATES_PER_ORDER} updates; no more are taken`,
        'orderId',
        409,
      );
    const next: OrderUpdatesRecord = {
      ...r,
      entries: { ...r.entries, [entry.id]: structuredClone(entry) },
      updatedAt: iso(now),
      version: r.version + 1,
    };
    this.items.set(key, dueAt === undefined ? next : { ...next, dueShard: UPDATES_SHARD, dueAt: r.dueAt ?? dueAt });
    return 'added';
  }

  async listDue(shard: typeof UPDATES_SHARD | typeof JOBS_SHARD, now: number, limit: number): Promise<DueRef[]> {
    return dueIn(shard === JOBS_SHARD ? this.jobs.values() : this.items.values(), shard, now, limit);
  }

  async claim(key: string, now: number, leaseUntil: number, leaseId: string): Promise<OrderUpdatesRecord | undefined> {
    const r = takeLease(this.items, key, (x) => x.dueShard === UPDATES_SHARD && x.dueAt !== undefined && x.dueAt <= now, {
      now,
      leaseUntil,
      leaseId,
      trigger: 'retry',
    });
    return r && structuredClone(r);
  }

  async finish(key: string, leaseId: string, change: UpdatesChange, now: number): Promise<boolean> {
    const r = this.items.get(key);
    if (!r || r.leaseId !== leaseId) return false;
    const dueAt = r.version === change.version ? change.dueAt : now;
    const next: OrderUpdatesRecord = {
      ...r,
      entries: { ...r.entries, ...Object.fromEntries(change.entries.map((e) => [e.id, structuredClone(e)])) },
      updatedAt: iso(now),
      ...(change.items ? { items: structuredClone(change.items), itemsReadAt: iso(now) } : {}),
    };
    delete next.leaseId;
    delete next.attemptStarted;
    if (dueAt === undefined) {
      delete next.dueShard;
      delete next.dueAt;
    } else {
      next.dueShard = UPDATES_SHARD;
      next.dueAt = dueAt;
    }
    this.items.set(key, next);
    return true;
  }

  async settle(member: JobMember, jobId: string, patch: EntryPatch, now: number): Promise<boolean> {
    const key = member.record;
    const entryId = member.entry;
    const r = this.items.get(key);
    const old = r?.entries[entryId];
    if (!r || !old || old.jobId !== jobId || old.state !== 'submitted') return false;
    const entry: UpdateEntry = {
      ...old,
      state: patch.state,
      attempts: [...(old.attempts ?? []), structuredClone(patch.attempt)],
      updatedAt: iso(now),
      note: patch.note,
      notBefore: patch.notBefore,
      group: patch.group,
      ...(patch.retries === undefined ? {} : { retries: patch.retries }),
    };
    for (const f of ['note', 'notBefore', 'group'] as const) if (entry[f] === undefined) delete entry[f];
    const next: OrderUpdatesRecord = { ...r, entries: { ...r.entries, [entryId]: entry }, updatedAt: iso(now), version: r.version + 1 };
    const owed = patch.state === 'owed';
    if (r.leaseId !== undefined) this.items.set(key, next);
    else if (!owed && !member.followUp && r.version === member.version) {
      delete next.dueShard;
      delete next.dueAt;
      this.items.set(key, next);
    } else this.items.set(key, { ...next, dueShard: UPDATES_SHARD, dueAt: owed ? (patch.notBefore ?? now) : now });
    return true;
  }

  async createJob(job: UpdateJobRecord): Promise<void> {
    if (this.jobs.has(job.conversionRef)) throw new Error(`job ${job.jobId} exists`);
    this.jobs.set(job.conversionRef, structuredClone(job));
  }

  async claimJob(key: string, now: number, leaseUntil: number, leaseId: string): Promise<UpdateJobRecord | undefined> {
    const r = takeLease(this.jobs, key, (x) => x.dueShard === JOBS_SHARD && x.dueAt !== undefined && x.dueAt <= now, {
      now,
      leaseUntil,
      leaseId,
      trigger: 'retry',
    });
    return r && structuredClone(r);
  }

  async finishJob(key: string, leaseId: string, change: { status: string; polls: number; dueAt?: number | undefined }, now: number) {
    const r = this.jobs.get(key);
    if (!r || r.leaseId !== leaseId) return false;
    const next: UpdateJobRecord & { updatedAt?: string } = { ...r, status: change.status, polls: change.polls, updatedAt: iso(now) };
    delete next.leaseId;
    delete next.attemptStarted;
    if (change.dueAt === undefined) {
      delete next.dueShard;
      delete next.dueAt;
      next.finishedAt = iso(now);
    } else next.dueAt = change.dueAt;
    this.jobs.set(key, next);
    return true;
  }

  async requeueEntry(ref: string, entryId: string, note: string, now: number): Promise<boolean> {
    const key = updatesKey(ref);
    const r = this.items.get(key);
    const e = r?.entries[entryId];
    if (!r || !e || e.state !== 'applied' || !(r.leaseId === undefined || (r.dueAt !== undefined && r.dueAt <= now))) return false;
    const entry: UpdateEntry = { ...e, state: 'owed', retries: 0, note, updatedAt: iso(now) };
    delete entry.notBefore;
    delete entry.group;
    this.items.set(key, {
      ...r,
      entries: { ...r.entries, [entryId]: entry },
      dueShard: UPDATES_SHARD,
      dueAt: now,
      updatedAt: iso(now),
      version: r.version + 1,
    });
    return true;
  }

  async clearApproval(ref: string): Promise<boolean> {
    const r = this.conversions.items.get(ref);
    if (!r || r.dueShard !== APPROVALS_SHARD || r.leaseId !== undefined) return false;
    const next = { ...r };
    delete next.dueShard;
    delete next.dueAt;
    this.conversions.items.set(ref, next);
    return true;
  }
}

/**
 * The reconciliation's reads over the same maps, as DynamoReconciliation: a campaign's records by
 * order time (what the `campaignTime` index holds: records with both attributes), records and
 * updates by key, run records.
 */
export class MemoryReconciliation implements ReconciliationStore {
  readonly runs = new Map<string, ReconcileRunRecord>();
  constructor(
    private readonly conversions: { items: Map<string, ConversionRecord> },
    private readonly updates: { items: Map<string, OrderUpdatesRecord> },
  ) {}

  async conversionsIn(campaignId: string, from: number, to: number): Promise<ConversionRecord[]> {
    return [...this.conversions.items.values()]
      .filter((r) => r.campaignId === campaignId && r.orderTime >= from && r.orderTime < to)
      .map((r) => clone(r));
  }

  async conversionsByRef(refs: readonly string[]): Promise<ConversionRecord[]> {
    return [...new Set(refs)].flatMap((ref) => {
      const r = this.conversions.items.get(ref);
      return r ? [clone(r)] : [];
    });
  }

  async updatesOf(refs: readonly string[]): Promise<OrderUpdatesRecord[]> {
    return [...new Set(refs)].flatMap((ref) => {
      const r = this.updates.items.get(updatesKey(ref));
      return r ? [structuredClone(r)] : [];
    });
  }

  async putRun(run: ReconcileRunRecord): Promise<void> {
    this.runs.set(run.conversionRef, structuredClone(run));
  }

  async getRun(key: string): Promise<ReconcileRunRecord | undefined> {
    const r = this.runs.get(key);
    return r && structuredClone(r);
  }
}

const leaseIsFree = (r: ConversionRecord, now: number): boolean => r.leaseId === undefined || (r.dueAt !== undefined && r.dueAt <= now);

/** Partnerize answering 200 at once. */
export const instantPartnerize: PartnerizeSender = {
  send: async (): Promise<SendResult> => ({ result: 'sent', status: 200, latencyMs: 0, body: 'OK' }),
};
