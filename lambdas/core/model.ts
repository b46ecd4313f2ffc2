/**
 * The records the tracker keeps, and the ports (interfaces) through which the domain reaches
 * storage, Partnerize and time. Adapters implement the ports (DynamoDB, fetch, Date.now); tests
 * swap them. Nothing here imports AWS.
 */
import type { ConsentPolicy } from './consent.js';
import type { Device } from './fields.js';
import type { Metrics } from './metrics.js';
import type { ConversionCall, HttpMethod, OutgoingCall } from './partnerize-url.js';
import type { AnswerClass } from './retry-policy.js';
import type { TealiumMapping } from './tealium.js';

/** The latest click of a session. */
export interface ClickRecord {
  sessionId: string;
  /** Exactly as captured (FAQ Q1). */
  clickref: string;
  /** Epoch ms when we recorded it. */
  clickedAt: number;
  device?: Device | undefined;
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
export type ConversionStatus =
  | 'pending' | 'queued' | 'sent' | 'rejected' | 'failed' | 'unattributed' | 'no_consent' | 'dry_run';

/** The postback answer's `outcome` (contract). */
export type Outcome =
  | 'sent' | 'queued' | 'rejected' | 'duplicate' | 'unattributed' | 'no_consent' | 'ignored' | 'dry_run';

export type AttemptTrigger = 'inline' | 'retry' | 'resume' | 'replay';

/** Status of a record moved back into the due index by an operator. */
export type RequeueableStatus = 'failed' | 'rejected';
export type SendErrorClass = 'timeout' | 'connection' | 'error';

/** The result of one HTTP call to Partnerize. */
export interface SendResult {
  result: AnswerClass;
  /** HTTP status, when Partnerize answered. */
  status?: number | undefined;
  /** Why there was no answer. */
  error?: SendErrorClass | undefined;
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
  status: ConversionStatus;
  /** ISO times. */
  createdAt: string;
  updatedAt: string;
  /** Epoch ms of the order (sent as `conversion_time`, also on retries). */
  orderTime: number;
  mode: 'live' | 'dryrun';
  source: 'native' | 'tealium';
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
  /** The exact outgoing call (FAQ Q10); absent when there is nothing to send. */
  request?: OutgoingCall | undefined;
  /** The order as Partnerize would see it, without the clickref: kept only on unattributed records (replay --clickref). */
  call?: CallSpec | undefined;
  attempts: Attempt[];
  /** Retryable failures in the current schedule (a requeue starts a new schedule). */
  retries: number;
  /** Present while a send is owed: the sparse due index's partition and sort keys. */
  dueShard?: string | undefined;
  dueAt?: number | undefined;
  /** Who holds the record while it is being sent. */
  leaseId?: string | undefined;
  /** Epoch seconds: DynamoDB TTL (conversion retention). */
  expiresAt: number;
}

/** What a finished attempt does to the record. */
export interface AttemptOutcome {
  status: ConversionStatus;
  attempt: Attempt;
  /** Retryable failures in the current schedule, after this attempt. */
  retries: number;
  /** The next due time when the send stays owed; undefined removes the record from the due index. */
  dueAt?: number | undefined;
}

export interface ClickStore {
  /** Stores the click unless the session already has a newer one (the latest click wins). */
  put(click: ClickRecord): Promise<void>;
  get(sessionId: string): Promise<ClickRecord | undefined>;
}

export type CreateResult = { created: true } | { created: false; existing: ConversionRecord };

export interface DueRef {
  conversionRef: string;
  dueAt: number;
}

export interface ConversionStore {
  /** Atomic create: only the first writer of a conversionRef succeeds (FAQ Q11). */
  create(record: ConversionRecord): Promise<CreateResult>;
  get(conversionRef: string): Promise<ConversionRecord | undefined>;
  /** Owed records due at or before `now`, oldest first. */
  listDue(now: number, limit: number): Promise<DueRef[]>;
  /**
   * Takes the lease of an owed record that is due (`dueAt <= now`), moving `dueAt` to `leaseUntil`.
   * Returns the record, or undefined when it is not owed, not due, or someone else took it.
   */
  claim(conversionRef: string, now: number, leaseUntil: number, leaseId: string): Promise<ConversionRecord | undefined>;
  /**
   * Records an attempt under the lease `leaseId`. False when the lease was lost (nothing written).
   */
  finishAttempt(conversionRef: string, leaseId: string, outcome: AttemptOutcome, now: number): Promise<boolean>;
}

/** What the operator CLI may do beyond the request paths (not bundled into the functions). */
export interface ConversionAdmin extends ConversionStore {
  /**
   * Takes the lease of any record nobody holds (operator replay), whatever its status. Returns the
   * record, or undefined when it does not exist or a sender holds it right now.
   */
  takeLease(conversionRef: string, now: number, leaseUntil: number, leaseId: string): Promise<ConversionRecord | undefined>;
  /** Gives a held record a clickref found later (operator replay of an unattributed conversion). */
  attachClickref(conversionRef: string, leaseId: string, clickref: string, request: OutgoingCall, now: number): Promise<boolean>;
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

/** The runtime configuration of the functions (from the environment, validated at start). */
export interface TrackerConfig {
  mode: 'live' | 'dryrun';
  partnerize: { baseUrl: string; campaignId: string; method: HttpMethod };
  conversionRefPrefix: string;
  attributionWindowDays: number;
  conversionRetentionDays: number;
  consentPolicy: ConsentPolicy;
  consentCategories: readonly string[];
  purchaseEvents: readonly string[];
  mapping: TealiumMapping;
  /** Timeout of the attempt made while the postback waits (Tealium gives up at 5 s). */
  inlineTimeoutMs: number;
  /** Timeout of an attempt made by the retry function. */
  retryTimeoutMs: number;
  retryDelaysS: readonly number[];
  /** How long a sender holds a record before another may take it over. */
  leaseMs: number;
  minSessionIdLength: number;
}

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
