/**
 * Accepting an order postback: purchase filter, validation, consent, clickref resolution, the
 * Partnerize call, the atomic write of the conversion record (the outbox) and the inline attempt.
 */
import { inlineAttemptTimeoutMs } from './answer-budget.js';
import { refPrefixesOf, routeOrder, type CampaignRoute } from './campaigns.js';
import { liveClick } from './attribution.js';
import { mayTrack } from './consent.js';
import { attemptSend, logAttempt } from './delivery.js';
import { deviceFromUserAgent } from './device.js';
import { METRICS } from './metrics.js';
import {
  DUE_SHARD,
  type ClickRecord,
  type ClickrefSource,
  type ConversionRecord,
  type ConversionStatus,
  type Deps,
  type Outcome,
  type SupersededRecord,
} from './model.js';
import { checkPurchase, orderItems, parseOrder, readOrderEvent, singleEvent } from './order-events.js';
import type { OrderEvent } from './order-source.js';
import { acceptUpdate, updateKindOf } from './order-updates.js';
import type { ConversionItem } from './partnerize-url.js';
import { lineTotal, requestFor, type CallSpec } from './partnerize-request.js';
import { InputError, renamed } from './errors.js';
import type { Order } from './schema.js';
import { expiresAfterDays, iso } from './time.js';

export interface PostbackAnswer {
  conversionRef: string | null;
  outcome: Outcome;
  /** With `ignored`: why the postback was not taken as an order, and what would have been. */
  reason?: string;
  purchaseEvents?: readonly string[];
}

/** New purchases that could be attributed (the denominator of the unattributed share). */
const ATTRIBUTABLE: ReadonlySet<Outcome> = new Set(['sent', 'queued', 'rejected', 'unattributed', 'dry_run']);

export interface AcceptOptions {
  /** How long the request has already taken (auth, reading the body): the answer budget counts from its arrival. */
  elapsedMs?: number;
}

export async function acceptPostback(body: unknown, deps: Deps, opts: AcceptOptions = {}): Promise<PostbackAnswer> {
  const answer = await accept(body, deps, deps.clock.now() - (opts.elapsedMs ?? 0));
  deps.metrics.add(METRICS.postbackOutcome[answer.outcome], 1);
  if (ATTRIBUTABLE.has(answer.outcome)) deps.metrics.add(METRICS.purchases, 1);
  return answer;
}

async function accept(input: unknown, deps: Deps, startedAt: number): Promise<PostbackAnswer> {
  const { config, clock } = deps;
  const body = singleEvent(input);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InputError('invalid_body', 'body must be a JSON object (an order or a Tealium event)');
  }
  const event = readOrderEvent(body, config);
  const update = updateKindOf(event, config);
  if (update) return acceptUpdate(event, update, deps);
  const purchase = checkPurchase(event, config.purchaseEvents);
  if (!purchase.fires) {
    deps.log.info('postback ignored', { source: event.source, reason: purchase.reason });
    // The names that would count: the source's own (Segment, GA4) or the configured ones.
    return {
      conversionRef: null,
      outcome: 'ignored',
      reason: purchase.reason,
      purchaseEvents: event.purchaseNames ?? config.purchaseEvents,
    };
  }
  const order = parseOrder(event);
  const items = orderItems(order, config.orderTotalCategory, event.rename);
  const route = routeOf(order, event, config);
  const elsewhere = await heldUnderAnotherPrefix(order.orderId, route, deps);
  if (elsewhere) return resumeOrDuplicate(elsewhere, deps, startedAt);
  const record = await recordFor(order, items, event, route, deps);
  if (record.status !== 'pending') return store(record, deps);

  const timeoutMs = inlineAttemptTimeoutMs(config.inlineTimeoutMs, clock.now() - startedAt);
  // No time left for a worthwhile attempt: owed at once, for the retry function.
  if (timeoutMs === undefined) return store({ ...record, status: 'queued', dueShard: DUE_SHARD, dueAt: clock.now() }, deps);
  const leaseId = deps.newId();
  const now = clock.now();
  const owed: ConversionRecord = {
    ...record,
    dueShard: DUE_SHARD,
    dueAt: now + config.leaseMs,
    leaseId,
    attemptStarted: { at: iso(now), trigger: 'inline' },
  };
  const existing = await createOrReplace(owed, deps);
  if (existing) return resumeOrDuplicate(existing, deps, startedAt);
  return attemptNow(owed, leaseId, 'inline', deps, timeoutMs);
}

/** The campaign an order goes to (core/campaigns.ts); a `campaign` naming none is a 400 on the sender's field. */
function routeOf(order: Order, event: OrderEvent, config: Deps['config']): CampaignRoute {
  try {
    return routeOrder(order, config);
  } catch (err) {
    throw renamed(err, event);
  }
}

/** Statuses of a record that was sent, or is owed: the order is taken, whichever campaign holds it. */
const TAKEN: ReadonlySet<ConversionStatus> = new Set(['pending', 'queued', 'sent', 'failed', 'rejected', 'unconfirmed']);

/**
 * With campaigns of different conversionRef prefixes, one order could be held under two refs (its
 * routing changed between two postbacks: a country added by a fixed data layer) and sent to two
 * campaigns: paid twice. The refs of the other prefixes are read first; a record there that was
 * sent or is owed makes this postback a duplicate of it. Records never sent (a dry run, no consent,
 * no clickref) do not take the order. One read per other prefix, only where prefixes differ.
 */
async function heldUnderAnotherPrefix(orderId: string, route: CampaignRoute, deps: Deps): Promise<ConversionRecord | undefined> {
  for (const prefix of refPrefixesOf(deps.config)) {
    if (prefix === route.conversionRefPrefix) continue;
    const rec = await deps.conversions.get(prefix + orderId);
    if (rec && TAKEN.has(rec.status)) return rec;
  }
  return undefined;
}

/**
 * The conversion record of an order, with its status decided: `no_consent`, `unattributed`,
 * `dry_run`, or `pending` (a send is owed now).
 */
async function recordFor(
  order: Order,
  items: ConversionItem[],
  event: OrderEvent,
  route: CampaignRoute,
  deps: Deps,
): Promise<ConversionRecord> {
  const { config } = deps;
  const now = deps.clock.now();
  const base = acceptedRecord(order, items, event, route, now, deps);
  const call = callSpecOf(order, items, route, base, config);
  // Without consent nothing is looked up or sent; the order is kept so a later postback that carries
  // consent (a fixed data layer) or an operator can still act on it.
  if (!mayTrack(config.consentPolicy, order.consent)) return { ...base, call, status: 'no_consent' };

  const found = await resolveClickref(order, now, deps);
  const device = call.device ?? found.click?.device;
  const attributed: ConversionRecord = {
    ...base,
    clickrefSource: found.source,
    clickedAt: found.click && iso(found.click.clickedAt),
    device,
  };
  // Without a clickref the order is kept as a call spec, so an operator can attribute it later;
  // with one, the exact call is kept instead (both would double the record, and its write cost).
  if (!found.clickref) return { ...attributed, call: { ...call, device }, status: 'unattributed' };
  return withRequest(attributed, { ...call, device }, found.clickref, order.dryRun === true, deps);
}

/** The record of an order as accepted, before its consent and its clickref decide the status. */
function acceptedRecord(
  order: Order,
  items: ConversionItem[],
  event: OrderEvent,
  route: CampaignRoute,
  now: number,
  deps: Deps,
): ConversionRecord {
  const { config } = deps;
  return {
    conversionRef: route.conversionRefPrefix + order.orderId,
    writeId: deps.newId(),
    orderId: order.orderId,
    campaignId: route.campaignId,
    campaign: route.name,
    routedBy: route.routedBy,
    status: 'pending',
    createdAt: iso(now),
    updatedAt: iso(now),
    orderTime: Math.min(order.orderTime ?? now, now),
    mode: config.partnerizeMode,
    source: event.source,
    sessionId: order.sessionId,
    clickrefSource: 'none',
    consent: order.consent,
    consentPolicy: config.consentPolicy,
    currency: order.currency,
    itemCount: items.length,
    orderValue: lineTotal(items),
    attempts: [],
    retries: 0,
    expiresAt: expiresAfterDays(now, config.conversionRetentionDays),
  };
}

/** The order as Partnerize is to see it, everything but the clickref (core/partnerize-request.ts). */
function callSpecOf(
  order: Order,
  items: ConversionItem[],
  route: CampaignRoute,
  record: Pick<ConversionRecord, 'conversionRef' | 'orderTime'>,
  config: Deps['config'],
): CallSpec {
  return {
    baseUrl: config.partnerizeBaseUrl,
    method: config.partnerizeMethod,
    campaignId: route.campaignId,
    conversionRef: record.conversionRef,
    currency: order.currency,
    country: order.country,
    customerType: order.customerType,
    voucher: order.voucher,
    conversionTime: record.orderTime,
    device: order.device ?? deviceFromUserAgent(order.userAgent),
    metadata: order.metadata,
    items,
  };
}

/** An attributed record with the exact call it sends: owed now, or a dry run (the deployment's, or the order's own). */
function withRequest(attributed: ConversionRecord, call: CallSpec, clickref: string, orderDryRun: boolean, deps: Deps): ConversionRecord {
  const built = requestFor(call, clickref);
  const dryRun = deps.config.partnerizeMode === 'dryrun' || orderDryRun;
  const record: ConversionRecord = {
    ...attributed,
    clickref,
    request: built.request,
    status: dryRun ? 'dry_run' : 'pending',
  };
  if (built.compaction === 'none') return record;
  // A condensed basket keeps the order as received beside the call that was sent.
  deps.log.info('basket condensed to fit the call', {
    conversionRef: record.conversionRef,
    compaction: built.compaction,
    items: call.items.length,
  });
  deps.metrics.add(METRICS.basketsCondensed, 1);
  return { ...record, compaction: built.compaction, call };
}

interface FoundClickref {
  clickref: string | undefined;
  source: ClickrefSource;
  click?: ClickRecord | undefined;
}

/** The brand's own clickref on the order wins; else the session's latest live click. */
async function resolveClickref(order: Order, now: number, deps: Deps): Promise<FoundClickref> {
  if (order.clickref) return { clickref: order.clickref, source: 'postback' };
  const click = await liveClick(order.sessionId, now, deps.config.attributionWindowDays, deps.clicks);
  return click ? { clickref: click.clickref, source: 'click', click } : { clickref: undefined, source: 'none' };
}

/**
 * Which earlier records a later postback for the same order replaces. None of them was ever sent,
 * so replacing one cannot double a conversion: a dry run must not use the order id up, and a
 * postback that now carries consent or a clickref (a fixed data layer) must not be lost as a
 * duplicate. A record is replaced only by one that gets further (rank), never by its equal — a
 * repeated postback stays a duplicate. A dry run (testing a fixed data layer) replaces a record
 * that was held back for want of consent or a clickref, and nothing else.
 */
const RANK: Partial<Record<ConversionStatus, number>> = { dry_run: 0, no_consent: 1, unattributed: 2, pending: 3, queued: 3 };

export function replaces(next: Pick<ConversionRecord, 'status'>, existing: Pick<ConversionRecord, 'status' | 'leaseId'>): boolean {
  const before = RANK[existing.status];
  const after = RANK[next.status];
  if (before === undefined || after === undefined || existing.status === 'pending' || existing.leaseId !== undefined) return false;
  return next.status === 'dry_run' ? existing.status === 'no_consent' || existing.status === 'unattributed' : after > before;
}

const superseded = (r: ConversionRecord, now: number): SupersededRecord => ({
  status: r.status,
  createdAt: r.createdAt,
  supersededAt: iso(now),
  mode: r.mode,
  consent: r.consent,
  consentPolicy: r.consentPolicy,
  clickrefSource: r.clickrefSource,
  request: r.request,
});

/**
 * The atomic create, or the replacement of an earlier record this one supersedes. Undefined when
 * this request's record is now stored — including when the SDK retried our own PutItem after a lost
 * answer and found the record we wrote; otherwise the record that stays (a duplicate).
 */
async function createOrReplace(record: ConversionRecord, deps: Deps): Promise<ConversionRecord | undefined> {
  const created = await deps.conversions.create(record);
  if (created.created || created.existing.writeId === record.writeId) return undefined;
  let existing: ConversionRecord | undefined = created.existing;
  // A concurrent postback may replace the same record first: what is there then decides again.
  for (let tries = 0; existing && tries < 3 && replaces(record, existing); tries++) {
    const history = [...(existing.history ?? []), superseded(existing, deps.clock.now())];
    if (await deps.conversions.replace({ ...record, history }, existing)) {
      deps.log.info('conversion replaced', { conversionRef: record.conversionRef, from: existing.status, to: record.status });
      // The order was counted as a purchase when the replaced record was accepted: count it once.
      if (ATTRIBUTABLE.has(existing.status as Outcome)) deps.metrics.add(METRICS.purchases, -1);
      return undefined;
    }
    existing = await deps.conversions.get(record.conversionRef);
    // Our own replacement, retried by the SDK after a lost answer: it is stored.
    if (existing?.writeId === record.writeId) return undefined;
  }
  return existing ?? created.existing;
}

/** Writes a record that needs no send; a second postback for the same conversionRef is a duplicate. */
async function store(record: ConversionRecord, deps: Deps): Promise<PostbackAnswer> {
  const existing = await createOrReplace(record, deps);
  if (existing) return resumeOrDuplicate(existing, deps);
  deps.log.info('conversion stored', { conversionRef: record.conversionRef, status: record.status });
  return { conversionRef: record.conversionRef, outcome: record.status as Outcome };
}

/**
 * A postback for a conversionRef we already hold: `duplicate`, and nothing new is sent —
 * except when the record is still `pending` and its lease has run out: the request that wrote it
 * died before sending (a crashed function is a 5xx from API Gateway, which Tealium retries), so this
 * postback takes the lease and sends it now, answering that attempt's outcome.
 */
async function resumeOrDuplicate(existing: ConversionRecord, deps: Deps, startedAt = deps.clock.now()): Promise<PostbackAnswer> {
  const now = deps.clock.now();
  const ref = existing.conversionRef;
  const timeoutMs = inlineAttemptTimeoutMs(deps.config.inlineTimeoutMs, now - startedAt);
  const resumable = existing.status === 'pending' && existing.dueAt !== undefined && existing.dueAt <= now;
  if (deps.config.partnerizeMode === 'live' && resumable && timeoutMs !== undefined) {
    const leaseId = deps.newId();
    const claimed = await deps.conversions.claim(ref, now, now + deps.config.leaseMs, leaseId, 'resume');
    if (claimed) return attemptNow(claimed, leaseId, 'resume', deps, timeoutMs);
  }
  deps.log.info('duplicate postback', { conversionRef: ref, status: existing.status });
  return { conversionRef: ref, outcome: 'duplicate' };
}

const OUTCOME_OF: Partial<Record<ConversionStatus, Outcome>> = {
  sent: 'sent',
  rejected: 'rejected',
  queued: 'queued',
  failed: 'queued',
};

async function attemptNow(
  record: ConversionRecord,
  leaseId: string,
  trigger: 'inline' | 'resume',
  deps: Deps,
  timeoutMs: number,
): Promise<PostbackAnswer> {
  const ref = record.conversionRef;
  const report = await attemptSend(record, leaseId, trigger, timeoutMs, deps, (err) =>
    deps.log.error('could not record the attempt; the record stays owed and the retry function will send it again', {
      conversionRef: ref,
      error: String(err),
    }),
  );
  const { outcome } = report;
  logAttempt(deps.log, ref, outcome);
  return { conversionRef: ref, outcome: OUTCOME_OF[outcome.status] ?? 'queued' };
}
