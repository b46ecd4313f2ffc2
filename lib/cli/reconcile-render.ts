/** `pz reconcile` for people (a summary, then the rows per class), for scripts (JSON, CSV). */
import type { FixOutcome, FixPlan } from '#lambdas/core/reconcile-fix.js';
import { totalOf, type CampaignReconciliation } from '#lambdas/core/reconcile-run.js';
import type { ClassTotals, Difference, ReconcileSummary } from '#lambdas/core/model.js';
import { CLASS_INFO, DIFFERENCE_CLASSES, differs } from '#lambdas/core/reconcile.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS } from '#lambdas/core/time.js';
import { table } from './render.js';

export interface RunMeta {
  target: string;
  window: { from: number; to: number };
  graceMs: number;
  tookMs: number;
}

const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const n = (x: number) => x.toLocaleString('en-GB');

export function duration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [
    ['d', DAY_MS],
    ['h', HOUR_MS],
    ['m', MINUTE_MS],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms / SECOND_MS}s`;
}

const money = (t: ClassTotals): string =>
  Object.entries(t.value)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([cur, v]) => `${cur} ${v}`)
    .join(', ');

/** What to do about each class, in one line (the runbook section has the rest). */
const WHAT_TO_DO: Record<Difference['class'], string> = {
  missing: 'delivered, Partnerize does not hold it: `pz reconcile --fix` sends it again (check the clickref first if it keeps missing)',
  unexpected: 'Partnerize holds it, the tracker did not deliver it: a second source (the legacy pixel?) is tracking; see the runbook',
  value: 'Partnerize holds another value or currency than the call: correct it in Partnerize, find who changed it',
  items: "Partnerize's items differ from the call's: correct them in Partnerize, find who changed them",
  status: 'an update the tracker applied is not reflected: `pz reconcile --fix` re-queues it',
};

function summaryTable(s: ReconcileSummary): string {
  return table(
    ['class', 'orders', 'value at stake'],
    DIFFERENCE_CLASSES.map((c) => [CLASS_INFO[c].title, n(s[c].count), money(s[c]) || '-']),
  );
}

function notes(s: ReconcileSummary, graceMs: number, prefixes: readonly string[]): string[] {
  const out: string[] = [];
  if (s.recent > 0)
    out.push(
      `Not judged yet: ${n(s.recent)} delivered (or updated) less than ${duration(graceMs)} ago — Partnerize's report may lag; --grace 0 judges them now.`,
    );
  const notSent = Object.entries(s.notSent);
  if (notSent.length > 0)
    out.push(
      `Not compared: the tracker never delivered ${notSent.map(([status, k]) => `${n(k)} ${status}`).join(', ')} of the window (pz requeue / pz replay act on them).`,
    );
  if (s.twins > 0)
    out.push(
      `Twins: ${n(s.twins)} conversion(s) without the ${prefixes.filter(Boolean).join(' / ')} prefix match orders the tracker delivered: the legacy pixel, in a parallel run.`,
    );
  if (s.rejectedAtPartnerize > 0)
    out.push(
      `Told, not a difference: ${n(s.rejectedAtPartnerize)} conversion(s) rejected in Partnerize without an update from the tracker.`,
    );
  if (s.converted > 0)
    out.push(`Told, not a difference: ${n(s.converted)} conversion(s) Partnerize converted to another currency (values not compared).`);
  return out;
}

const shortTime = (isoTime: string | undefined) => (isoTime ? isoTime.slice(0, 19).replace('T', ' ') : '-');

function rowsOf(cls: Difference['class'], rows: readonly Difference[]): string {
  const head = ['order id', 'conversionRef', 'order time', 'value', 'Partnerize', 'what differs'];
  const lines: string[][] = rows.map((r) => [
    r.orderId ?? '-',
    r.conversionRef,
    shortTime(r.orderTime),
    r.ours ? `${r.ours.currency} ${r.ours.value}` : r.amount ? `${r.amount.currency} ${r.amount.value}` : '-',
    r.partnerize
      ? `${r.conversionId ?? ''} ${r.partnerize.status}${r.partnerize.value === undefined ? '' : ` ${r.partnerize.currency ?? ''} ${r.partnerize.value}`}`.trim()
      : 'not held',
    r.detail,
  ]);
  const body = table(head, lines);
  if (cls !== 'missing') return body;
  // The exact call of each missing conversion, under the table: what to show Partnerize's support.
  const calls = rows.map(
    (r) =>
      `  ${r.conversionRef}: ${r.ours?.call ? `${r.ours.call.method} ${r.ours.call.url}` : '(no call kept)'}${r.ours?.answer?.body ? `  → answered "${r.ours.answer.body.slice(0, 80)}"` : ''}`,
  );
  return `${body}\n\nThe calls that were answered 2xx:\n${calls.join('\n')}`;
}

export function renderReconciliation(results: readonly CampaignReconciliation[], meta: RunMeta, opts: { rows: boolean }): string {
  const out: string[] = [];
  const total = totalOf(results.map((r) => r.summary));
  out.push(
    `Reconciliation of ${meta.target}: orders from ${utc(meta.window.from)} to ${utc(meta.window.to)}, grace ${duration(meta.graceMs)} (${(meta.tookMs / 1000).toFixed(1)} s)`,
  );
  for (const r of results)
    out.push(
      `  campaign ${r.campaign.campaignId} (${r.campaign.name}${r.campaign.prefixes.some(Boolean) ? `, prefix ${r.campaign.prefixes.filter(Boolean).join(' / ')}` : ''}): Partnerize holds ${n(r.summary.held)} conversion(s) of the window (${n(r.pages)} page(s) read); ${n(r.summary.checked)} delivered conversion(s) judged`,
    );
  out.push('', summaryTable(total));
  const prefixes = results.flatMap((r) => r.campaign.prefixes);
  const extra = notes(total, meta.graceMs, prefixes);
  if (extra.length > 0) out.push('', ...extra);
  out.push(
    '',
    differs(total) ? 'Something differs: exit code 3.' : 'Nothing differs: Partnerize holds exactly the orders the tracker delivered.',
  );
  if (!opts.rows) return out.join('\n');
  const rows = results.flatMap((r) => r.rows);
  for (const cls of DIFFERENCE_CLASSES) {
    const of = rows.filter((r) => r.class === cls);
    if (of.length === 0) continue;
    out.push(
      '',
      `${CLASS_INFO[cls].title.toUpperCase()} (${n(of.length)}) — ${WHAT_TO_DO[cls]} (runbook: #${CLASS_INFO[cls].anchor})`,
      rowsOf(cls, of),
    );
  }
  return out.join('\n');
}

export function toJson(results: readonly CampaignReconciliation[], meta: RunMeta) {
  const total = totalOf(results.map((r) => r.summary));
  return {
    target: meta.target,
    from: new Date(meta.window.from).toISOString(),
    to: new Date(meta.window.to).toISOString(),
    graceMs: meta.graceMs,
    differs: differs(total),
    summary: total,
    campaigns: results.map((r) => ({ ...r.campaign, pages: r.pages, summary: r.summary })),
    rows: results.flatMap((r) => r.rows),
  };
}

export const CSV_COLUMNS = [
  'class',
  'campaign_id',
  'order_id',
  'conversion_ref',
  'conversion_id',
  'order_time',
  'tracker_status',
  'partnerize_status',
  'currency',
  'tracker_value',
  'partnerize_value',
  'value_at_stake',
  'detail',
  'call',
] as const;

/**
 * One field: quoted when it must be (RFC 4180), and text that a spreadsheet would run as a formula
 * (`=`, `+`, `-`, `@` first) kept as text with a leading `'` — order ids and details come from outside.
 */
export function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(results: readonly CampaignReconciliation[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of results.flatMap((x) => x.rows)) {
    lines.push(
      [
        r.class,
        r.campaignId,
        r.orderId,
        r.conversionRef,
        r.conversionId,
        r.orderTime,
        r.ours?.status,
        r.partnerize?.status,
        r.ours?.currency ?? r.partnerize?.currency,
        r.ours?.value,
        r.partnerize?.value,
        r.amount?.value,
        r.detail,
        r.ours?.call ? `${r.ours.call.method} ${r.ours.call.url}` : undefined,
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function renderFixPlan(plan: FixPlan, heldForDryRun: FixPlan['replay']): string {
  const out: string[] = ['What --fix does:'];
  if (plan.replay.length > 0)
    out.push(
      `  re-send ${plan.replay.length} missing conversion(s), each only if its record is unchanged: ${plan.replay.map((x) => x.record.conversionRef).join(', ')}`,
    );
  if (heldForDryRun.length > 0)
    out.push(
      `  NOT re-send ${heldForDryRun.length} missing conversion(s): the tracker runs a dry run (pass --live to send them for real): ${heldForDryRun.map((x) => x.record.conversionRef).join(', ')}`,
    );
  if (plan.requeue.length > 0)
    out.push(
      `  re-queue ${plan.requeue.length} update(s) Partnerize did not apply (the retry function sends them): ${plan.requeue.map((x) => `${x.row.conversionRef} (${x.row.update?.kind})`).join(', ')}`,
    );
  if (plan.confirm.length > 0)
    out.push(
      `  confirm ${plan.confirm.length} unconfirmed conversion(s) Partnerize holds (recorded as sent, no call): ${plan.confirm.map((x) => x.record.conversionRef).join(', ')}`,
    );
  if (plan.manual.length > 0)
    out.push(
      `  nothing for ${plan.manual.length} difference(s) no command can put right (unexpected, value, items: see the runbook): ${plan.manual.map((d) => d.conversionRef).join(', ')}`,
    );
  if (plan.replay.length + plan.requeue.length + plan.confirm.length + plan.manual.length + heldForDryRun.length === 0)
    out.push('  nothing: no difference.');
  return out.join('\n');
}

const FIX_DONE: Record<FixOutcome['action'], string> = { replay: 're-sent', requeue_update: 'update re-queued', confirm: 'confirmed' };

export function renderFix(outcomes: readonly FixOutcome[], live: boolean): string {
  if (outcomes.length === 0) return 'Nothing was done.';
  const t = table(
    ['conversionRef', 'action', 'result', 'note'],
    outcomes.map((o) => [o.conversionRef, FIX_DONE[o.action], o.result, o.message ?? '']),
  );
  const requeued = outcomes.some((o) => o.result === 'requeued');
  return `${t}${requeued ? `\n\nRe-queued updates are sent by the retry function on its next run${live ? '' : ' once the tracker runs live'}.` : ''}`;
}
