/**
 * Acting on a reconciliation (`pz reconcile --fix`): what can be put right through the existing
 * outboxes is, after the operator saw the plan — a missing conversion is replayed under a lease, a
 * drifted update is made owed again, an unconfirmed conversion the report holds is confirmed — and
 * what cannot is told. CLI only: the daily run never acts.
 */
import { InputError } from './errors.js';
import type { AdminDeps, ConversionRecord, Difference, FixAction } from './model.js';
import { confirmDelivered, OperationError, replay } from './operations.js';
import type { CampaignReconciliation } from './reconcile-run.js';
import { iso } from './time.js';

export interface FixPlan {
  /** Missing conversions: sent again under a lease, only if the record is still as it was read. */
  replay: Array<{ row: Difference; record: ConversionRecord }>;
  /** Updates whose effect is missing: owed again, sent in bulk by the retry function. */
  requeue: Array<{ row: Difference; entryId: string }>;
  /** Unconfirmed conversions Partnerize's report holds: recorded as sent, no call. */
  confirm: Array<{ row: Difference; record: ConversionRecord }>;
  /** What no command can put right (told, with the runbook section). */
  manual: Difference[];
}

export function fixPlanOf(results: readonly CampaignReconciliation[]): FixPlan {
  const plan: FixPlan = { replay: [], requeue: [], confirm: [], manual: [] };
  for (const r of results) {
    for (const row of r.rows) {
      const record = r.records.get(row.conversionRef);
      if (row.fix === 'replay' && record) plan.replay.push({ row, record });
      else if (row.fix === 'confirm' && record) plan.confirm.push({ row, record });
      else if (row.fix === 'requeue_update' && row.update && !plan.requeue.some((x) => x.row.conversionRef === row.conversionRef))
        plan.requeue.push({ row, entryId: row.update.entryId });
      else plan.manual.push(row);
    }
  }
  return plan;
}

export interface FixOutcome {
  conversionRef: string;
  action: FixAction;
  /** `sent`, `queued` (retryable: the retry function goes on), `failed`, `rejected`, `requeued`, or `skipped` (why in `message`). */
  result: string;
  message?: string | undefined;
}

/**
 * Carries the plan out: each missing conversion is replayed (core/operations.ts: the lease is taken
 * only if the record is unchanged since the reconciliation read it — never a second send of an order
 * someone else has acted on — and a retryable failure leaves it owed in the outbox), each drifted
 * update is made owed again for the retry function to send.
 */
export async function applyFix(
  plan: FixPlan,
  deps: AdminDeps,
  onProgress: (done: number, total: number) => void = () => {},
  concurrency = 4,
): Promise<FixOutcome[]> {
  const total = plan.replay.length + plan.requeue.length + plan.confirm.length;
  const out: FixOutcome[] = [];
  const done = () => onProgress(out.length, total);
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, plan.replay.length) }, async () => {
      while (i < plan.replay.length) {
        const { record } = plan.replay[i++]!;
        try {
          const r = await replay(record, {}, deps);
          out.push({ conversionRef: record.conversionRef, action: 'replay', result: r.report.outcome.status });
        } catch (err) {
          if (!(err instanceof OperationError || err instanceof InputError)) throw err;
          out.push({ conversionRef: record.conversionRef, action: 'replay', result: 'skipped', message: err.message });
        }
        done();
      }
    }),
  );
  for (const { row, record } of plan.confirm) {
    const why = `in Partnerize's conversion report${row.conversionId ? ` (conversion ${row.conversionId})` : ''}: pz reconcile ${iso(deps.clock.now())}`;
    try {
      await confirmDelivered(record, why, deps);
      out.push({ conversionRef: record.conversionRef, action: 'confirm', result: 'sent' });
    } catch (err) {
      if (!(err instanceof OperationError)) throw err;
      out.push({ conversionRef: record.conversionRef, action: 'confirm', result: 'skipped', message: err.message });
    }
    done();
  }
  for (const { row, entryId } of plan.requeue) {
    const note = `re-queued by pz reconcile ${iso(deps.clock.now())}: ${row.detail}`.slice(0, 500);
    const ok = await deps.updates.requeueEntry(row.conversionRef, entryId, note, deps.clock.now());
    out.push({
      conversionRef: row.conversionRef,
      action: 'requeue_update',
      result: ok ? 'requeued' : 'skipped',
      message: ok ? undefined : 'the update changed meanwhile, or the retry function holds it: look again later',
    });
    done();
  }
  return out;
}
