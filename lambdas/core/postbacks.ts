/**
 * Accepting an order postback: purchase filter, validation, consent, clickref resolution, the
 * Partnerize call, the atomic write of the conversion record (the outbox) and the inline attempt.
 */
import { mayTrack } from './consent.js';
import { attemptSend, DUE_SHARD, iso, logAttempt } from './delivery.js';
import { deviceFromUserAgent } from './device.js';
import { InputError } from './errors.js';
import { plainDecimal } from './fields.js';
import { METRICS } from './metrics.js';
import type { CallSpec, ClickRecord, ClickrefSource, ConversionRecord, ConversionStatus, Deps, Outcome } from './model.js';
import { buildConversionUrl, type OutgoingCall } from './partnerize-url.js';
import { formatPath, OrderSchema, parseWith, type Order } from './schema.js';
import { isTealiumEvent, mapTealiumOrder, tealiumEventName } from './tealium.js';

export interface PostbackAnswer {
  conversionRef: string | null;
  outcome: Outcome;
}

const DAY_MS = 86_400_000;

/**
 * Tealium gives up on answers slower than 5 s (and does not retry those), so the inline attempt
 * only gets what is left of this budget after the reads and the write.
 */
export const ANSWER_BUDGET_MS = 4_000;
const MIN_ATTEMPT_MS = 250;

/** A click is live while inside the attribution window (checked here: TTL deletion lags by days). */
export function isLive(click: ClickRecord, now: number, windowDays: number): boolean {
  return now < click.clickedAt + windowDays * DAY_MS && now < click.expiresAt * 1000;
}

function orderValue(order: Order): string {
  const total = order.items.reduce((sum, i) => sum + Number(i.value) * i.quantity, 0);
  return plainDecimal(Math.round(total * 10_000) / 10_000) ?? '0';
}

/** Only configured purchase events fire (FAQ Q2). A native body without `event` is an order. */
function eventOf(body: unknown, tealium: boolean, deps: Deps): { name: unknown; purchase: boolean } {
  const name = tealium ? tealiumEventName(body, deps.config.mapping) : (body as Record<string, unknown>)['event'];
  if (!tealium && (name === undefined || name === null || name === '')) return { name, purchase: true };
  return { name, purchase: typeof name === 'string' && deps.config.purchaseEvents.includes(name) };
}

/** New purchases that could be attributed (the denominator of the unattributed share). */
const ATTRIBUTABLE: ReadonlySet<Outcome> = new Set(['sent', 'queued', 'rejected', 'unattributed', 'dry_run']);

/** Longest Partnerize call we build: servers commonly refuse longer request lines (414). */
export const MAX_CALL_LENGTH = 8000;

export async function acceptPostback(body: unknown, deps: Deps): Promise<PostbackAnswer> {
  const answer = await accept(body, deps);
  deps.metrics.add(METRICS.postbackOutcome[answer.outcome], 1);
  if (ATTRIBUTABLE.has(answer.outcome)) deps.metrics.add(METRICS.purchases, 1);
  return answer;
}

async function accept(body: unknown, deps: Deps): Promise<PostbackAnswer> {
  const { config, clock } = deps;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InputError('invalid_body', 'body must be a JSON object (an order or a Tealium event)');
  }
  const tealium = isTealiumEvent(body);
  if (!eventOf(body, tealium, deps).purchase) return { conversionRef: null, outcome: 'ignored' };

  const startedAt = clock.now();
  const { native, rename } = tealium
    ? mapTealiumOrder(body, config.mapping, config.consentCategories)
    : { native: body, rename: formatPath };
  const order = parseWith(OrderSchema, native, rename);
  const now = clock.now();
  const conversionRef = config.conversionRefPrefix + order.orderId;
  const orderTime = Math.min(order.orderTime ?? now, now);

  const base: ConversionRecord = {
    conversionRef,
    writeId: deps.newId(),
    orderId: order.orderId,
    status: 'pending',
    createdAt: iso(now),
    updatedAt: iso(now),
    orderTime,
    mode: config.mode,
    source: tealium ? 'tealium' : 'native',
    sessionId: order.sessionId,
    clickrefSource: 'none',
    consent: order.consent,
    consentPolicy: config.consentPolicy,
    currency: order.currency,
    itemCount: order.items.length,
    orderValue: orderValue(order),
    attempts: [],
    retries: 0,
    expiresAt: Math.ceil((now + config.conversionRetentionDays * DAY_MS) / 1000),
  };

  if (!mayTrack(config.consentPolicy, order.consent)) {
    return store({ ...base, status: 'no_consent' }, deps);
  }

  let clickref = order.clickref;
  let clickrefSource: ClickrefSource = clickref ? 'postback' : 'none';
  let click: ClickRecord | undefined;
  if (!clickref && order.sessionId) {
    click = await deps.clicks.get(order.sessionId);
    if (click && isLive(click, now, config.attributionWindowDays)) {
      clickref = click.clickref;
      clickrefSource = 'click';
    }
  }
  const device = order.device ?? deviceFromUserAgent(order.userAgent) ?? (clickrefSource === 'click' ? click?.device : undefined);
  const call: CallSpec = {
    baseUrl: config.partnerize.baseUrl,
    method: config.partnerize.method,
    campaignId: config.partnerize.campaignId,
    conversionRef,
    currency: order.currency,
    country: order.country,
    customerType: order.customerType,
    voucher: order.voucher,
    conversionTime: orderTime,
    device,
    metadata: order.metadata,
    items: order.items,
  };
  const attributed: ConversionRecord = {
    ...base,
    clickrefSource,
    clickedAt: clickrefSource === 'click' && click ? iso(click.clickedAt) : undefined,
    device,
  };
  // Without a clickref the order is kept as a call spec, so an operator can attribute it later;
  // with one, the exact call is kept instead (both would double the record, and its write cost).
  if (!clickref) return store({ ...attributed, call, status: 'unattributed' }, deps);

  const record: ConversionRecord = { ...attributed, clickref, request: requestFor(call, clickref) };
  if (config.mode === 'dryrun' || order.dryRun === true) return store({ ...record, status: 'dry_run' }, deps);

  const leaseId = deps.newId();
  const owed: ConversionRecord = { ...record, dueShard: DUE_SHARD, dueAt: now + config.leaseMs, leaseId };
  const existing = await createOrFindOwn(owed, deps);
  if (existing) return resumeOrDuplicate(existing, deps, startedAt);
  return attemptNow(owed, leaseId, 'inline', deps, startedAt);
}

/** The exact Partnerize request for a call spec and a clickref. */
export function requestFor(call: CallSpec, clickref: string): OutgoingCall {
  const { baseUrl, method, ...rest } = call;
  const url = buildConversionUrl(baseUrl, { ...rest, clickref });
  if (url.length > MAX_CALL_LENGTH) {
    throw new InputError(
      'call_too_long',
      `the Partnerize call for this order would be ${url.length} characters (at most ${MAX_CALL_LENGTH}): send fewer items or less metadata`,
      'items',
    );
  }
  return { method, url };
}

/**
 * The atomic create. Undefined when this request's record now exists — including when the SDK
 * retried our own PutItem after a lost answer and found the record we wrote; otherwise the record
 * someone else wrote first.
 */
async function createOrFindOwn(record: ConversionRecord, deps: Deps): Promise<ConversionRecord | undefined> {
  const created = await deps.conversions.create(record);
  if (created.created || created.existing.writeId === record.writeId) return undefined;
  return created.existing;
}

/** Writes a record that needs no send; a second postback for the same conversionRef is a duplicate. */
async function store(record: ConversionRecord, deps: Deps): Promise<PostbackAnswer> {
  const existing = await createOrFindOwn(record, deps);
  if (existing) return resumeOrDuplicate(existing, deps);
  deps.log.info('conversion stored', { conversionRef: record.conversionRef, status: record.status });
  return { conversionRef: record.conversionRef, outcome: record.status as Outcome };
}

/**
 * A postback for a conversionRef we already hold: `duplicate`, and nothing new is sent (FAQ Q11) —
 * except when the record is still `pending` and its lease has run out: the request that wrote it
 * died before sending (Tealium retries such a request after our 5xx or its timeout), so this
 * postback takes the lease and sends it now, answering that attempt's outcome.
 */
async function resumeOrDuplicate(existing: ConversionRecord, deps: Deps, startedAt = deps.clock.now()): Promise<PostbackAnswer> {
  const now = deps.clock.now();
  const ref = existing.conversionRef;
  if (deps.config.mode === 'live' && existing.status === 'pending' && existing.dueAt !== undefined && existing.dueAt <= now) {
    const leaseId = deps.newId();
    const claimed = await deps.conversions.claim(ref, now, now + deps.config.leaseMs, leaseId);
    if (claimed) return attemptNow(claimed, leaseId, 'resume', deps, startedAt);
  }
  deps.log.info('duplicate postback', { conversionRef: ref, status: existing.status });
  return { conversionRef: ref, outcome: 'duplicate' };
}

const OUTCOME_OF: Partial<Record<ConversionStatus, Outcome>> = {
  sent: 'sent', rejected: 'rejected', queued: 'queued', failed: 'queued',
};

async function attemptNow(
  record: ConversionRecord,
  leaseId: string,
  trigger: 'inline' | 'resume',
  deps: Deps,
  startedAt: number,
): Promise<PostbackAnswer> {
  const ref = record.conversionRef;
  const left = ANSWER_BUDGET_MS - (deps.clock.now() - startedAt);
  const timeoutMs = Math.max(MIN_ATTEMPT_MS, Math.min(deps.config.inlineTimeoutMs, left));
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
