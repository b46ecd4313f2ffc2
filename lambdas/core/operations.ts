/**
 * What the operator CLI does to conversions: find one by order id, replay it, and put failed ones
 * back in the retry queue. Pure orchestration over the ports, like the request paths.
 */
import { parseClickref } from './clickref.js';
import { attemptSend, delivered, logAttempt, type AttemptReport } from './delivery.js';
import { InputError } from './errors.js';
import type { Device } from './fields.js';
import type { AdminDeps, Attempt, ConversionRecord, Deps, OperatorAttribution, RequeueableStatus } from './model.js';
import { liveClick } from './attribution.js';
import { DAY_MS, HOUR_MS, iso, MINUTE_MS } from './time.js';
import { withClickref, type OutgoingCall } from './partnerize-url.js';
import { DEMO_CAMPAIGN_ID, isPartnerizeHost } from './settings.js';
import { requestFor } from './partnerize-request.js';
import { recordUpdate, type RecordedUpdate } from './order-update-record.js';

/** The record of an order: `prefix + orderId` for each prefix in turn (the campaigns'), then the id taken as a conversionRef. */
export async function findConversion(
  idOrRef: string,
  prefixes: string | readonly string[],
  deps: Pick<Deps, 'conversions'>,
): Promise<ConversionRecord | undefined> {
  const candidates = [...new Set([...[prefixes].flat().map((p) => p + idOrRef), idOrRef])];
  for (const ref of candidates) {
    const rec = await deps.conversions.get(ref);
    if (rec) return rec;
  }
  return undefined;
}

export class OperationError extends Error {
  override name = 'OperationError';
}

export interface ReplayOptions {
  /** Attribute an unattributed (or no-consent) conversion to this clickref first. */
  clickref?: string | undefined;
  /**
   * For a `no_consent` conversion: the operator confirms the shopper did consent (e.g. a data-layer
   * bug sent `consent: false`), with the reason, which is kept on the record.
   */
  consentConfirmed?: string | undefined;
}

export interface ReplayResult {
  before: ConversionRecord;
  report: AttemptReport;
}

/**
 * Sends a conversion again now, whatever its status (also when already sent: Partnerize decides
 * what a repeated conversionref means). With `clickref`, an unattributed conversion gets that
 * clickref first (recorded as supplied by an operator). A `no_consent` conversion is sent only
 * with `consentConfirmed`, using the session's click unless a clickref is given. The attempt goes
 * on the audit trail.
 */
export async function replay(record: ConversionRecord, opts: ReplayOptions, deps: AdminDeps): Promise<ReplayResult> {
  const ref = record.conversionRef;
  checkReplayable(record, opts);
  // Everything that can refuse is decided before the record is taken: a refusal never leaves it held.
  const attribution = needsAttribution(record, opts) ? await attributionFor(record, opts, deps) : undefined;
  refuseDemoCampaign(ref, attribution?.request ?? record.request);
  const now = deps.clock.now();
  const leaseId = deps.newId();
  // Only the record the operator was shown: if a sweep sent it, or a postback replaced it, since,
  // this replay would act on a state nobody confirmed.
  const held = await deps.conversions.takeLease(ref, now, now + deps.config.leaseMs, leaseId, 'replay', record.updatedAt);
  if (!held) throw await notTaken(record, deps);
  let toSend = held;
  try {
    if (attribution) toSend = await attach(held, leaseId, attribution, deps);
  } catch (err) {
    await deps.conversions.releaseLease(ref, leaseId, deps.clock.now()).catch(() => {});
    throw err;
  }
  const report = await attemptSend(toSend, leaseId, 'replay', deps.config.retryTimeoutMs, deps, (err) =>
    deps.log.error('could not record the replay attempt', { conversionRef: ref, error: String(err) }),
  );
  logAttempt(deps.log, ref, report.outcome);
  return { before: record, report };
}

/**
 * A call recorded in a dry run on the demo campaign must not reach Partnerize when an operator
 * replays it live: it would be counted for a campaign that is not the brand's.
 */
function refuseDemoCampaign(ref: string, request: OutgoingCall | undefined): void {
  if (request && isPartnerizeHost(request.url) && request.url.toLowerCase().includes(`/campaign:${DEMO_CAMPAIGN_ID}/`)) {
    throw new OperationError(
      `${ref} was recorded for the demo campaign ${DEMO_CAMPAIGN_ID}: replaying it would send it to Partnerize for a campaign that is not yours; nothing was sent`,
    );
  }
}

/** Why a replay could not take the record: it changed since it was shown, or someone holds it. */
async function notTaken(seen: ConversionRecord, deps: AdminDeps): Promise<OperationError> {
  const now = await deps.conversions.get(seen.conversionRef);
  if (now && now.updatedAt !== seen.updatedAt) {
    return new OperationError(
      `${seen.conversionRef} changed since it was shown (now ${now.status}, changed ${now.updatedAt}): look it up again; nothing was sent`,
    );
  }
  return new OperationError(`${seen.conversionRef} is being sent right now by another process; try again in a minute`);
}

const needsAttribution = (r: ConversionRecord, opts: ReplayOptions): boolean =>
  opts.clickref !== undefined || (r.status === 'no_consent' && opts.consentConfirmed !== undefined);

function checkReplayable(record: ConversionRecord, opts: ReplayOptions): void {
  const ref = record.conversionRef;
  if (opts.clickref !== undefined) parseClickref(opts.clickref, 'clickref', '--clickref');
  if (record.status === 'no_consent') {
    if (opts.consentConfirmed === undefined) {
      throw new OperationError(
        `${ref} is no_consent: the postback said the shopper did not consent to affiliate tracking, so it is never sent. ` +
          'If that was a data-layer bug and the shopper did consent, pass --consent-confirmed "<why>" (kept on the record)',
      );
    }
    if (opts.consentConfirmed.trim() === '')
      throw new InputError('invalid_field', '--consent-confirmed needs the reason', 'consentConfirmed');
    if (!record.call) throw new OperationError(`${ref} has no stored order to build a call from (recorded before order specs were kept)`);
    return;
  }
  if (opts.clickref !== undefined) {
    if (!record.call && !record.request) throw new OperationError(`${ref} has no stored order to build a call from`);
  } else if (!record.request) {
    throw new OperationError(`${ref} is ${record.status}: there is no clickref to send; pass --clickref <clickref> to attribute it`);
  }
}

/** What a replay attaches to the record before sending: the clickref, its call, and the operator's consent. */
async function attributionFor(record: ConversionRecord, opts: ReplayOptions, deps: AdminDeps): Promise<OperatorAttribution> {
  const ref = record.conversionRef;
  const found = opts.clickref !== undefined ? { clickref: opts.clickref, source: 'operator' as const } : await orderTimeClick(record, deps);
  if (!found) throw new OperationError(`${ref} has no click of its session from before the order; pass --clickref <clickref> too`);
  // Without consent the postback looked up no click: the click's device fills a gap the order left.
  const call = record.call && { ...record.call, device: record.call.device ?? ('device' in found ? found.device : undefined) };
  const request = call ? requestFor(call, found.clickref).request : withClickref(record.request!, found.clickref);
  const consent =
    opts.consentConfirmed === undefined
      ? undefined
      : { at: iso(deps.clock.now()), reason: opts.consentConfirmed.trim(), postbackConsent: record.consent };
  return { clickref: found.clickref, source: found.source, request, consent };
}

/** Gives the held record its attribution (the condition is the lease). */
async function attach(held: ConversionRecord, leaseId: string, a: OperatorAttribution, deps: AdminDeps): Promise<ConversionRecord> {
  if (!(await deps.conversions.attachClickref(held.conversionRef, leaseId, a, deps.clock.now()))) {
    throw new OperationError(`${held.conversionRef} was taken over while attaching the clickref; nothing was sent`);
  }
  return {
    ...held,
    clickref: a.clickref,
    clickrefSource: a.source,
    request: a.request,
    ...(a.consent ? { consent: true, operatorConsent: a.consent } : {}),
  };
}

/**
 * The click the order would have been attributed to: the session's click, if it was recorded
 * before the order arrived and was live then. A later click (another affiliate's) is not it.
 */
async function orderTimeClick(
  r: ConversionRecord,
  deps: AdminDeps,
): Promise<{ clickref: string; source: 'click'; device?: Device | undefined } | undefined> {
  const arrived = Date.parse(r.createdAt);
  const click = await liveClick(r.sessionId, arrived, deps.config.attributionWindowDays, deps.clicks);
  return click && click.clickedAt <= arrived ? { clickref: click.clickref, source: 'click', device: click.device } : undefined;
}

export interface RequeueProgress {
  done: number;
  total: number;
  requeued: number;
}

/** The records a requeue would take: these statuses, updated at or after `since`. */
export async function findRequeueable(
  statuses: readonly RequeueableStatus[],
  since: string | undefined,
  deps: Pick<AdminDeps, 'conversions'>,
): Promise<ConversionRecord[]> {
  const out: ConversionRecord[] = [];
  for await (const r of deps.conversions.findByStatus(statuses, since)) out.push(r);
  return out.sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
}

/**
 * Puts records back in the due index, due now, with a fresh retry schedule; the retry function
 * sends them on its next run. A record whose status changed meanwhile is left alone.
 */
export async function requeue(
  records: readonly ConversionRecord[],
  statuses: readonly RequeueableStatus[],
  deps: Pick<AdminDeps, 'conversions' | 'clock'>,
  onProgress: (p: RequeueProgress) => void = () => {},
): Promise<RequeueProgress> {
  const p: RequeueProgress = { done: 0, total: records.length, requeued: 0 };
  for (const r of records) {
    if (await deps.conversions.requeue(r.conversionRef, statuses, deps.clock.now())) p.requeued++;
    p.done++;
    onProgress(p);
  }
  return p;
}

/** `24h`, `7d`, `30m` before `now`, or an ISO date → ISO. */
export function parseSince(value: string, now: number): string {
  const refuse = () =>
    new InputError('invalid_since', `--since must be an ISO date or a duration like 24h, 7d, 30m; got '${value}'`, 'since');
  const m = /^(\d+)\s*([mhd])$/i.exec(value.trim());
  // Only ISO dates: Date.parse also reads legacy forms, where a bare "7" (a forgotten unit) is July 2001.
  const t = m
    ? now - Number(m[1]) * { m: MINUTE_MS, h: HOUR_MS, d: DAY_MS }[m[2]!.toLowerCase() as 'm' | 'h' | 'd']
    : /^\d{4}-\d{2}-\d{2}/.test(value.trim())
      ? Date.parse(value)
      : Number.NaN;
  const date = new Date(t);
  if (Number.isNaN(date.getTime())) throw refuse();
  return date.toISOString();
}

export interface OperatorUpdateOptions {
  reason?: string | undefined;
  /** Approve although an earlier update rejected the conversion (a cancellation that was a mistake). */
  force?: boolean | undefined;
}

/**
 * An operator's approve or reject of an order (`pz approve`, `pz reject`): recorded as an update of
 * its own (never a repeat of an earlier one), sent in bulk by the retry function like any other.
 * A reject needs a reason; an approve of a conversion an earlier update rejected needs `force`.
 */
export async function operatorUpdate(
  id: string,
  prefixes: string | readonly string[],
  kind: 'approve' | 'reject',
  opts: OperatorUpdateOptions,
  deps: AdminDeps,
): Promise<RecordedUpdate> {
  const reason = opts.reason?.trim() || undefined;
  if (kind === 'reject' && reason === undefined)
    throw new InputError('missing_field', 'reject needs --reason "<why>" (kept on the record and sent to Partnerize)', 'reason');
  const conversion = await findConversion(id, prefixes, deps);
  const conversionRef = conversion?.conversionRef ?? [prefixes].flat()[0] + id;
  if (kind === 'approve' && !opts.force) {
    const rejected = Object.values((await deps.updates.get(conversionRef))?.entries ?? {}).find(
      (e) =>
        (e.state === 'applied' || e.state === 'submitted' || e.state === 'owed' || e.state === 'held') &&
        e.kind !== 'approve' &&
        e.kind !== 'auto_approve' &&
        !e.items,
    );
    if (rejected)
      throw new OperationError(
        `${conversionRef} was rejected by a ${rejected.kind} update (${rejected.acceptedAt}, ${rejected.state}): an approve would be superseded. Pass --force to approve it anyway`,
      );
  }
  return recordUpdate(
    { conversionRef, orderId: conversion?.orderId ?? id },
    { kind, source: 'operator', reason, force: opts.force || undefined, id: `op:${deps.newId()}` },
    deps,
  );
}

/**
 * Records that Partnerize holds an `unconfirmed` conversion (the operator found it in Partnerize's
 * console or report, or the reconciliation did): the record becomes `sent`, with an audit entry that
 * says who decided and why. No call is made: that is the point.
 */
export async function confirmDelivered(
  record: ConversionRecord,
  reason: string,
  deps: Pick<AdminDeps, 'conversions' | 'clock' | 'config'>,
): Promise<ConversionRecord> {
  const ref = record.conversionRef;
  if (record.status !== 'unconfirmed') {
    throw new OperationError(`${ref} is ${record.status}: only an unconfirmed conversion can be confirmed (nothing changed)`);
  }
  const why = reason.trim();
  if (why === '')
    throw new InputError('missing_field', 'say how you know Partnerize holds it (e.g. "in the conversion report, id 123")', 'reason');
  const now = deps.clock.now();
  const attempt: Attempt = {
    at: iso(now),
    trigger: 'confirm',
    result: 'sent',
    deliveredEarlier: true,
    latencyMs: 0,
    body: why.slice(0, 256),
  };
  const next: ConversionRecord = {
    ...record,
    status: 'sent',
    updatedAt: iso(now),
    attempts: [...record.attempts, attempt],
    dueShard: undefined,
    dueAt: undefined,
    ...delivered(now, deps.config),
  };
  if (!(await deps.conversions.replace(next, record))) {
    throw new OperationError(`${ref} changed since it was read: look it up again; nothing was changed`);
  }
  return next;
}
