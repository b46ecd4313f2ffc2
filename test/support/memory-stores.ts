/**
 * In-memory adapters implementing the ports, for measuring the handlers' own CPU cost (I/O
 * excluded). Same semantics as the DynamoDB adapters for the paths they serve.
 */
import type {
  AttemptOutcome, AttemptTrigger, ClickRecord, ClickStore, ConversionRecord, ConversionStore, CreateResult, DueRef,
  PartnerizeSender, SendResult,
} from '#lambdas/core/model.js';

/**
 * Records are shallow-copied, not deep-cloned: the domain never mutates what it hands over, and a
 * deep clone would dominate the cost being measured. The conversion map is bounded like a warm
 * Lambda's memory would be.
 */
const clone = <T extends object>(v: T): T => ({ ...v });
const MAX_CONVERSIONS = 5_000;

export class MemoryClickStore implements ClickStore {
  readonly items = new Map<string, ClickRecord>();
  async put(click: ClickRecord): Promise<void> {
    const old = this.items.get(click.sessionId);
    if (!old || old.clickedAt <= click.clickedAt) this.items.set(click.sessionId, clone(click));
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
  async listDue(now: number, limit: number): Promise<DueRef[]> {
    return [...this.items.values()]
      .filter((r) => r.dueShard !== undefined && r.dueAt !== undefined && r.dueAt <= now)
      .sort((a, b) => a.dueAt! - b.dueAt!)
      .slice(0, limit)
      .map((r) => ({ conversionRef: r.conversionRef, dueAt: r.dueAt! }));
  }
  async claim(ref: string, now: number, leaseUntil: number, leaseId: string, trigger: AttemptTrigger): Promise<ConversionRecord | undefined> {
    const r = this.items.get(ref);
    if (!r || !['pending', 'queued'].includes(r.status) || r.dueAt === undefined || r.dueAt > now) return undefined;
    const interrupted = r.attemptStarted;
    Object.assign(r, { dueAt: leaseUntil, leaseId, attemptStarted: { at: new Date(now).toISOString(), trigger } });
    return { ...clone(r), interrupted };
  }
  async finishAttempt(ref: string, leaseId: string, o: AttemptOutcome): Promise<boolean> {
    const r = this.items.get(ref);
    if (!r || r.leaseId !== leaseId) return false;
    r.status = o.status;
    r.attempts = [...r.attempts, ...(o.interruptedAttempt ? [o.interruptedAttempt] : []), o.attempt];
    r.retries = o.retries;
    delete r.leaseId;
    delete r.attemptStarted;
    if (o.dueAt === undefined) {
      delete r.dueAt;
      delete r.dueShard;
    } else {
      r.dueAt = o.dueAt;
    }
    return true;
  }
}

/** Partnerize answering 200 at once. */
export const instantPartnerize: PartnerizeSender = {
  send: async (): Promise<SendResult> => ({ result: 'sent', status: 200, latencyMs: 0, body: 'OK' }),
};
