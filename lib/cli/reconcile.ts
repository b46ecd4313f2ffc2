/**
 * `pz reconcile`: does Partnerize hold every order the tracker delivered, with the values and
 * statuses it should? The summary first, then every differing order; `--json` and `--csv` for
 * scripts; an exit code they can use; `--fix` to put right what the outboxes can.
 */
import type { Io } from './io.js';
import type { Target } from './target.js';
import { progressBar } from './progress.js';
import { renderFix, renderFixPlan, renderReconciliation, toCsv, toJson } from './reconcile-render.js';
import { applyFix, fixPlanOf } from '#lambdas/core/reconcile-fix.js';
import {
  campaignTargets,
  DEFAULT_GRACE_MS,
  parseDuration,
  parseWindow,
  reconcileCampaign,
  selectCampaigns,
  type CampaignReconciliation,
  type CampaignTarget,
  type ReportProgress,
} from '#lambdas/core/reconcile-run.js';
import { differs } from '#lambdas/core/reconcile.js';
import { InputError } from '#lambdas/core/errors.js';

/** Exit codes (README "Reconciliation"): scripts can tell "all held" from "something differs" from "could not tell". */
export const RECONCILE_EXIT = {
  /** Nothing differs. */
  same: 0,
  /** The reconciliation could not be done (the report unreadable, no keys, the target unreachable). */
  error: 1,
  /** A usage mistake. */
  usage: 2,
  /** Something differs: every differing order is listed. */
  differs: 3,
} as const;

export const RECONCILE_HELP = `pz reconcile --from <date> --to <date> [--grace <duration>] [--campaign <id>] [--json | --csv] [--fix [--yes] [--live]] [options]

Compares the tracker's conversions of a window with Partnerize's brand conversion report, order by
order, and lists every difference:
  missing       delivered (Partnerize answered 2xx), not in Partnerize's report after the grace period
  unexpected    in Partnerize's report, not delivered by the tracker (no record, or one never sent:
                the legacy pixel, another source), or held twice
  value         the value or the currency differs from the call the tracker made
  items         the items differ (per SKU: value, and count where the report can say it)
  status        a cancellation, return, refund or approval the tracker applied is not reflected
Both sides are read by order time (Partnerize's conversion_time is the order time the tracker sends).
  --from, --to <date>   a date (2026-05-01: the whole UTC day; --to includes its day) or an ISO time
  --grace <duration>    how long after a delivery (or an update) its absence counts: 0, 30m, 6h, 2d
                        (default 6h)
  --campaign <id>       one campaign (its Partnerize id or its name); default every campaign
  --csv                 the differing orders as CSV (the summary goes to stderr)
  --fix                 after showing the plan: re-send the missing conversions (as pz replay does:
                        under a lease, only if the record did not change since it was read) and
                        re-queue the updates Partnerize did not apply (the retry function sends them);
                        confirm the unconfirmed conversions (cut calls) the report holds (no call);
                        asks first unless --yes. --live re-sends although the tracker runs a dry run.
Partnerize's API keys: PARTNERIZE_APPLICATION_KEY and PARTNERIZE_USER_API_KEY (and
PARTNERIZE_API_BASE_URL) in pz's environment; else the stack's PartnerizeApiKeys secret, or the
local mode's keys (the local server reads the report for pz).
Exit codes: 0 nothing differs, 3 something differs, 1 the reconciliation could not be done, 2 usage.`;

export interface ReconcileValues {
  from?: string | undefined;
  to?: string | undefined;
  grace?: string | undefined;
  campaign?: string | undefined;
  json?: boolean | undefined;
  csv?: boolean | undefined;
  fix?: boolean | undefined;
  live?: boolean | undefined;
}

/** A line on a terminal while the report is read (the total, when Partnerize says it, makes it a bar). */
function reportProgress(io: Io, c: CampaignTarget) {
  const label = `Partnerize's report, campaign ${c.campaignId}`;
  const bar = progressBar(io.stderr, label);
  let last: ReportProgress | undefined;
  return {
    onPage(p: ReportProgress) {
      last = p;
      if (!io.stderr.isTTY) return;
      if (p.total !== undefined) bar.update(p.conversions, p.total);
      else io.stderr.write(`\r${label}: page ${p.pages}, ${p.conversions} conversions`);
    },
    finish() {
      if (io.stderr.isTTY && last) io.stderr.write('\n');
    },
  };
}

function campaignsOf(values: ReconcileValues, target: Target): CampaignTarget[] {
  if (!target.campaignsKnown) {
    if (!values.campaign)
      throw new InputError(
        'unknown_campaigns',
        `${target.label} does not publish its campaigns (deployed before pz reconcile existed): deploy it again, or pass --campaign <Partnerize campaign id>`,
        'campaign',
      );
    return [{ campaignId: values.campaign, name: values.campaign, prefixes: [target.conversionRefPrefix] }];
  }
  return selectCampaigns(campaignTargets(target.deps.config), values.campaign);
}

export async function reconcileCommand(
  values: ReconcileValues,
  io: Io,
  target: Target,
  confirm: (question: string) => Promise<boolean>,
): Promise<number> {
  if (values.json && values.csv) throw new InputError('invalid_field', 'pass --json or --csv, not both', 'csv');
  const now = Date.now();
  const window = parseWindow(values.from, values.to, now);
  const graceMs = values.grace === undefined ? DEFAULT_GRACE_MS : parseDuration(values.grace, 'grace');
  const campaigns = campaignsOf(values, target);
  const api = target.partnerizeApi(io.env);
  const deps = {
    store: target.reconciliation,
    api,
    now: () => Date.now(),
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  };
  const started = Date.now();
  const results: CampaignReconciliation[] = [];
  for (const campaign of campaigns) {
    const progress = reportProgress(io, campaign);
    try {
      results.push(await reconcileCampaign(deps, { campaign, window, graceMs, onPage: (p) => progress.onPage(p) }));
    } finally {
      progress.finish();
    }
  }
  const meta = { target: target.label, window, graceMs, tookMs: Date.now() - started };
  if (values.json) io.stdout.write(`${JSON.stringify(toJson(results, meta), null, 2)}\n`);
  else if (values.csv) {
    io.stdout.write(toCsv(results));
    io.stderr.write(`${renderReconciliation(results, meta, { rows: false })}\n`);
  } else io.stdout.write(`${renderReconciliation(results, meta, { rows: true })}\n`);
  const found = results.some((r) => differs(r.summary));
  if (values.fix) await fix(results, values, io, target, confirm);
  return found ? RECONCILE_EXIT.differs : RECONCILE_EXIT.same;
}

async function fix(
  results: readonly CampaignReconciliation[],
  values: ReconcileValues,
  io: Io,
  target: Target,
  confirm: (question: string) => Promise<boolean>,
): Promise<void> {
  const out = values.json || values.csv ? io.stderr : io.stdout;
  const plan = fixPlanOf(results);
  const mayCall = target.mode === 'live' || values.live === true;
  const held = mayCall ? [] : plan.replay;
  if (!mayCall) plan.replay = [];
  out.write(`\n${renderFixPlan(plan, held)}\n`);
  if (plan.replay.length + plan.requeue.length + plan.confirm.length === 0) return;
  const what = [
    plan.replay.length > 0 ? `re-send ${plan.replay.length} missing conversion(s) to Partnerize now` : '',
    plan.requeue.length > 0 ? `re-queue ${plan.requeue.length} update(s)` : '',
    plan.confirm.length > 0 ? `confirm ${plan.confirm.length} unconfirmed conversion(s) Partnerize holds` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  if (!(await confirm(`${what[0]!.toUpperCase()}${what.slice(1)}?`))) {
    out.write('Nothing done.\n');
    return;
  }
  const bar = progressBar(io.stderr, 'fix');
  const outcomes = await applyFix(plan, target.deps, (done, total) => bar.update(done, total));
  bar.finish(outcomes.length, plan.replay.length + plan.requeue.length + plan.confirm.length);
  out.write(`${renderFix(outcomes, target.mode === 'live')}\n`);
}
