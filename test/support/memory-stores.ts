/**
 * In-memory adapters implementing the ports: for the unit tests of the use cases, and for measuring
 * the handlers' own CPU cost (I/O excluded). Every method keeps the semantics of its DynamoDB
 * adapter (lambdas/adapters/dynamodb-stores.ts): the same conditions decide, the same attributes
 * are set and removed. test/integration/store-contract.test.ts runs the same scenarios against both.
 */
import {
  DUE_SHARD,
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
  type OperatorAttribution,
  type PartnerizeSender,
  type RequeueableStatus,
  type SendResult,
} from '#lambdas/core/model.js';
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
          old.clickedAt < lockedSince ||
          (click.keyDigest !== undefined && old.keyDigest === click.keyDigest) ||
          (old.clickref === click.clickref && old.keyDigest === undefined)));
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

  /** The sparse due index holds only records with both `dueShard` and `dueAt`. */
  async listDue(now: number, limit: number): Promise<DueRef[]> {
    return [...this.items.values()]
      .filter((r) => r.dueShard === DUE_SHARD && r.dueAt !== undefined && r.dueAt <= now)
      .sort((a, b) => a.dueAt! - b.dueAt!)
      .slice(0, limit)
      .map((r) => ({ conversionRef: r.conversionRef, dueAt: r.dueAt! }));
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
    const before = this.items.get(ref);
    if (!before || !condition(before)) return undefined;
    const at = iso(lease.now);
    const held: ConversionRecord = {
      ...before,
      dueAt: lease.leaseUntil,
      leaseId: lease.leaseId,
      updatedAt: at,
      attemptStarted: { at, trigger: lease.trigger },
    };
    this.items.set(ref, held);
    return { ...held, interrupted: before.attemptStarted };
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
      next.dueShard = DUE_SHARD;
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
  ): Promise<ConversionRecord | undefined> {
    return this.takeLeaseIf(ref, (r) => leaseIsFree(r, now), { now, leaseUntil, leaseId, trigger });
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

const leaseIsFree = (r: ConversionRecord, now: number): boolean => r.leaseId === undefined || (r.dueAt !== undefined && r.dueAt <= now);

/** Partnerize answering 200 at once. */
export const instantPartnerize: PartnerizeSender = {
  send: async (): Promise<SendResult> => ({ result: 'sent', status: 200, latencyMs: 0, body: 'OK' }),
};
