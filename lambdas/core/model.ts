/**
 * The records the tracker keeps, and the ports (interfaces) through which the domain reaches
 * storage, Partnerize and time. Adapters implement the ports (DynamoDB, fetch, Date.now); tests
 * swap them. Nothing here imports AWS.
 */
import type { ConsentPolicy } from './consent.js';
import type { TrackerConfig } from './settings.js';
import type { Device } from './fields.js';
import type { Metrics } from './metrics.js';
import type { ConversionCall, HttpMethod, OutgoingCall } from './partnerize-url.js';
import type { OrderSource } from './order-events.js';
import type { Compaction } from './partnerize-request.js';
import type { AnswerClass } from './retry-policy.js';

/** The latest click of a session. */
export interface ClickRecord {
  sessionId: string;
  /** Exactly as captured (support question Q1, docs/support-questions.md). */
  clickref: string;
  /** Epoch ms when we recorded it. */
  clickedAt: number;
  device?: Device | undefined;
  /**
   * SHA-256 of the session key the click came with (the snippet's, kept in the shopper's
   * first-party cookie): while the click is locked, only a click with the same key replaces it.
   */
  keyDigest?: string | undefined;
  /** Epoch seconds: DynamoDB TTL, end of the attribution window. Expiry is also checked in code. */
  expiresAt: number;
}

/**
 * Status of a conversion.
 * - `pending`: stored, the send is owed and held by a lease until `dueAt` (the inline attempt, or a
 *   retry run, is on it; if that process dies, the record becomes due when the lease ends).
 * - `queued`: a retryable failure; the next attempt is due at `dueAt`.
 * - `sent`, `rejected`, `failed`, `unattributed`, `no_consent`, `dry_run`: final.
 */
export type ConversionStatus = 'pending' | 'queued' | 'sent' | 'rejected' | 'failed' | 'unattributed' | 'no_consent' | 'dry_run';

/** The postback answer's `outcome` (contract). */
export type Outcome = 'sent' | 'queued' | 'rejected' | 'duplicate' | 'unattributed' | 'no_consent' | 'ignored' | 'dry_run';

export type AttemptTrigger = 'inline' | 'retry' | 'resume' | 'replay';

/** Status of a record moved back into the due index by an operator. */
export type RequeueableStatus = 'failed' | 'rejected';
/** Why a call got no answer, broadly: no answer in time, or no usable connection. */
export type SendErrorClass = 'timeout' | 'connection' | 'error' | 'interrupted';
/**
 * Why a call got no answer, as precisely as the network said: the connection was refused, the host
 * name did not resolve, TLS failed, connecting took too long (none of these reached Partnerize);
 * the answer did not come in time, or the connection was cut after the request went out (these
 * may have); or the sender stopped mid-call (a crash: `interrupted`).
 */
export type SendCause = 'refused' | 'dns' | 'tls' | 'connect_timeout' | 'timeout' | 'reset' | 'interrupted' | 'other';

/** The result of one HTTP call to Partnerize. */
export interface SendResult {
  result: AnswerClass;
  /** HTTP status, when Partnerize answered. */
  status?: number | undefined;
  /** Why there was no answer. */
  error?: SendErrorClass | undefined;
  /** Why there was no answer, precisely, and the host that was called. */
  cause?: SendCause | undefined;
  host?: string | undefined;
  /** The call may have reached Partnerize although no answer came back (a timeout, a cut connection). */
  uncertain?: boolean | undefined;
  latencyMs: number;
  /** The first 256 characters of Partnerize's answer. */
  body?: string | undefined;
  /** A 429's Retry-After, in seconds. */
  retryAfterS?: number | undefined;
}

/** One attempt, as kept on the conversion record (the audit trail). */
export interface Attempt extends SendResult {
  /** ISO time the attempt started. */
  at: string;
  trigger: AttemptTrigger;
  /**
   * Partnerize refused this attempt as a duplicate of a conversion it already holds, after an
   * earlier attempt of ours may have landed: the conversion counts as delivered.
   */
  deliveredEarlier?: boolean | undefined;
}

/** Written with the lease, just before a call goes out; removed when its result is recorded. */
export interface AttemptStart {
  at: string;
  trigger: AttemptTrigger;
}

export type ClickrefSource = 'postback' | 'click' | 'operator' | 'none';

/**
 * Everything needed to build the Partnerize call except the clickref: lets an operator replay an
 * unattributed conversion with a clickref found later.
 */
export interface CallSpec extends Omit<ConversionCall, 'clickref'> {
  baseUrl: string;
  method: HttpMethod;
}

export interface ConversionRecord {
  conversionRef: string;
  /** Id of the write that created the record: tells our own write (an SDK retry) from another's. */
  writeId: string;
  orderId: string;
  /** The Partnerize campaign the conversion belongs to (the one its call names). */
  campaignId?: string | undefined;
  status: ConversionStatus;
  /** ISO times. */
  createdAt: string;
  updatedAt: string;
  /** Epoch ms of the order (sent as `conversion_time`, also on retries). */
  orderTime: number;
  mode: 'live' | 'dryrun';
  source: OrderSource;
  sessionId?: string | undefined;
  clickref?: string | undefined;
  /** Where the clickref came from: the postback itself, the session's latest click, or nowhere. */
  clickrefSource: ClickrefSource;
  /** ISO time of the click the clickref came from. */
  clickedAt?: string | undefined;
  consent?: boolean | undefined;
  consentPolicy: ConsentPolicy;
  device?: Device | undefined;
  currency: string;
  itemCount: number;
  /** Sum of value × quantity, as a plain decimal with at most 4 places (for people, not for Partnerize). */
  orderValue: string;
  /** The exact outgoing call (support question Q10, docs/support-questions.md); absent when there is nothing to send. */
  request?: OutgoingCall | undefined;
  /**
   * The order as Partnerize would see it, without the clickref: kept only on records that were not
   * sent for want of a clickref or of consent, so an operator can still act (replay --clickref).
   */
  call?: CallSpec | undefined;
  /** An operator confirmed consent for a `no_consent` conversion (pz replay --consent-confirmed). */
  operatorConsent?: OperatorConsent | undefined;
  /** How the basket was condensed to fit the call (absent: sent as received); `call` then keeps the order. */
  compaction?: Compaction | undefined;
  /** Earlier records of this order that a later postback replaced (a dry run, no consent, no clickref). */
  history?: SupersededRecord[] | undefined;
  attempts: Attempt[];
  /** Retryable failures in the current schedule (a requeue starts a new schedule). */
  retries: number;
  /** Present while a send is owed: the sparse due index's partition and sort keys. */
  dueShard?: string | undefined;
  dueAt?: number | undefined;
  /** Who holds the record while it is being sent. */
  leaseId?: string | undefined;
  /**
   * The attempt under way (the call may be in flight). Still there when the record is taken again,
   * it means the sender stopped before recording its result: that call may have landed.
   */
  attemptStarted?: AttemptStart | undefined;
  /** In memory only, after a claim: the earlier holder's unfinished attempt (see `attemptStarted`). */
  interrupted?: AttemptStart | undefined;
  /** Epoch seconds: DynamoDB TTL (conversion retention). */
  expiresAt: number;
}

/**
 * What is kept of a record a later postback replaced: enough to tell what happened before (the
 * consent decision, whether a clickref was known, the call a dry run recorded).
 */
export interface SupersededRecord {
  status: ConversionStatus;
  createdAt: string;
  supersededAt: string;
  mode: 'live' | 'dryrun';
  consent?: boolean | undefined;
  consentPolicy: ConsentPolicy;
  clickrefSource: ClickrefSource;
  request?: OutgoingCall | undefined;
}

/** What a finished attempt does to the record. */
export interface AttemptOutcome {
  status: ConversionStatus;
  attempt: Attempt;
  /** An earlier holder's attempt that never finished, recorded before this one (it may have landed). */
  interruptedAttempt?: Attempt | undefined;
  /** Retryable failures in the current schedule, after this attempt. */
  retries: number;
  /** The next due time when the send stays owed; undefined removes the record from the due index. */
  dueAt?: number | undefined;
}

export interface ClickStore {
  /**
   * Stores the click unless the session already has a newer one (the latest click wins), or — with
   * `lockedSince` — one recorded at or after that time with another clickref and another key
   * digest (the click lock: core/clicks.ts). True when it was stored.
   */
  put(click: ClickRecord, lockedSince?: number): Promise<boolean>;
  get(sessionId: string): Promise<ClickRecord | undefined>;
}

export type CreateResult = { created: true } | { created: false; existing: ConversionRecord };

/**
 * The partition of the sparse due index: every owed send carries it (one value: the index is
 * small, only what is owed right now).
 */
export const DUE_SHARD = 'owed';

export interface DueRef {
  conversionRef: string;
  dueAt: number;
}

export interface ConversionStore {
  /** Atomic create: only the first writer of a conversionRef succeeds (a double tag is a duplicate). */
  create(record: ConversionRecord): Promise<CreateResult>;
  /**
   * Replaces `existing` with `record` if it is still exactly that record (same write, same status,
   * nobody holding it). False when it changed meanwhile (nothing written).
   */
  replace(record: ConversionRecord, existing: Pick<ConversionRecord, 'writeId' | 'status'>): Promise<boolean>;
  get(conversionRef: string): Promise<ConversionRecord | undefined>;
  /** Owed records due at or before `now`, oldest first. */
  listDue(now: number, limit: number): Promise<DueRef[]>;
  /**
   * Takes the lease of an owed record that is due (`dueAt <= now`), moving `dueAt` to `leaseUntil`
   * and noting the attempt that starts (`attemptStarted`). Returns the record — with `interrupted`
   * set when an earlier holder's attempt never finished — or undefined when it is not owed, not
   * due, or someone else took it.
   */
  claim(
    conversionRef: string,
    now: number,
    leaseUntil: number,
    leaseId: string,
    trigger: AttemptTrigger,
  ): Promise<ConversionRecord | undefined>;
  /**
   * Records an attempt under the lease `leaseId`. False when the lease was lost (nothing written).
   */
  finishAttempt(conversionRef: string, leaseId: string, outcome: AttemptOutcome, now: number): Promise<boolean>;
}

/** An operator's confirmation that the shopper consented, with the reason (the audit trail). */
export interface OperatorConsent {
  at: string;
  reason: string;
}

export interface OperatorAttribution {
  clickref: string;
  source: ClickrefSource;
  request: OutgoingCall;
  consent?: OperatorConsent | undefined;
}

/** What the operator CLI may do beyond the request paths (not bundled into the functions). */
export interface ConversionAdmin extends ConversionStore {
  /**
   * Takes the lease of any record nobody holds (operator replay), whatever its status. Returns the
   * record, or undefined when it does not exist or a sender holds it right now.
   */
  takeLease(
    conversionRef: string,
    now: number,
    leaseUntil: number,
    leaseId: string,
    trigger: AttemptTrigger,
  ): Promise<ConversionRecord | undefined>;
  /**
   * Gives a held record a clickref found later (operator replay of an unattributed conversion), and
   * with `consent` the operator's confirmation that the shopper consented.
   */
  attachClickref(conversionRef: string, leaseId: string, attribution: OperatorAttribution, now: number): Promise<boolean>;
  /** Puts a finished record back in the due index, due now, with a fresh schedule. False if its status is not `from`. */
  requeue(conversionRef: string, from: readonly RequeueableStatus[], now: number): Promise<boolean>;
  /** Records with one of these statuses, updated at or after `since` (ISO), in no particular order. */
  findByStatus(statuses: readonly ConversionStatus[], since?: string): AsyncIterable<ConversionRecord>;
}

export interface PartnerizeSender {
  send(call: OutgoingCall, timeoutMs: number): Promise<SendResult>;
}

export interface Clock {
  now(): number;
}

/** The runtime configuration of the functions: core/settings.ts. */
export type { TrackerConfig } from './settings.js';

/** Structured log lines (JSON on stdout in Lambda). Never pass personal data or secrets. */
export interface Log {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface Deps {
  config: TrackerConfig;
  clicks: ClickStore;
  conversions: ConversionStore;
  sender: PartnerizeSender;
  clock: Clock;
  /** Unique ids for leases. */
  newId: () => string;
  /** [0, 1) for retry jitter. */
  random: () => number;
  log: Log;
  metrics: Metrics;
}

/** The operator CLI's dependencies: the same, with the admin side of the conversions table. */
export interface AdminDeps extends Omit<Deps, 'conversions'> {
  conversions: ConversionAdmin;
}
