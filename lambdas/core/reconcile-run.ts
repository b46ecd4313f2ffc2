/**
 * The reconciliation's use cases (README "Reconciliation"): read a campaign's window on both sides —
 * the tracker's records through the `campaignTime` index, Partnerize's brand conversion report page
 * by page, politely — compare them (core/reconcile.ts), act on the differences (`pz reconcile --fix`),
 * and the scheduled daily run that keeps its result and emits a metric per class. Orchestration
 * over the ports only: no AWS, no HTTP, no environment.
 */
import { campaignsOf } from './campaigns.js';
import { InputError } from './errors.js';
import { RECONCILE_METRICS, type Metrics } from './metrics.js';
import {
  reconcileRunKey,
  type ConversionRecord,
  type Difference,
  type Log,
  type OrderUpdatesRecord,
  type PartnerizeApi,
  type ReconcileRunRecord,
  type ReconcileSummary,
  type ReconciliationStore,
  type ReportConversion,
} from './model.js';
import { compare, DIFFERENCE_CLASSES, differs, emptySummary, mayHaveReached, type Reconciliation } from './reconcile.js';
import { formatAmount, amountOf } from './reconcile-amounts.js';
import type { TrackerConfig } from './settings.js';
import { DAY_MS, expiresAfterDays, HOUR_MS, iso, MINUTE_MS, SECOND_MS } from './time.js';

/** The default grace period after a delivery before its absence from the report counts ("a few hours"). */
export const DEFAULT_GRACE_MS = 6 * HOUR_MS;
/**
 * The report is read an hour wider than the window on each side: a conversion Partnerize dates a
 * little differently (an end date read as inclusive, an hour's timezone slip) is still matched to
 * its record, and one of the window found only there is compared, never called missing.
 */
export const REPORT_MARGIN_MS = HOUR_MS;
/** A call to the report API gives up after this long (pages of 300 conversions). */
export const REPORT_TIMEOUT_MS = 30 * SECOND_MS;
/** Far more than any window needs (300 conversions a page): a server whose pages never end is a bug. */
const MAX_PAGES = 10_000;
/** Failures of one page (5xx, timeouts) before the run gives up; 429s are waited out instead, up to {@link MAX_RATE_LIMITED}. */
const MAX_PAGE_FAILURES = 5;
const MAX_RATE_LIMITED = 60;
/** A 429 without advice waits this long. */
const DEFAULT_RATE_WAIT_S = 5;

/** Why a reconciliation could not be done (the report unreadable, the keys refused, out of time). */
export class ReconcileError extends Error {
  override name = 'ReconcileError';
  constructor(
    message: string,
    readonly auth = false,
  ) {
    super(message);
  }
}

export interface ReconcileDeps {
  store: ReconciliationStore;
  api: PartnerizeApi;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/** A campaign id of the deployment, with the prefixes its conversionRefs take. */
export interface CampaignTarget {
  campaignId: string;
  /** The deployment's names for it (`default`, a rule's name). */
  name: string;
  prefixes: string[];
}

/** The deployment's campaigns, one per campaign id (two rules naming one id share it). */
export function campaignTargets(
  config: Pick<TrackerConfig, 'partnerizeCampaignId' | 'conversionRefPrefix' | 'campaigns'>,
): CampaignTarget[] {
  const out = new Map<string, CampaignTarget>();
  for (const c of campaignsOf(config)) {
    const t = out.get(c.campaignId);
    if (!t) out.set(c.campaignId, { campaignId: c.campaignId, name: c.name, prefixes: [c.conversionRefPrefix] });
    else {
      t.name = `${t.name}, ${c.name}`;
      if (!t.prefixes.includes(c.conversionRefPrefix)) t.prefixes.push(c.conversionRefPrefix);
    }
  }
  return [...out.values()];
}

/** `--campaign <id or name>`, or every campaign. */
export function selectCampaigns(all: readonly CampaignTarget[], wanted: string | undefined): CampaignTarget[] {
  if (wanted === undefined) return [...all];
  const w = wanted.trim();
  const found = all.filter((c) => c.campaignId === w || c.name.split(', ').includes(w.toLowerCase()));
  if (found.length === 0)
    throw new InputError(
      'unknown_campaign',
      `--campaign '${w}' is not a campaign of this deployment (${all.map((c) => `${c.campaignId} (${c.name})`).join(', ')})`,
      'campaign',
    );
  return found;
}

export interface ReportProgress {
  pages: number;
  conversions: number;
  /** The report's total, when its `count` says it. */
  total?: number | undefined;
}

export interface ReportReadOptions {
  campaignId: string;
  from: number;
  to: number;
  timeoutMs?: number | undefined;
  /** Epoch ms: a wait Partnerize asks for that would end later makes the read give up. */
  deadline?: number | undefined;
  onPage?: ((p: ReportProgress) => void) | undefined;
}

export interface ReportRead {
  conversions: ReportConversion[];
  pages: number;
  /** Time spent waiting because Partnerize asked to (429, X-RateLimit-Remaining 0). */
  waitedMs: number;
}

/**
 * Every conversion of the report for a window, each once: pages followed as Partnerize links them
 * (its `next_page`, a cursor, else the next `offset`: lambdas/adapters/partnerize-api.ts). A 429 is
 * waited out as its `X-RateLimit-Retry-After` / `X-RateLimit-Reset` say; a page that leaves no
 * tokens (`X-RateLimit-Remaining: 0`) waits for the reset before the next; a 5xx or timeout is
 * tried again after a backoff; keys refused (401/403) or any other 4xx end the read.
 */
export async function readReport(deps: Pick<ReconcileDeps, 'api' | 'now' | 'sleep'>, o: ReportReadOptions): Promise<ReportRead> {
  const seen = new Map<string, ReportConversion>();
  let next: string | undefined;
  let pages = 0;
  let failures = 0;
  let limited = 0;
  let waitedMs = 0;
  const wait = async (ms: number, why: string) => {
    if (o.deadline !== undefined && deps.now() + ms > o.deadline)
      throw new ReconcileError(`out of time: ${why} asks to wait ${Math.ceil(ms / 1000)} s more`);
    waitedMs += ms;
    await deps.sleep(ms);
  };
  for (;;) {
    const r = await deps.api.conversions(o.campaignId, { from: o.from, to: o.to, next }, o.timeoutMs ?? REPORT_TIMEOUT_MS);
    if (!r.ok) {
      const what = `HTTP ${r.status ?? r.error ?? 'error'}${r.message ? `: ${r.message}` : ''}`;
      if (r.status === 401 || r.status === 403)
        throw new ReconcileError(`Partnerize refused the API keys (${what}): check the user application key and user API key`, true);
      if (r.result !== 'retryable') throw new ReconcileError(`Partnerize's conversion report could not be read (${what})`);
      if (r.status === 429) {
        if (++limited > MAX_RATE_LIMITED) throw new ReconcileError(`Partnerize kept answering 429 (${limited} times)`);
        await wait((r.retryAfterS ?? DEFAULT_RATE_WAIT_S) * SECOND_MS, "Partnerize's rate limit");
      } else {
        if (++failures > MAX_PAGE_FAILURES)
          throw new ReconcileError(`Partnerize's conversion report could not be read (${what}, ${failures} tries)`);
        await wait(Math.max((r.retryAfterS ?? 0) * SECOND_MS, 2 ** failures * SECOND_MS), 'a retry');
      }
      continue;
    }
    failures = 0;
    pages += 1;
    for (const c of r.value.conversions) seen.set(c.conversionId, c);
    const count = r.value.count;
    o.onPage?.({ pages, conversions: seen.size, total: count !== undefined && count > r.value.conversions.length ? count : undefined });
    if (!r.value.next) break;
    if (pages >= MAX_PAGES) throw new ReconcileError(`the report did not end after ${MAX_PAGES} pages`);
    next = r.value.next;
    const rl = r.value.rateLimit;
    if (rl?.remaining === 0 && rl.resetS !== undefined && rl.resetS > 0) await wait(rl.resetS * SECOND_MS, "Partnerize's rate limit");
  }
  return { conversions: [...seen.values()], pages, waitedMs };
}

export interface ReconcileOptions {
  campaign: CampaignTarget;
  window: { from: number; to: number };
  graceMs: number;
  timeoutMs?: number | undefined;
  deadline?: number | undefined;
  onPage?: ((p: ReportProgress) => void) | undefined;
}

export interface CampaignReconciliation extends Reconciliation {
  campaign: CampaignTarget;
  window: { from: number; to: number };
  pages: number;
  /** The records the comparison read, by conversionRef (what `--fix` acts on, as they were). */
  records: Map<string, ConversionRecord>;
}

const delivered = (r: ConversionRecord) => r.status === 'sent';

/**
 * One campaign's window: the tracker's side (the index, then the records, then their updates) and
 * Partnerize's report are read side by side; references the report holds that the window's records
 * do not are looked up by key (a record of another window, one written before the index existed,
 * the prefixed twin of a pixel's conversion), then everything is compared.
 */
export async function reconcileCampaign(deps: ReconcileDeps, o: ReconcileOptions): Promise<CampaignReconciliation> {
  const { campaign, window } = o;
  const oursSide = (async () => {
    const ours = await deps.store.conversionsIn(campaign.campaignId, window.from, window.to);
    const updates = await deps.store.updatesOf(ours.filter(delivered).map((r) => r.conversionRef));
    return { ours, updates };
  })();
  const reportSide = readReport(deps, {
    campaignId: campaign.campaignId,
    from: window.from - REPORT_MARGIN_MS,
    to: window.to + REPORT_MARGIN_MS,
    timeoutMs: o.timeoutMs,
    deadline: o.deadline,
    onPage: o.onPage,
  });
  const [{ ours, updates }, report] = await Promise.all([oursSide, reportSide]);
  const oursByRef = new Map(ours.map((r) => [r.conversionRef, r]));
  const prefixed = campaign.prefixes.filter((p) => p !== '');
  const lookups = new Set<string>();
  for (const c of report.conversions) {
    const ref = c.conversionReference;
    if (!oursByRef.has(ref)) lookups.add(ref);
    if (!campaign.prefixes.some((p) => ref.startsWith(p))) for (const p of prefixed) if (!oursByRef.has(p + ref)) lookups.add(p + ref);
  }
  const others = new Map((await deps.store.conversionsByRef([...lookups])).map((r) => [r.conversionRef, r]));
  const moreUpdates = await deps.store.updatesOf([...others.values()].filter((r) => mayHaveReached(r)).map((r) => r.conversionRef));
  const updatesByRef = new Map<string, OrderUpdatesRecord>([...updates, ...moreUpdates].map((u) => [u.ref, u]));
  const result = compare({
    campaignId: campaign.campaignId,
    prefixes: campaign.prefixes,
    window,
    now: deps.now(),
    graceMs: o.graceMs,
    ours,
    others,
    updates: updatesByRef,
    partnerize: report.conversions,
  });
  return { ...result, campaign, window, pages: report.pages, records: new Map([...oursByRef, ...others]) };
}

/** Several campaigns' summaries added up (the CLI's first table, the daily run's metrics). */
export function totalOf(summaries: readonly ReconcileSummary[]): ReconcileSummary {
  const t = emptySummary();
  for (const s of summaries) {
    for (const c of DIFFERENCE_CLASSES) {
      t[c].count += s[c].count;
      for (const [cur, v] of Object.entries(s[c].value))
        t[c].value[cur] = formatAmount((amountOf(t[c].value[cur] ?? '0') ?? 0n) + (amountOf(v) ?? 0n));
    }
    for (const k of ['checked', 'held', 'recent', 'twins', 'rejectedAtPartnerize', 'converted'] as const) t[k] += s[k];
    for (const [status, n] of Object.entries(s.notSent))
      t.notSent[status as keyof typeof t.notSent] = (t.notSent[status as keyof typeof t.notSent] ?? 0) + n;
  }
  return t;
}

/* ---------- the scheduled daily run ---------- */

/** What the schedule hands the function (lib/tracking-stack.ts); an operator may invoke it with a window. */
export interface DailyEvent {
  /** Whole UTC days before today to reconcile (1: yesterday). */
  lookbackDays?: number;
  graceHours?: number;
  /** An explicit window (ISO), instead of the lookback. */
  from?: string;
  to?: string;
}

export const DEFAULT_LOOKBACK_DAYS = 1;

/** The event's window and grace, checked (a bad one names its field). */
export function dailyWindowOf(event: DailyEvent | undefined, now: number): { from: number; to: number; graceMs: number } {
  const e = event ?? {};
  const graceHours = e.graceHours ?? DEFAULT_GRACE_MS / HOUR_MS;
  if (typeof graceHours !== 'number' || !Number.isFinite(graceHours) || graceHours < 0 || graceHours > 720)
    throw new InputError('invalid_field', 'graceHours must be a number of hours from 0 to 720', 'graceHours');
  if (e.from !== undefined || e.to !== undefined) {
    const from = Date.parse(e.from ?? '');
    const to = Date.parse(e.to ?? '');
    if (Number.isNaN(from) || Number.isNaN(to) || to <= from)
      throw new InputError('invalid_field', 'from and to must both be ISO times, to after from', Number.isNaN(from) ? 'from' : 'to');
    return { from, to, graceMs: graceHours * HOUR_MS };
  }
  const days = e.lookbackDays ?? DEFAULT_LOOKBACK_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > 31)
    throw new InputError('invalid_field', 'lookbackDays must be a whole number of days from 1 to 31', 'lookbackDays');
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  return { from: today - days * DAY_MS, to: today, graceMs: graceHours * HOUR_MS };
}

/** A run record stays far below DynamoDB's 400 KB item limit; a bigger day is an incident for `pz reconcile`. */
export const RUN_ROWS_MAX_BYTES = 300_000;

export function runRecordOf(
  r: {
    campaign: CampaignTarget;
    window: { from: number; to: number };
    pages: number;
    summary: ReconcileSummary;
    rows: readonly Difference[];
  },
  o: { graceMs: number; startedAt: number; now: number; retentionDays: number; error?: string | undefined },
): ReconcileRunRecord {
  const from = iso(r.window.from);
  const to = iso(r.window.to);
  const rows: Difference[] = [];
  let bytes = 0;
  for (const row of r.rows) {
    const size = JSON.stringify(row).length;
    if (bytes + size > RUN_ROWS_MAX_BYTES) break;
    bytes += size;
    rows.push(row);
  }
  return {
    conversionRef: reconcileRunKey(r.campaign.campaignId, from, to),
    recordType: 'reconcile_run',
    campaignId: r.campaign.campaignId,
    campaignName: r.campaign.name,
    from,
    to,
    graceMs: o.graceMs,
    ranAt: iso(o.now),
    durationMs: o.now - o.startedAt,
    pages: r.pages,
    summary: r.summary,
    rows,
    rowsLeftOut: r.rows.length - rows.length,
    error: o.error,
    expiresAt: expiresAfterDays(o.now, o.retentionDays),
  };
}

export interface DailyDeps extends ReconcileDeps {
  config: TrackerConfig;
  metrics: Metrics;
  log: Log;
}

export interface DailyReport {
  /** Why nothing was compared: the tracker runs a dry run, or the API keys are not set. */
  skipped?: 'dry_run' | 'no_keys' | undefined;
  from?: string | undefined;
  to?: string | undefined;
  campaigns: Array<{ campaignId: string; differs?: boolean; counts?: Record<string, number>; error?: string }>;
}

const SHARE = (part: number, whole: number) => (whole === 0 ? 0 : (100 * part) / whole);

/**
 * The scheduled reconciliation: every campaign over the previous day(s). Runs only live and with the
 * API keys set (the secret is read at run time: filling it turns the run on, no deploy). Keeps a
 * record per campaign, emits a metric per class and the missing and unexpected shares (the alarms'),
 * and fails — after keeping what it could — when a campaign could not be reconciled.
 */
export async function dailyReconciliation(deps: DailyDeps, event: DailyEvent | undefined, deadline?: number): Promise<DailyReport> {
  const w = dailyWindowOf(event, deps.now());
  const skipped = await whySkipped(deps);
  if (skipped) {
    deps.metrics.add(RECONCILE_METRICS.skipped, 1);
    return { skipped, campaigns: [] };
  }
  const report: DailyReport = { from: iso(w.from), to: iso(w.to), campaigns: [] };
  const summaries: ReconcileSummary[] = [];
  const failures: string[] = [];
  for (const campaign of campaignTargets(deps.config)) {
    const { row, summary } = await reconcileDay(deps, campaign, w, deadline);
    report.campaigns.push(row);
    if (summary) summaries.push(summary);
    else failures.push(`${campaign.campaignId}: ${row.error}`);
  }
  emitDailyMetrics(deps.metrics, totalOf(summaries), failures.length);
  if (failures.length > 0) throw new ReconcileError(`reconciliation failed for ${failures.join('; ')}`);
  return report;
}

/** Why the daily run compares nothing: the tracker runs a dry run, or the API keys are not set (undefined: it runs). */
async function whySkipped(deps: DailyDeps): Promise<DailyReport['skipped']> {
  if (deps.config.partnerizeMode !== 'live') {
    deps.log.info('reconciliation skipped: the tracker runs a dry run');
    return 'dry_run';
  }
  if (!(await deps.api.hasCredentials())) {
    deps.log.warn('reconciliation skipped: the Partnerize API keys are not set');
    return 'no_keys';
  }
  return undefined;
}

/**
 * One campaign of the daily run, its run record kept and logged: its report row and summary, or —
 * when it could not be reconciled (ReconcileError: the report unreadable, out of time) — a row and
 * a record that say why. Any other error ends the run.
 */
async function reconcileDay(
  deps: DailyDeps,
  campaign: CampaignTarget,
  w: { from: number; to: number; graceMs: number },
  deadline: number | undefined,
): Promise<{ row: DailyReport['campaigns'][number]; summary?: ReconcileSummary }> {
  const started = deps.now();
  const keep = (r: Parameters<typeof runRecordOf>[0], error?: string) =>
    deps.store.putRun(
      runRecordOf(r, {
        graceMs: w.graceMs,
        startedAt: started,
        now: deps.now(),
        retentionDays: deps.config.conversionRetentionDays,
        error,
      }),
    );
  try {
    const r = await reconcileCampaign(deps, { campaign, window: w, graceMs: w.graceMs, deadline });
    await keep(r);
    const counts = Object.fromEntries(DIFFERENCE_CLASSES.map((c) => [c, r.summary[c].count]));
    deps.log[differs(r.summary) ? 'warn' : 'info']('reconciliation', {
      campaignId: campaign.campaignId,
      from: iso(w.from),
      to: iso(w.to),
      pages: r.pages,
      checked: r.summary.checked,
      held: r.summary.held,
      ...counts,
    });
    return { row: { campaignId: campaign.campaignId, differs: differs(r.summary), counts }, summary: r.summary };
  } catch (err) {
    if (!(err instanceof ReconcileError)) throw err;
    await keep({ campaign, window: w, pages: 0, summary: emptySummary(), rows: [] }, err.message);
    deps.log.error('reconciliation failed', { campaignId: campaign.campaignId, error: err.message });
    return { row: { campaignId: campaign.campaignId, error: err.message } };
  }
}

/** The run's metrics over all campaigns: a count per class, what was judged, the alarms' shares, the campaigns that failed. */
function emitDailyMetrics(metrics: Metrics, t: ReconcileSummary, failed: number): void {
  const m = RECONCILE_METRICS;
  for (const c of DIFFERENCE_CLASSES) metrics.add(m[c], t[c].count);
  metrics.add(m.checked, t.checked);
  metrics.add(m.held, t.held);
  metrics.add(m.notJudged, t.recent);
  metrics.add(m.missingShare, SHARE(t.missing.count, t.checked), 'Percent');
  metrics.add(m.unexpectedShare, SHARE(t.unexpected.count, t.held), 'Percent');
  metrics.add(m.failed, failed);
}

/** `0`, `90s`, `30m`, `6h`, `2d` → ms (`--grace`). */
export function parseDuration(value: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/i.exec(value.trim());
  if (!m || (m[2] === undefined && Number(m[1]) !== 0))
    throw new InputError('invalid_field', `--${field} must be a duration like 0, 30m, 6h or 2d; got '${value}'`, field);
  const unit = { s: SECOND_MS, m: MINUTE_MS, h: HOUR_MS, d: DAY_MS }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/**
 * `--from` / `--to`: a date (`2026-05-01`: the whole UTC day — `--to` includes its day) or an ISO
 * time (exact). The window is [from, to).
 */
export function parseWindow(fromText: string | undefined, toText: string | undefined, now: number): { from: number; to: number } {
  const read = (text: string | undefined, field: 'from' | 'to'): number => {
    if (text === undefined || text.trim() === '')
      throw new InputError('missing_field', `--${field} is required: a date (2026-05-01, a whole UTC day) or an ISO time`, field);
    const t = text.trim();
    const day = /^\d{4}-\d{2}-\d{2}$/.test(t);
    const ms = day
      ? Date.parse(`${t}T00:00:00Z`)
      : /^\d{4}-\d{2}-\d{2}T/.test(t)
        ? Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(t) ? t : `${t}Z`)
        : Number.NaN;
    if (Number.isNaN(ms)) throw new InputError('invalid_field', `--${field} must be a date (2026-05-01) or an ISO time; got '${t}'`, field);
    return day && field === 'to' ? ms + DAY_MS : ms;
  };
  const from = read(fromText, 'from');
  const to = read(toText, 'to');
  if (to <= from) throw new InputError('invalid_field', '--to must be after --from', 'to');
  if (from > now) throw new InputError('invalid_field', '--from is in the future', 'from');
  return { from, to };
}
