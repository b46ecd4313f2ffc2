/**
 * The records the tracker keeps, and the ports (interfaces) through which the domain reaches
 * storage, Partnerize and time. Adapters implement the ports (DynamoDB, fetch, Date.now); tests
 * swap them. Nothing here imports AWS.
 */
import type { ConsentPolicy } from './consent.js';
import type { TrackerConfig } from './settings.js';
import type { Device } from './fields.js';
import type { Metrics } from './metrics.js';
import type { OutgoingCall } from './partnerize-url.js';
import type { OrderSource } from './order-source.js';
import type { CallSpec, Compaction } from './partnerize-request.js';
import type { AnswerClass } from './retry-policy.js';
import type { BulkBody, BulkForm, BulkJob, BulkStatus, JobTask } from './partnerize-bulk.js';

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
/**
 * `unconfirmed`: Partnerize read the call and cut the connection without an answer. It may have
 * counted the conversion, so it is not sent again by itself (a repeat could be paid twice); an
 * operator confirms it (`pz confirm`) or sends it again (`pz replay`) — docs/reliability.md.
 */
export type ConversionStatus =
  | 'pending'
  | 'queued'
  | 'sent'
  | 'rejected'
  | 'failed'
  | 'unconfirmed'
  | 'unattributed'
  | 'no_consent'
  | 'dry_run';

/** The postback answer's `outcome` (README's outcomes table, "POST /postbacks"); the `update_…` ones answer order updates (README "Order lifecycle"). */
export type Outcome = 'sent' | 'queued' | 'rejected' | 'duplicate' | 'unattributed' | 'no_consent' | 'ignored' | 'dry_run' | UpdateOutcome;

/**
 * The answer to an order update: stored and queued; queued for an order the tracker never accepted
 * (forwarded by reference: it may have come from the legacy pixel); held until its conversion is
 * sent; a repeat of one already stored; nothing to update (the conversion was never sent); or
 * recorded in a dry run (never sent).
 */
export type UpdateOutcome =
  | 'update_queued'
  | 'update_queued_unknown_order'
  | 'update_held'
  | 'update_duplicate'
  | 'update_not_applicable'
  | 'update_dry_run';

/** `confirm`: no call — an operator recorded that Partnerize holds an unconfirmed conversion. */
export type AttemptTrigger = 'inline' | 'retry' | 'resume' | 'replay' | 'confirm';

/** Status of a record moved back into the due index by an operator. */
export type RequeueableStatus = 'failed' | 'rejected';
/** Why a call got no answer, broadly: no answer in time, or no usable connection. */
export type SendErrorClass = 'timeout' | 'connection' | 'error' | 'interrupted';
/**
 * Why a call got no answer, as precisely as the network said: the connection was refused, the host
 * name did not resolve, TLS failed, connecting took too long, the URL's port is one fetch never
 * calls (`bad_port`: 1, 9, 25, … — the base URL is wrong) (none of these reached Partnerize);
 * the answer did not come in time, or the connection was cut after the request went out (these
 * may have); or the sender stopped mid-call (a crash: `interrupted`).
 */
export type SendCause = 'refused' | 'dns' | 'tls' | 'connect_timeout' | 'bad_port' | 'timeout' | 'reset' | 'interrupted' | 'other';

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

export interface ConversionRecord {
  conversionRef: string;
  /** Id of the write that created the record: tells our own write (an SDK retry) from another's. */
  writeId: string;
  orderId: string;
  /** The Partnerize campaign the conversion belongs to (the one its call names). */
  campaignId?: string | undefined;
  /** The deployment's name of that campaign (`default`, or a rule's name: core/campaigns.ts). */
  campaign?: string | undefined;
  /** Why the order went to that campaign: `default`, `campaign field`, or the criteria that matched. */
  routedBy?: string | undefined;
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
  /** Sum of value × quantity, as an exact plain decimal (for people, not for Partnerize). */
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
  /** The due index partition `dueAt` is in (default {@link DUE_SHARD}; {@link APPROVALS_SHARD} for a sent conversion awaiting its automatic approval). */
  dueShard?: string | undefined;
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
 * The partitions of the sparse due index. Owed sends carry `owed`; order updates, their bulk jobs
 * and sent conversions awaiting automatic approval each have their own value, so the retry
 * function reads each kind separately (and one kind's backlog does not crowd out another's reads),
 * and the index's writes spread over several partition key values.
 */
export const DUE_SHARD = 'owed';
/** Order update records with an update to send (or to look at again). */
export const UPDATES_SHARD = 'updates';
/** Bulk update jobs not finished yet (polled). */
export const JOBS_SHARD = 'jobs';
/** Sent conversions whose automatic approval falls due (`autoApproveAfterDays`). */
export const APPROVALS_SHARD = 'approve';

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

/**
 * The retry function's view of the conversions: the store plus the due index. Only the sweeps read
 * the index, so the request paths (and their bundles) do without the query.
 */
export interface OwedConversions extends ConversionStore {
  /** Owed records due at or before `now`, oldest first (or, with `shard`, the records of that partition). */
  listDue(now: number, limit: number, shard?: string): Promise<DueRef[]>;
}

/** An operator's confirmation that the shopper consented, with the reason (the audit trail). */
export interface OperatorConsent {
  at: string;
  reason: string;
  /** What the postback itself said (the decision the operator overrode), kept for the audit trail. */
  postbackConsent?: boolean | undefined;
}

export interface OperatorAttribution {
  clickref: string;
  source: ClickrefSource;
  request: OutgoingCall;
  consent?: OperatorConsent | undefined;
}

/** What the operator CLI may do beyond the request paths (not bundled into the functions). */
export interface ConversionAdmin extends OwedConversions {
  /**
   * Takes the lease of any record nobody holds (operator replay), whatever its status. Returns the
   * record, or undefined when it does not exist, a sender holds it right now, or it changed since
   * `unchangedSince` (the `updatedAt` of the version an operator was shown).
   */
  takeLease(
    conversionRef: string,
    now: number,
    leaseUntil: number,
    leaseId: string,
    trigger: AttemptTrigger,
    unchangedSince?: string,
  ): Promise<ConversionRecord | undefined>;
  /** Gives up a lease taken with `takeLease` without an attempt: the record is free again (and due, if owed). */
  releaseLease(conversionRef: string, leaseId: string, now: number): Promise<boolean>;
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

/*
 * Order updates (README "Order lifecycle"): cancellations, returns, refunds and approvals of a
 * conversion, sent to Partnerize's v3 bulk conversion update API by the retry function.
 */

/** What an update asks for. `reject` and an `approve` with `force` come from an operator; `auto_approve` from the schedule. */
export type UpdateKind = 'cancel' | 'return' | 'refund' | 'approve' | 'reject' | 'auto_approve';
export type UpdateSource = OrderSource | 'operator' | 'schedule';

/**
 * Where an update is.
 * - `owed`: to be sent when its turn comes; `held`: waiting (its conversion is still owed, the order
 *   is unknown for a grace period, Partnerize's item ids are not known yet, the API keys are not set);
 * - `submitted`: in a bulk job that has not finished;
 * - `applied`, `failed` (the job reported an error for it, or the retry schedule ran out),
 *   `rejected` (Partnerize refused the request with a 4xx), `superseded` (an earlier update decided:
 *   approve after cancel, a second cancel), `not_applicable` (the conversion was never sent): final.
 */
export type UpdateState = 'owed' | 'held' | 'submitted' | 'applied' | 'failed' | 'rejected' | 'superseded' | 'not_applicable';

/** One refunded or returned line of a partial update: `quantity` units of `sku`, `value` per unit when given. */
export interface RefundLine {
  sku: string;
  quantity: number;
  /** Per-unit value refunded, a plain decimal (as order items carry it). */
  value?: string | undefined;
}

/** What was sent for an update: the body's form and its entries for this update. */
export interface SentUpdate {
  form: BulkForm;
  campaignId: string;
  /** The whole conversion rejected or approved, or some of its items changed. */
  effect: 'reject' | 'approve' | 'items';
  /** Body key (conversionRef or Partnerize item id) → the update sent for it. */
  updates: Record<string, { status?: BulkStatus; item_value?: number; reason?: string }>;
  /** Sent by reference for an order the tracker has no record of (it may not exist at Partnerize yet). */
  unknownOrder?: boolean | undefined;
}

/** One bulk request an update was in, as kept on the update (the audit trail). */
export interface UpdateAttempt {
  at: string;
  result: AnswerClass;
  status?: number | undefined;
  error?: SendErrorClass | undefined;
  /** The start of Partnerize's error message, or the task's message for this update. */
  message?: string | undefined;
  jobId?: string | undefined;
  latencyMs: number;
}

export interface UpdateEntry {
  /** Identity for dedupe: the sender's `updateId`, or a digest of what the update asks. */
  id: string;
  /** Order of arrival: updates of a conversion are applied in this order. */
  seq: number;
  kind: UpdateKind;
  source: UpdateSource;
  acceptedAt: string;
  updatedAt: string;
  reason?: string | undefined;
  /** A partial refund or return: the lines refunded (absent: the whole order). */
  items?: RefundLine[] | undefined;
  /** An operator's approve that overrides an earlier cancellation. */
  force?: boolean | undefined;
  state: UpdateState;
  /** Why it is in its state (what a held update waits for, Partnerize's message for a failed one). */
  note?: string | undefined;
  /** Retryable failures in the current schedule (the conversions' schedule). */
  retries: number;
  /** Epoch ms: not sent again before then (the retry schedule, a 429's advice). */
  notBefore?: number | undefined;
  sent?: SentUpdate | undefined;
  jobId?: string | undefined;
  attempts?: UpdateAttempt[] | undefined;
  /**
   * Sent only with the updates of the same group: set when a job reported failures without naming
   * them, to split its updates until each failure is found.
   */
  group?: string | undefined;
}

/** One of Partnerize's items of a conversion, as its conversion report lists it. */
export interface PartnerizeItem {
  id: string;
  sku?: string | undefined;
  category?: string | undefined;
  value?: number | undefined;
  status?: string | undefined;
  /** Only some accounts' reports carry an item quantity; most list one item per unit or per line. */
  quantity?: number | undefined;
  rejectReason?: string | undefined;
}

/** Fields every record of the due index carries while it is in it, with its lease. */
export interface Leased {
  dueShard?: string | undefined;
  dueAt?: number | undefined;
  leaseId?: string | undefined;
  attemptStarted?: AttemptStart | undefined;
  /** In memory only, after a claim: the earlier holder's unfinished run. */
  interrupted?: AttemptStart | undefined;
}

/**
 * The updates of one conversion, in the conversions table under its own key ({@link updatesKey}):
 * one record per conversion, so its updates are deduped in one conditional write, applied in order
 * under one lease, and read back in one GetItem by `pz lookup` — also for an order the tracker
 * never accepted (no conversion record).
 */
export interface OrderUpdatesRecord extends Leased {
  /** The key: {@link updatesKey} of `ref`. */
  conversionRef: string;
  recordType: 'order_updates';
  /** The conversionRef of the conversion these updates are for. */
  ref: string;
  orderId: string;
  /** The campaign the conversion was sent to (the configured one for an unknown order). */
  campaignId: string;
  createdAt: string;
  updatedAt: string;
  /** Raised by every change made while a lease may be held (an update added, a job settled). */
  version: number;
  entries: Record<string, UpdateEntry>;
  /** Partnerize's items for the conversion (read from its conversion report for item-level updates). */
  items?: PartnerizeItem[] | undefined;
  itemsReadAt?: string | undefined;
  expiresAt: number;
}

/** The updates one bulk request carried for one order updates record. */
export interface JobMember {
  /** The order updates record's key. */
  record: string;
  entry: string;
  /** The body keys sent for it. */
  keys: string[];
  /** The update's retries when it was sent (a failed job retries it on the schedule). */
  retries: number;
  unknownOrder?: boolean | undefined;
  /** The record's `version` when it was sent, and whether later updates wait behind this one. */
  version: number;
  followUp: boolean;
}

/** What a job's result changes on one update (written without reading the record). */
export interface EntryPatch {
  state: UpdateState;
  note?: string | undefined;
  retries?: number | undefined;
  notBefore?: number | undefined;
  group?: string | undefined;
  attempt: UpdateAttempt;
}

/** A bulk update job Partnerize accepted (202): polled until it finishes, then its result is recorded on each update. */
export interface UpdateJobRecord extends Leased {
  /** The key: {@link jobKey} of `jobId`. */
  conversionRef: string;
  recordType: 'update_job';
  jobId: string;
  campaignId: string;
  form: BulkForm;
  submittedAt: string;
  updatedAt?: string | undefined;
  members: JobMember[];
  polls: number;
  /** Partnerize's job status when last read. */
  status: string;
  finishedAt?: string | undefined;
  expiresAt: number;
}

/*
 * Keys of the records that are not conversions. Order ids never hold control characters (they are
 * refused on input), so a key with U+001F can never be a conversionRef.
 */
const SEP = '\u001f';
export const updatesKey = (conversionRef: string): string => `${conversionRef}${SEP}updates`;
export const jobKey = (jobId: string): string => `${SEP}job${SEP}${jobId}`;
/** A reconciliation's result (core/reconcile-run.ts): one per campaign and window, the latest run's. */
export const reconcileRunKey = (campaignId: string, from: string, to: string): string =>
  `${SEP}reconcile${SEP}${campaignId}${SEP}${from}${SEP}${to}`;

/** The new order updates record an update creates when its conversion has none yet. */
export type NewOrderUpdates = Pick<OrderUpdatesRecord, 'ref' | 'orderId' | 'campaignId' | 'expiresAt'>;

/** What the postbacks function does with updates: add one (reading them is the retry function's and the CLI's). */
export interface OrderUpdateStore {
  /**
   * Adds `entry` (atomic dedupe on its id), creating the record from `base` when there is none.
   * With `dueAt`, the record is due then (unless someone holds it: the holder sees `version` move
   * and looks at it again).
   */
  add(base: NewOrderUpdates, entry: UpdateEntry, dueAt: number | undefined, now: number): Promise<'added' | 'duplicate'>;
}

/** What a record holder changes when it lets go: the entries it decided, and when to look again. */
export interface UpdatesChange {
  entries: UpdateEntry[];
  items?: PartnerizeItem[] | undefined;
  /** The `version` the holder read: if it moved, the record is made due at once instead of at `dueAt`. */
  version: number;
  /** When to look at the record again; undefined takes it out of the due index. */
  dueAt?: number | undefined;
}

/** The retry function's side (and the CLI's): the due updates and jobs, under leases (the conversions' mechanics). */
export interface UpdateOutbox extends OrderUpdateStore {
  /** The updates of a conversion, by its conversionRef. */
  get(conversionRef: string): Promise<OrderUpdatesRecord | undefined>;
  listDue(shard: typeof UPDATES_SHARD | typeof JOBS_SHARD, now: number, limit: number): Promise<DueRef[]>;
  /** Takes the lease of a due order updates record (by key). */
  claim(key: string, now: number, leaseUntil: number, leaseId: string): Promise<OrderUpdatesRecord | undefined>;
  /** Writes what the holder decided and lets go. False when the lease was lost. */
  finish(key: string, leaseId: string, change: UpdatesChange, now: number): Promise<boolean>;
  /**
   * Records a job's result on one update, if it still waits for that job. The record becomes due
   * when something is left to do (the update is owed again, later updates wait, or the record
   * changed since `member.version`), else it leaves the due index; if someone holds it, only the
   * result is written and the holder sees `version` move. False when the update no longer waits
   * for this job.
   */
  settle(member: JobMember, jobId: string, patch: EntryPatch, now: number): Promise<boolean>;
  createJob(job: UpdateJobRecord): Promise<void>;
  claimJob(key: string, now: number, leaseUntil: number, leaseId: string): Promise<UpdateJobRecord | undefined>;
  /** Records a poll: the status read, and when to poll again (undefined: finished, out of the due index). */
  finishJob(
    key: string,
    leaseId: string,
    change: { status: string; polls: number; dueAt?: number | undefined },
    now: number,
  ): Promise<boolean>;
  /** Takes a sent conversion out of the approvals partition once its approval is queued. */
  clearApproval(conversionRef: string): Promise<boolean>;
}

/** What the operator CLI may do to updates beyond the retry function's side. */
export interface UpdateAdmin extends UpdateOutbox {
  /**
   * Sends an applied update again (`pz reconcile --fix`: Partnerize's report does not reflect it):
   * the entry is owed again, with a fresh schedule and `note`, and the record due now. False when
   * the entry is not `applied` any more, or someone holds the record.
   */
  requeueEntry(conversionRef: string, entryId: string, note: string, now: number): Promise<boolean>;
}

/*
 * The reconciliation's result: core/reconcile.ts compares and classes the differences,
 * core/reconcile-run.ts keeps one run record per campaign and window.
 */

/** What a difference is (core/reconcile.ts says how each is told and what to do). */
export type DifferenceClass = 'missing' | 'unexpected' | 'value' | 'items' | 'status';

/** What `--fix` does with a difference: send the conversion again, or send the update again. */
/** `confirm`: Partnerize holds an unconfirmed conversion — recorded as sent, no call (core/operations.ts). */
export type FixAction = 'replay' | 'requeue_update' | 'confirm';

export interface ItemDifference {
  /** The SKU (or `category:<name>` for lines sent without one). */
  key: string;
  ours?: { quantity: number; lines: number; value: string } | undefined;
  partnerize?: { rows: number; quantity?: number | undefined; value: string } | undefined;
}

export interface Difference {
  class: DifferenceClass;
  campaignId: string;
  conversionRef: string;
  orderId?: string | undefined;
  /** Partnerize's conversion id, when it holds one. */
  conversionId?: string | undefined;
  /** ISO: the order time (ours, else Partnerize's conversion time). */
  orderTime?: string | undefined;
  /** One line for people: what differs. */
  detail: string;
  ours?:
    | {
        status: ConversionStatus;
        currency: string;
        value: string;
        /** The exact call, and the answer that counted it as delivered. */
        call?: OutgoingCall | undefined;
        deliveredAt?: string | undefined;
        answer?: { status?: number | undefined; body?: string | undefined } | undefined;
      }
    | undefined;
  partnerize?:
    | { status: string; currency?: string | undefined; value?: string | undefined; conversionTime?: string | undefined }
    | undefined;
  items?: ItemDifference[] | undefined;
  /** For `status`: the update whose effect is missing. */
  update?: { entryId: string; kind: UpdateKind; appliedAt: string; expected: string } | undefined;
  fix?: FixAction | undefined;
  /** Money at stake, in the row's currency. */
  amount?: { currency: string; value: string } | undefined;
}

export interface ClassTotals {
  count: number;
  /** Value at stake per currency (plain decimals). */
  value: Record<string, string>;
}

export interface ReconcileSummary {
  missing: ClassTotals;
  unexpected: ClassTotals;
  value: ClassTotals;
  items: ClassTotals;
  status: ClassTotals;
  /** Delivered conversions of the window that were judged (the missing share's whole). */
  checked: number;
  /** Partnerize's conversions in the window (the unexpected share's whole). */
  held: number;
  /** Delivered within the grace period (or an update applied within it): not judged yet. */
  recent: number;
  /** Conversions without the prefix whose prefixed twin the tracker delivered: the legacy pixel in a parallel run. */
  twins: number;
  /** The window's records the tracker never delivered (not compared), by status. */
  notSent: Partial<Record<ConversionStatus, number>>;
  /** Conversions Partnerize rejected without an update from the tracker (a brand's validation in the console): told, not a difference. */
  rejectedAtPartnerize: number;
  /** Conversions Partnerize converted from the currency sent: their values are not compared. */
  converted: number;
}

/** A run's result as kept (one record per campaign and window; a re-run replaces it). */
export interface ReconcileRunRecord {
  conversionRef: string;
  recordType: 'reconcile_run';
  campaignId: string;
  campaignName: string;
  from: string;
  to: string;
  graceMs: number;
  ranAt: string;
  durationMs: number;
  pages: number;
  summary: ReconcileSummary;
  /** The differing orders, in class order, as many as fit core/reconcile-run.ts's RUN_ROWS_MAX_BYTES. */
  rows: Difference[];
  /** Differing orders left out for size: `pz reconcile` over the window lists them all. */
  rowsLeftOut: number;
  /** Why the run did not finish (the summary then is empty). */
  error?: string | undefined;
  expiresAt: number;
}

/**
 * What the reconciliation reads and keeps (core/reconcile-run.ts): a campaign's conversions of a
 * window through the `campaignTime` index (campaign id, order time), records by key, and one
 * result record per campaign and window.
 */
export interface ReconciliationStore {
  /** The conversion records of `campaignId` whose order time is in [from, to), in no particular order. */
  conversionsIn(campaignId: string, from: number, to: number): Promise<ConversionRecord[]>;
  /** The conversion records of these conversionRefs that exist. */
  conversionsByRef(refs: readonly string[]): Promise<ConversionRecord[]>;
  /** The order updates records of these conversions (by the conversions' conversionRefs) that exist. */
  updatesOf(refs: readonly string[]): Promise<OrderUpdatesRecord[]>;
  putRun(run: ReconcileRunRecord): Promise<void>;
  getRun(key: string): Promise<ReconcileRunRecord | undefined>;
}

/** Partnerize API credentials: the user application key and the user API key (Basic auth). */
export interface ApiCredentials {
  applicationKey: string;
  userApiKey: string;
}

/** How a call to Partnerize's API ended: its answer, or why there was none (as {@link SendResult}). */
export type ApiOutcome<T> =
  | { ok: true; value: T; status: number; latencyMs: number }
  | {
      ok: false;
      result: Exclude<AnswerClass, 'sent'>;
      status?: number | undefined;
      error?: SendErrorClass | undefined;
      cause?: SendCause | undefined;
      uncertain?: boolean | undefined;
      /** X-RateLimit-Retry-After (or Retry-After), seconds. */
      retryAfterS?: number | undefined;
      /** Partnerize's error message (v3: `error.errors[0].message`), cut to 256 characters. */
      message?: string | undefined;
      latencyMs: number;
    };

/** A conversion of Partnerize's brand conversion report (the fields the tracker reads). */
export interface ReportConversion {
  conversionId: string;
  conversionReference: string;
  /** `pending | approved | rejected`, or what Partnerize sends (e.g. `mixed`). */
  status: string;
  /** As Partnerize writes it: `YYYY-MM-DD HH:MM:SS` in the requested timezone (UTC here). */
  conversionTime?: string | undefined;
  currency?: string | undefined;
  value?: number | undefined;
  clickref?: string | undefined;
  /** The currency the conversion came in, when Partnerize converted it (`currency_original`). */
  currencyOriginal?: string | undefined;
  items: PartnerizeItem[];
}

export interface ReportQuery {
  /** Epoch ms; the report is read by conversion time, UTC. */
  from: number;
  to: number;
  /** Ask Partnerize to filter by reference (documented in its older docs; results are filtered here too). */
  conversionReference?: string | undefined;
  /** `last_modified`: conversions changed in the range instead of those converted in it. */
  dateType?: 'standard' | 'last_modified' | undefined;
  statuses?: ReadonlyArray<'approved' | 'pending' | 'rejected'> | undefined;
  /** The path of the page to read (the previous page's `next`). */
  next?: string | undefined;
}

export interface ReportPage {
  conversions: ReportConversion[];
  /** The next page's path, when there is one: Partnerize's `next_page`, its cursor, or the next `offset`. */
  next?: string | undefined;
  /** Where this page starts, and the paging facts the answer carried. */
  offset: number;
  limit?: number | undefined;
  count?: number | undefined;
  /** `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds), when the answer carried them. */
  rateLimit?: { remaining?: number | undefined; resetS?: number | undefined } | undefined;
}

/**
 * Partnerize's API (api.partnerize.com): the v3 bulk conversion update and its jobs, and the brand
 * conversion report. Never throws for Partnerize's behaviour: every ending is an {@link ApiOutcome}.
 */
export interface PartnerizeApi {
  /** False while the brand has not set the API keys: updates wait. */
  hasCredentials(): Promise<boolean>;
  bulkUpdate(campaignId: string, body: BulkBody, timeoutMs: number): Promise<ApiOutcome<BulkJob>>;
  job(jobId: string, timeoutMs: number): Promise<ApiOutcome<BulkJob>>;
  /** Every task of a job, each read in full (`resultData`): asked for jobs that report failures. */
  tasks(jobId: string, timeoutMs: number): Promise<ApiOutcome<JobTask[]>>;
  conversions(campaignId: string, query: ReportQuery, timeoutMs: number): Promise<ApiOutcome<ReportPage>>;
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
  updates: OrderUpdateStore;
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
export interface AdminDeps extends Omit<Deps, 'conversions' | 'updates'> {
  conversions: ConversionAdmin;
  updates: UpdateAdmin;
}

/** What the conversions' sweep needs: the use cases' dependencies, with the due index. */
export interface OwedDeps extends Omit<Deps, 'conversions'> {
  conversions: OwedConversions;
}

/** The retry function's dependencies: with the update outbox and Partnerize's API. */
export interface SweepDeps extends Omit<OwedDeps, 'updates'> {
  updates: UpdateOutbox;
  api: PartnerizeApi;
}
