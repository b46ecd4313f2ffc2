/**
 * What the operator CLI does to conversions: find one by order id, replay it, and put failed ones
 * back in the retry queue. Pure orchestration over the ports, like the request paths.
 */
import { checkClickref } from './clickref.js';
import { attemptSend, logAttempt } from './delivery.js';
import { InputError } from './errors.js';
import type { AttemptReport } from './delivery.js';
import type { AdminDeps, ConversionRecord, ConversionStatus, Deps, RequeueableStatus } from './model.js';
import { withClickref } from './partnerize-url.js';
import { requestFor } from './partnerize-request.js';

/** The record of an order: `prefix + orderId` first, then the id taken as a conversionRef. */
export async function findConversion(
  idOrRef: string,
  prefix: string,
  deps: Pick<Deps, 'conversions'>,
): Promise<ConversionRecord | undefined> {
  const candidates = [...new Set([prefix + idOrRef, idOrRef])];
  for (const ref of candidates) {
    const rec = await deps.conversions.get(ref);
    if (rec) return rec;
  }
  return undefined;
}

export class OperationError extends Error {
  override name = 'OperationError';
}

const NOT_REPLAYABLE: Partial<Record<ConversionStatus, string>> = {
  no_consent: 'the shopper did not consent to affiliate tracking; it is never sent',
};

export interface ReplayResult {
  before: ConversionRecord;
  report: AttemptReport;
}

/**
 * Sends a conversion again now, whatever its status (also when already sent: Partnerize decides
 * what a repeated conversionref means). With `clickref`, an unattributed conversion gets that
 * clickref first (recorded as supplied by an operator). The attempt goes on the audit trail.
 */
export async function replay(record: ConversionRecord, opts: { clickref?: string | undefined }, deps: AdminDeps): Promise<ReplayResult> {
  const ref = record.conversionRef;
  const refusal = NOT_REPLAYABLE[record.status];
  if (refusal) throw new OperationError(`${ref} is ${record.status}: ${refusal}`);
  if (opts.clickref !== undefined) {
    const c = checkClickref(opts.clickref);
    if (!c.ok) throw new InputError(c.code ?? 'invalid_clickref', `--clickref ${c.message}`, 'clickref');
    if (!record.call && !record.request) throw new OperationError(`${ref} has no stored order to build a call from`);
  } else if (!record.request) {
    throw new OperationError(`${ref} is ${record.status}: there is no clickref to send; pass --clickref <clickref> to attribute it`);
  }
  const now = deps.clock.now();
  const leaseId = deps.newId();
  const held = await deps.conversions.takeLease(ref, now, now + deps.config.leaseMs, leaseId, 'replay');
  if (!held) throw new OperationError(`${ref} is being sent right now by another process; try again in a minute`);
  let toSend = held;
  if (opts.clickref !== undefined) {
    const request = held.call ? requestFor(held.call, opts.clickref).request : withClickref(held.request!, opts.clickref);
    if (!(await deps.conversions.attachClickref(ref, leaseId, opts.clickref, request, now))) {
      throw new OperationError(`${ref} was taken over while attaching the clickref; nothing was sent`);
    }
    toSend = { ...held, clickref: opts.clickref, clickrefSource: 'operator', request };
  }
  const report = await attemptSend(toSend, leaseId, 'replay', deps.config.retryTimeoutMs, deps, (err) =>
    deps.log.error('could not record the replay attempt', { conversionRef: ref, error: String(err) }),
  );
  logAttempt(deps.log, ref, report.outcome);
  return { before: record, report };
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
  const m = /^(\d+)\s*([mhd])$/i.exec(value.trim());
  if (m) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2]!.toLowerCase() as 'm' | 'h' | 'd'];
    return new Date(now - Number(m[1]) * unit).toISOString();
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InputError('invalid_since', `--since must be an ISO date or a duration like 24h, 7d, 30m; got '${value}'`, 'since');
  return new Date(t).toISOString();
}
