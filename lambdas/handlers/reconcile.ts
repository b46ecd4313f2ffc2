import middy from '@middy/core';
import { InputError } from '../core/errors.js';
import { dailyReconciliation, REPORT_TIMEOUT_MS, type DailyDeps, type DailyEvent, type DailyReport } from '../core/reconcile-run.js';
import { flushMetrics } from './flush-metrics.js';
import { workTimeLeftMs } from './time-left.js';

/**
 * What a run answers: what it compared (or why it skipped), or — for an operator's invoke the run
 * cannot read — the field at fault. A run that could not reconcile a campaign throws instead (after
 * keeping its record and metrics), so that Lambda counts an error and the alarm pages.
 */
export type ReconcileResult =
  | ({ ok: true } & DailyReport)
  | { ok: false; error: { code: string; message: string; field?: string | undefined } };

/** Kept back after the last report page: the failed run's record and the metrics. */
export const AFTER_LAST_PAGE_MS = 15_000;

/**
 * Kept back from Lambda's timeout: the report page in flight when the deadline passes (its own
 * timeout), then what follows it.
 */
export const RESERVE_MS = REPORT_TIMEOUT_MS + AFTER_LAST_PAGE_MS;

const FIELDS = { from: 'string', to: 'string', lookbackDays: 'number', graceHours: 'number' } as const;
type Field = keyof typeof FIELDS;
const isField = (k: string): k is Field => Object.hasOwn(FIELDS, k);

/**
 * The schedule's input (`{"lookbackDays", "graceHours"}`) or an operator's (`{"from", "to"}` as ISO
 * times, optionally `graceHours`). A misspelt field is refused rather than ignored: a run over the
 * wrong window would report nothing wrong.
 */
export function reconcileEventOf(event: unknown): DailyEvent {
  if (event === undefined || event === null) return {};
  if (typeof event !== 'object' || Array.isArray(event))
    throw new InputError('invalid_event', 'the event must be a JSON object: {"from", "to"} (ISO times) or {"lookbackDays", "graceHours"}');
  const e = event as Record<string, unknown>;
  // EventBridge's own envelope (a rule without an input): the defaults.
  if (e['source'] === 'aws.events' && 'detail-type' in e) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (!isField(k))
      throw new InputError('unknown_field', `${k} is not a field of a reconciliation run (from, to, lookbackDays, graceHours)`, k);
    if (v === undefined || v === null) continue;
    if (typeof v !== FIELDS[k]) throw new InputError('invalid_field', `${k} must be a ${FIELDS[k]}`, k);
    out[k] = v;
  }
  if ((out['from'] !== undefined || out['to'] !== undefined) && out['lookbackDays'] !== undefined)
    throw new InputError('invalid_field', 'lookbackDays cannot be given with from and to: one window or the other', 'lookbackDays');
  return out as DailyEvent;
}

/** The scheduled daily reconciliation (core/reconcile-run.ts), or an operator's run over a window. */
export function createReconcileHandler(deps: DailyDeps) {
  return middy<unknown, ReconcileResult>()
    .use(flushMetrics(deps.metrics))
    .handler(async (event, context) => {
      const workMs = workTimeLeftMs(context, RESERVE_MS);
      const deadline = Number.isFinite(workMs) ? deps.now() + workMs : undefined;
      try {
        return { ok: true, ...(await dailyReconciliation(deps, reconcileEventOf(event), deadline)) };
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        deps.log.warn('reconciliation not run: bad event', { code: err.code, field: err.field });
        return { ok: false, error: { code: err.code, message: err.message, field: err.field } };
      }
    });
}
