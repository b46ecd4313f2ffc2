/**
 * The update outbox's run (part of the retry function): sends due order updates to Partnerize in
 * bulk and follows the jobs to their end. Same mechanics as the conversions' sweep — every record
 * is taken under a lease before anything is sent, the conversions' retry schedule and answer
 * classes, bounded work, an early stop when Partnerize signals trouble — with these differences:
 *
 * - Many updates go in one request: a run claims up to `batchSize` due records, decides each
 *   (core/order-update-plan.ts), and sends one body per campaign and kind (by reference or by item).
 * - A 202 is a job, not a result: the job is recorded (its members: which update sent which ids),
 *   polled with backoff until it finishes, and each update's result is written from its tasks.
 * - A 4xx for a body of several updates is split in halves and sent again, so one bad update is
 *   refused alone; a job reporting failures it does not attribute is split the same way.
 * - 401/403 means the API keys are wrong: nothing is refused, every update waits (and pages).
 *
 * Crash safety: an update claimed and sent whose job was not recorded (the process died between the
 * 202 and the write) is sent again when its lease runs out. Setting a status twice does no harm, so
 * this is safe (docs/reliability.md); nothing is ever lost.
 */
import { RECORDING_BOUND_MS } from './answer-budget.js';
import { METRICS } from './metrics.js';
import {
  APPROVALS_SHARD,
  JOBS_SHARD,
  jobKey,
  UPDATES_SHARD,
  type ApiOutcome,
  type ConversionRecord,
  type EntryPatch,
  type JobMember,
  type OrderUpdatesRecord,
  type PartnerizeItem,
  type SweepDeps,
  type TrackerConfig,
  type UpdateAttempt,
  type UpdateEntry,
  type UpdateJobRecord,
  type UpdateState,
} from './model.js';
import {
  byArrival,
  FINAL_STATES,
  planUpdates,
  SUBMITTED_TIMEOUT_MS,
  type Plan,
  type PlanContext,
  type Sendable,
} from './order-update-plan.js';
import { recordUpdate } from './order-update-record.js';
import {
  bulkEntries,
  failuresNamed,
  jobFinished,
  jobHasErrors,
  joinBody,
  MAX_BULK_IDS,
  type BulkJob,
  type JobTask,
} from './partnerize-bulk.js';
import { nextDueAt } from './retry-policy.js';
import { DAY_MS, expiresAfterDays, HOUR_MS, iso, MINUTE_MS, SECOND_MS } from './time.js';

export interface UpdateSweepOptions {
  /** Due updates records taken per run. */
  batchSize: number;
  /** Store calls in flight at once. */
  concurrency: number;
  /** Stop claiming after this long (ms). */
  budgetMs: number;
  /** Jobs polled per run. */
  jobLimit?: number;
  /** Conversion report lookups (for item ids) per run. */
  lookupLimit?: number;
  /** Bulk requests per run, splits included. */
  requestLimit?: number;
}

export interface UpdateSweepReport {
  due: number;
  claimed: number;
  approvalsQueued: number;
  jobsPolled: number;
  jobsFinished: number;
  requests: number;
  lookups: number;
  /** Updates by the state this run left them in. */
  byState: Partial<Record<UpdateState, number>>;
  stoppedBy?: 'dry_run' | 'no_keys' | 'rate_limited' | 'auth' | 'failures' | 'budget';
  durationMs: number;
}

/** A job not finished after this long is taken for stuck: its updates are sent again. */
export const JOB_MAX_AGE_MS = 6 * HOUR_MS;
/** Polls back off (doubling from `updatePollSeconds`) up to this. */
const MAX_POLL_INTERVAL_MS = 15 * MINUTE_MS;
/** A job record must stay far below DynamoDB's 400 KB item limit: its members' size is bounded. */
const JOB_MEMBERS_MAX_BYTES = 300_000;
/** Report pages read to find one conversion's items. */
const MAX_REPORT_PAGES = 20;

/**
 * How long an updates record (or a job) is held. A run stops starting calls to Partnerize once too
 * little of the lease is left for the call and its recording ({@link callWindowMs}), so a holder
 * always records before anyone else may take the record over; the conversions' lease (`LEASE_S`)
 * is the floor, and twice a call plus its recording gives a run room to send.
 */
export const updateLeaseMs = (c: Pick<TrackerConfig, 'leaseMs' | 'retryTimeoutMs'>): number =>
  Math.max(c.leaseMs, 2 * (c.retryTimeoutMs + RECORDING_BOUND_MS));

/** From the first claim of a run, how long it may start calls to Partnerize. */
const callWindowMs = (c: Pick<TrackerConfig, 'leaseMs' | 'retryTimeoutMs'>): number =>
  updateLeaseMs(c) - c.retryTimeoutMs - RECORDING_BOUND_MS;

/** How soon a held update looks again: the schedule's first delay (60 s in production). */
const recheckMs = (c: Pick<TrackerConfig, 'retryDelaysS'>): number => Math.round((c.retryDelaysS[0] ?? 60) * SECOND_MS);

const isAuthFailure = (r: { status?: number | undefined }): boolean => r.status === 401 || r.status === 403;

/** Runs `fn` over `items`, `concurrency` at a time, while `go()` allows. */
async function inPool<T>(items: readonly T[], concurrency: number, go: () => boolean, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && go()) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

export async function sweepUpdates(deps: SweepDeps, opts: UpdateSweepOptions): Promise<UpdateSweepReport> {
  const { clock, config, log } = deps;
  const started = clock.now();
  const report = emptyReport();
  const done = () => ({ ...report, durationMs: clock.now() - started });
  // A dry run sends nothing: updates (and approvals) wait for the next live period.
  if (config.partnerizeMode === 'dryrun') {
    await holdForDryRun(deps, opts, report, started);
    return done();
  }
  if (config.autoApproveAfterDays > 0) report.approvalsQueued = await queueApprovals(deps, opts, started);
  const due = await deps.updates.listDue(UPDATES_SHARD, started, opts.batchSize);
  report.due = due.length;
  deps.metrics.add(METRICS.updatesDue, due.length);
  deps.metrics.add(METRICS.oldestUpdateAge, due[0] ? Math.max(0, (started - due[0].dueAt) / SECOND_MS) : 0, 'Seconds');
  if (!(await apiKeysSet(deps))) {
    waitForKeys(deps, report);
    return done();
  }
  await pollJobs(deps, opts, report, started);
  if (report.stoppedBy === undefined && due.length > 0)
    await sendDue(
      deps,
      opts,
      report,
      due.map((d) => d.conversionRef),
      started,
    );
  if (report.requests > 0 || report.jobsPolled > 0 || report.claimed > 0) log.info('order updates run', { ...done() });
  return done();
}

const emptyReport = (): UpdateSweepReport => ({
  due: 0,
  claimed: 0,
  approvalsQueued: 0,
  jobsPolled: 0,
  jobsFinished: 0,
  requests: 0,
  lookups: 0,
  byState: {},
  durationMs: 0,
});

/** In dry-run mode the due updates are only counted (and a warning logged): they wait for a live period. */
async function holdForDryRun(deps: SweepDeps, opts: UpdateSweepOptions, report: UpdateSweepReport, started: number): Promise<void> {
  const due = await deps.updates.listDue(UPDATES_SHARD, started, opts.batchSize);
  report.due = due.length;
  if (due.length > 0) deps.log.warn('dry-run mode: order updates are held, not sent', { due: due.length });
  report.stoppedBy = 'dry_run';
}

/** Whether the brand has set the API keys; keys that cannot be read count as not set (the run waits). */
async function apiKeysSet(deps: SweepDeps): Promise<boolean> {
  try {
    return await deps.api.hasCredentials();
  } catch (err) {
    deps.log.warn('could not read the Partnerize API keys: order updates wait for the next run', { error: (err as Error).name });
    return false;
  }
}

/** Without API keys nothing is sent: the due updates are counted as waiting for them. */
function waitForKeys(deps: SweepDeps, report: UpdateSweepReport): void {
  deps.metrics.add(METRICS.updatesAwaitingKeys, report.due);
  if (report.due > 0) deps.log.warn('order updates wait: the Partnerize API keys are not set', { due: report.due });
  report.stoppedBy = 'no_keys';
}

/** Sent conversions whose approval fell due get an `auto_approve` update (once: its id is fixed). */
async function queueApprovals(deps: SweepDeps, opts: UpdateSweepOptions, started: number): Promise<number> {
  const due = await deps.conversions.listDue(started, opts.batchSize, APPROVALS_SHARD);
  let queued = 0;
  await inPool(
    due,
    opts.concurrency,
    () => deps.clock.now() - started < opts.budgetMs,
    async (d) => {
      try {
        // A replay holds it: its approval waits for the replay's result.
        if ((await deps.conversions.get(d.conversionRef))?.leaseId !== undefined) return;
        const r = await recordUpdate(
          { conversionRef: d.conversionRef },
          { kind: 'auto_approve', source: 'schedule', id: 'auto_approve' },
          deps,
        );
        if (r.outcome !== 'update_duplicate') queued++;
        await deps.updates.clearApproval(d.conversionRef);
      } catch (err) {
        deps.log.error('could not queue an automatic approval; it stays due', { conversionRef: d.conversionRef, error: String(err) });
      }
    },
  );
  return queued;
}

const pollDelayMs = (config: TrackerConfig, polls: number): number =>
  Math.min(MAX_POLL_INTERVAL_MS, config.updatePollSeconds * SECOND_MS * 2 ** Math.max(0, polls - 1));

const attemptOf = (
  now: number,
  r: Partial<ApiOutcome<unknown>> & { latencyMs?: number },
  extra: Partial<UpdateAttempt> = {},
): UpdateAttempt => {
  const failed = r.ok === false ? r : undefined;
  return {
    at: iso(now),
    result: r.ok ? 'sent' : (failed?.result ?? 'retryable'),
    status: r.status,
    error: failed?.error,
    message: failed?.message,
    latencyMs: r.latencyMs ?? 0,
    ...extra,
  };
};

/** The next try of an update on the conversions' schedule, or `failed` when it ran out. */
function retryPatch(
  retries: number,
  now: number,
  deps: Pick<SweepDeps, 'config' | 'random'>,
  note: string,
  attempt: UpdateAttempt,
  retryAfterS?: number,
): EntryPatch {
  const next = retries + 1;
  const at = nextDueAt(now, next, deps.config.retryDelaysS, deps.random, retryAfterS);
  return at === undefined
    ? { state: 'failed', note: `${note}; every scheduled retry failed`, retries: next, attempt }
    : { state: 'owed', note, retries: next, notBefore: at, attempt };
}

/** Polls the due jobs; a finished job's result is written on each of its updates. */
async function pollJobs(deps: SweepDeps, opts: UpdateSweepOptions, report: UpdateSweepReport, started: number): Promise<void> {
  const { clock, config, updates } = deps;
  const jobs = await updates.listDue(JOBS_SHARD, started, opts.jobLimit ?? 100);
  for (const ref of jobs) {
    if (report.stoppedBy !== undefined) break;
    if (clock.now() - started > opts.budgetMs) {
      report.stoppedBy = 'budget';
      break;
    }
    const leaseId = deps.newId();
    const now = clock.now();
    const job = await updates.claimJob(ref.conversionRef, now, now + updateLeaseMs(config), leaseId);
    if (!job) continue;
    report.jobsPolled++;
    await pollJob(deps, { job, leaseId, polls: job.polls + 1 }, report);
  }
}

/** A job held under a lease for this poll, which is its `polls`-th. */
interface PolledJob {
  job: UpdateJobRecord;
  leaseId: string;
  polls: number;
}

/** Asks Partnerize how a job is doing: a finished job's results are written, an unfinished one is polled again later. */
async function pollJob(deps: SweepDeps, polled: PolledJob, report: UpdateSweepReport): Promise<void> {
  const { job } = polled;
  const r = await deps.api.job(job.jobId, deps.config.retryTimeoutMs);
  deps.metrics.add(METRICS.partnerizeApiAnswer[r.ok ? 'sent' : r.result], 1);
  const at = deps.clock.now();
  if (!r.ok) return jobUnreadable(deps, polled, r, at, report);
  const pj = r.value;
  if (jobFinished(pj)) return recordJobResults(deps, polled, pj, at, report);
  if (at - Date.parse(job.submittedAt) > JOB_MAX_AGE_MS) {
    const note = `job ${job.jobId} was still ${pj.status} after ${JOB_MAX_AGE_MS / HOUR_MS} h: sent again`;
    return sendJobAgain(deps, polled, report, at, r, note, `stalled (${pj.status})`);
  }
  await pollLater(deps, polled, at, pj.status);
}

/** The job stays due: polled again after the backoff (or Partnerize's Retry-After, if longer). */
async function pollLater(
  deps: SweepDeps,
  { job, leaseId, polls }: PolledJob,
  at: number,
  status: string,
  retryAfterS?: number,
): Promise<void> {
  const dueAt = at + Math.max(pollDelayMs(deps.config, polls), (retryAfterS ?? 0) * SECOND_MS);
  await deps.updates.finishJob(job.conversionRef, leaseId, { status, polls, dueAt }, at);
}

/** Partnerize did not show the job: wrong keys stop the run, a passing failure polls later, anything else sends it again. */
async function jobUnreadable(deps: SweepDeps, polled: PolledJob, r: BulkFailure, at: number, report: UpdateSweepReport): Promise<void> {
  const { job } = polled;
  if (isAuthFailure(r)) {
    deps.metrics.add(METRICS.partnerizeApiAuthFailed, 1);
    report.stoppedBy = 'auth';
    return pollLater(deps, polled, at, job.status);
  }
  if (r.result === 'retryable') {
    await pollLater(deps, polled, at, job.status, r.retryAfterS);
    if (r.status === 429) report.stoppedBy = 'rate_limited';
    return;
  }
  // Partnerize does not know the job (404) or refuses to show it: its updates are sent again.
  const note = `Partnerize could not show job ${job.jobId} (HTTP ${r.status}): sent again`;
  await sendJobAgain(deps, polled, report, at, r, note, `unknown (${r.status})`);
}

/** A job whose result will never be known: each of its updates goes back on the retry schedule, and the job ends. */
async function sendJobAgain(
  deps: SweepDeps,
  { job, leaseId, polls }: PolledJob,
  report: UpdateSweepReport,
  at: number,
  r: BulkAnswer,
  note: string,
  status: string,
): Promise<void> {
  await settleAll(deps, job, report, (m) => retryPatch(m.retries, at, deps, note, attemptOf(at, r, { jobId: job.jobId })), at);
  await deps.updates.finishJob(job.conversionRef, leaseId, { status, polls }, at);
  report.jobsFinished++;
}

/** A finished job: its tasks are read when it reports errors, then each update's result is written and the job ends. */
async function recordJobResults(deps: SweepDeps, polled: PolledJob, pj: BulkJob, at: number, report: UpdateSweepReport): Promise<void> {
  const { clock, config } = deps;
  const { job, leaseId, polls } = polled;
  let tasks: JobTask[] = [];
  if (jobHasErrors(pj, [])) {
    const t = await deps.api.tasks(pj.id, config.retryTimeoutMs);
    if (!t.ok) {
      await pollLater(deps, polled, at, pj.status, t.retryAfterS);
      if (t.status === 429) report.stoppedBy = 'rate_limited';
      return;
    }
    tasks = t.value;
  }
  const patches = jobResults(job, pj, tasks, clock.now(), deps);
  await settleAll(deps, job, report, (_m, i) => patches[i]!, clock.now());
  await deps.updates.finishJob(job.conversionRef, leaseId, { status: pj.status, polls }, clock.now());
  report.jobsFinished++;
}

/**
 * Each member's result in a finished job: applied; failed with the message its task gave; sent
 * again on the schedule when the whole job failed (or when an order the tracker never accepted was
 * not found: its conversion may reach Partnerize later); or, when the job reports failures without
 * naming them, split in two groups sent separately until each failure is found.
 */
export function jobResults(
  job: Pick<UpdateJobRecord, 'jobId' | 'members'>,
  pj: BulkJob,
  tasks: readonly JobTask[],
  now: number,
  deps: Pick<SweepDeps, 'config' | 'random'>,
): EntryPatch[] {
  const attempt = (message?: string, result: UpdateAttempt['result'] = 'sent'): UpdateAttempt => ({
    at: iso(now),
    result,
    jobId: job.jobId,
    message: message?.slice(0, 256),
    latencyMs: 0,
  });
  if (pj.status === 'failed')
    return job.members.map((m) =>
      retryPatch(m.retries, now, deps, `job ${job.jobId} failed at Partnerize`, attempt('job failed', 'retryable')),
    );
  const failed = failuresNamed(
    tasks,
    job.members.flatMap((m) => m.keys),
  );
  const named = (m: JobMember) => m.keys.filter((k) => failed.has(k));
  const unnamed = job.members.filter((m) => named(m).length === 0);
  const errors = pj.itemErrorCount;
  const namedCount = job.members.reduce((n, m) => n + named(m).length, 0);
  const unattributed = jobHasErrors(pj, tasks) && (errors === undefined ? namedCount === 0 : errors > namedCount);
  return job.members.map((m) => {
    const keys = named(m);
    if (keys.length > 0) {
      const message = keys.map((k) => `${k}: ${failed.get(k)}`).join('; ');
      if (m.unknownOrder)
        return retryPatch(
          m.retries,
          now,
          deps,
          `Partnerize: ${message} (the order's conversion may not have reached Partnerize yet)`,
          attempt(message, 'rejected'),
        );
      return { state: 'failed', note: `Partnerize: ${message}`.slice(0, 512), attempt: attempt(message, 'rejected') };
    }
    if (unattributed && unnamed.length > 1) {
      const half = unnamed.indexOf(m) < unnamed.length / 2 ? 'a' : 'b';
      return {
        state: 'owed',
        note: `job ${job.jobId} reported failures without naming them: sent again in a smaller group to find them`,
        group: `${job.jobId}/${half}`,
        attempt: attempt('unattributed failures in the job', 'retryable'),
      };
    }
    if (unattributed)
      return { state: 'failed', note: `Partnerize reported this update failed (job ${job.jobId})`, attempt: attempt('failed', 'rejected') };
    return { state: 'applied', attempt: attempt() };
  });
}

async function settleAll(
  deps: SweepDeps,
  job: UpdateJobRecord,
  report: UpdateSweepReport,
  patchOf: (m: JobMember, index: number) => EntryPatch,
  now: number,
): Promise<void> {
  await inPool(
    job.members.map((m, i) => [m, i] as const),
    deps.config.sweepConcurrency,
    () => true,
    async ([m, i]) => {
      const patch = patchOf(m, i);
      if (!(await deps.updates.settle(m, job.jobId, patch, now))) return;
      report.byState[patch.state] = (report.byState[patch.state] ?? 0) + 1;
      if (patch.state === 'applied') deps.metrics.add(METRICS.updatesApplied, 1);
      if (patch.state === 'failed') deps.metrics.add(METRICS.updatesFailed, 1);
    },
  );
}

interface Held {
  key: string;
  leaseId: string;
  record: OrderUpdatesRecord;
  plan: Plan;
  /** Items read from the report this run. */
  items?: PartnerizeItem[] | undefined;
  /** The decisions to write at finish. */
  entries: Map<string, UpdateEntry>;
  dueAt?: number | undefined;
}

/** Claims the due updates records, decides each, sends the bodies, and writes every decision. */
async function sendDue(
  deps: SweepDeps,
  opts: UpdateSweepOptions,
  report: UpdateSweepReport,
  keys: string[],
  started: number,
): Promise<void> {
  const { clock, config } = deps;
  const within = () => clock.now() - started <= opts.budgetMs;
  const claimedAt = clock.now();
  const mayCall = () => clock.now() - claimedAt < callWindowMs(config);
  const held = await claimRecords(deps, opts, keys, within);
  if (!within() && held.length < keys.length) report.stoppedBy = 'budget';
  report.claimed = held.length;
  await decideEach(deps, opts, held, report, mayCall);
  await sendBodies(deps, opts, held, report, mayCall);
  await recordDecisions(deps, opts, held, report);
}

/** Takes each due updates record under a lease, while the run's budget allows; records held elsewhere are skipped. */
async function claimRecords(deps: SweepDeps, opts: UpdateSweepOptions, keys: string[], within: () => boolean): Promise<Held[]> {
  const held: Held[] = [];
  await inPool(keys, opts.concurrency, within, async (key) => {
    const leaseId = deps.newId();
    const now = deps.clock.now();
    const record = await deps.updates.claim(key, now, now + updateLeaseMs(deps.config), leaseId);
    if (record) held.push({ key, leaseId, record, plan: { changed: [] }, entries: new Map() });
  });
  return held;
}

const planContext = (config: TrackerConfig, now: number): PlanContext => ({
  now,
  recheckMs: recheckMs(config),
  unknownOrderGraceMs: config.unknownOrderGraceSeconds * SECOND_MS,
  campaignId: config.partnerizeCampaignId,
  autoApproveAfterDays: config.autoApproveAfterDays,
});

/** Plans each held record against its conversion, reading Partnerize's item ids where a partial refund needs them (a bounded number per run). */
async function decideEach(
  deps: SweepDeps,
  opts: UpdateSweepOptions,
  held: Held[],
  report: UpdateSweepReport,
  mayCall: () => boolean,
): Promise<void> {
  let lookupsLeft = opts.lookupLimit ?? 20;
  await inPool(
    held,
    opts.concurrency,
    () => true,
    async (h) => {
      const conversion = await deps.conversions.get(h.record.ref);
      h.plan = planUpdates(h.record, conversion, planContext(deps.config, deps.clock.now()));
      if (h.plan.needsItems) await withItems(deps, h, conversion, lookupsLeft-- > 0 && report.stoppedBy === undefined && mayCall(), report);
      for (const e of h.plan.changed) h.entries.set(e.id, e);
      h.dueAt = h.plan.dueAt;
    },
  );
}

/** One request per body; once Partnerize signalled trouble (or the call window closed) the remaining bodies wait. */
async function sendBodies(
  deps: SweepDeps,
  opts: UpdateSweepOptions,
  held: Held[],
  report: UpdateSweepReport,
  mayCall: () => boolean,
): Promise<void> {
  const sendables = held.flatMap((h) => (h.plan.send ? [{ h, s: h.plan.send }] : []));
  for (const body of bodiesOf(sendables)) {
    if ((report.stoppedBy !== undefined && report.stoppedBy !== 'budget') || !mayCall()) {
      notAttempted(deps, body);
      continue;
    }
    await sendBody(deps, body, report, opts.requestLimit ?? 64, mayCall);
  }
}

/** Writes each held record's decisions and lets it go; a record whose write fails is looked at again when its lease ends. */
async function recordDecisions(deps: SweepDeps, opts: UpdateSweepOptions, held: Held[], report: UpdateSweepReport): Promise<void> {
  await inPool(
    held,
    opts.concurrency,
    () => true,
    async (h) => {
      const entries = [...h.entries.values()];
      for (const e of entries) report.byState[e.state] = (report.byState[e.state] ?? 0) + 1;
      try {
        const now = deps.clock.now();
        const ok = await deps.updates.finish(h.key, h.leaseId, { entries, items: h.items, version: h.record.version, dueAt: h.dueAt }, now);
        if (!ok)
          deps.log.warn('lost the lease of an order updates record before recording; it is looked at again', {
            conversionRef: h.record.ref,
          });
      } catch (err) {
        deps.log.error('could not record order updates; they are looked at again when the lease ends', {
          conversionRef: h.record.ref,
          error: String(err),
        });
      }
    },
  );
}

/** Reads Partnerize's items of the conversion (when allowed this run), then plans again. */
async function withItems(
  deps: SweepDeps,
  h: Held,
  conversion: ConversionRecord | undefined,
  allowed: boolean,
  report: UpdateSweepReport,
): Promise<void> {
  const head = Object.values(h.record.entries)
    .sort(byArrival)
    .find((e) => !FINAL_STATES.has(e.state) && e.state !== 'submitted');
  const now = deps.clock.now();
  const wait = (note: string, entry?: UpdateEntry) => {
    if (entry) h.plan.changed.push(entry);
    else if (head) h.plan.changed.push({ ...head, state: 'held', note, updatedAt: iso(now) });
    h.plan = { changed: h.plan.changed, dueAt: entry?.notBefore ?? now + recheckMs(deps.config) };
  };
  if (!allowed) return wait("waiting for its turn to read Partnerize's item ids");
  report.lookups++;
  const found = await itemsAtPartnerize(deps, h.record, conversion);
  if (found.ok) {
    h.items = found.items;
    h.plan = planUpdates({ ...h.record, items: found.items }, conversion, planContext(deps.config, deps.clock.now()));
    return;
  }
  if (found.auth) {
    deps.metrics.add(METRICS.partnerizeApiAuthFailed, 1);
    report.stoppedBy = 'auth';
    return wait(found.message);
  }
  if (!head) return wait(found.message);
  // Not in the report (yet): the report may lag; the conversions' schedule decides how long to look.
  const p = retryPatch(
    head.retries,
    now,
    deps,
    found.message,
    attemptOf(now, { ok: false, latencyMs: 0 }, { message: found.message }),
    found.retryAfterS,
  );
  const entry: UpdateEntry = {
    ...head,
    state: p.state === 'failed' ? 'failed' : 'held',
    note: p.note,
    retries: p.retries ?? head.retries,
    notBefore: p.notBefore,
    updatedAt: iso(now),
  };
  if (entry.state === 'failed') deps.metrics.add(METRICS.updatesFailed, 1);
  wait(found.message, entry);
  if (entry.state === 'failed') h.plan.dueAt = now;
}

type ItemsFound = { ok: true; items: PartnerizeItem[] } | { ok: false; message: string; retryAfterS?: number | undefined; auth?: boolean };

/**
 * Partnerize's items of a conversion, from the brand conversion report: asked with the
 * `conversion_reference` filter its older docs list, and matched here too (if the filter is ignored,
 * the pages of the window are read until the conversion turns up). The window is the order's time
 * ± a day (the conversion's time at Partnerize is the `conversion_time` the tracker sent).
 */
async function itemsAtPartnerize(
  deps: SweepDeps,
  record: OrderUpdatesRecord,
  conversion: ConversionRecord | undefined,
): Promise<ItemsFound> {
  const now = deps.clock.now();
  const at = conversion?.orderTime;
  const window = at === undefined ? { from: now - 60 * DAY_MS, to: now } : { from: at - DAY_MS, to: Math.min(now, at + DAY_MS) };
  const campaignId = conversion?.campaignId ?? record.campaignId;
  let next: string | undefined;
  for (let page = 0; page < MAX_REPORT_PAGES; page++) {
    const r = await deps.api.conversions(campaignId, { ...window, conversionReference: record.ref, next }, deps.config.retryTimeoutMs);
    deps.metrics.add(METRICS.partnerizeApiAnswer[r.ok ? 'sent' : r.result], 1);
    if (!r.ok) {
      if (isAuthFailure(r)) return { ok: false, auth: true, message: `Partnerize refused the API keys (HTTP ${r.status})` };
      return {
        ok: false,
        message: `the conversion report could not be read (${r.status ?? r.error}${r.message ? `: ${r.message}` : ''})`,
        retryAfterS: r.retryAfterS,
      };
    }
    const match = r.value.conversions.find((c) => c.conversionReference === record.ref);
    if (match) return { ok: true, items: match.items };
    next = r.value.next;
    if (!next) break;
  }
  return { ok: false, message: "Partnerize's conversion report does not list the conversion (yet)" };
}

/** One update's part of a body, with the record that holds it. */
type Part = { h: Held; s: Sendable };
type BulkAnswer = ApiOutcome<BulkJob>;
type BulkFailure = Extract<BulkAnswer, { ok: false }>;

interface Body {
  campaignId: string;
  form: Sendable['form'];
  parts: Part[];
}

/** One body per campaign, kind and group, each within Partnerize's 100,000 ids and the job record's size. */
export function bodiesOf<T extends { s: Sendable }>(
  sendables: readonly T[],
): Array<{ campaignId: string; form: Sendable['form']; parts: T[] }> {
  const groups = new Map<string, T[]>();
  for (const x of sendables) {
    const k = JSON.stringify([x.s.campaignId, x.s.form, x.s.entry.group ?? '']);
    groups.set(k, [...(groups.get(k) ?? []), x]);
  }
  const out: Array<{ campaignId: string; form: Sendable['form']; parts: T[] }> = [];
  for (const parts of groups.values()) {
    let current: T[] = [];
    let ids = 0;
    let bytes = 0;
    for (const p of parts) {
      const size = memberBytes(p.s);
      if (current.length > 0 && (ids + p.s.updates.length > MAX_BULK_IDS || bytes + size > JOB_MEMBERS_MAX_BYTES)) {
        out.push({ campaignId: p.s.campaignId, form: p.s.form, parts: current });
        current = [];
        ids = 0;
        bytes = 0;
      }
      current.push(p);
      ids += p.s.updates.length;
      bytes += size;
    }
    if (current.length > 0) out.push({ campaignId: current[0]!.s.campaignId, form: current[0]!.s.form, parts: current });
  }
  return out;
}

/** Bytes a sendable adds to its job record (its key, the update's id, the body keys). */
const memberBytes = (s: Sendable): number => 120 + s.entry.id.length + s.updates.reduce((n, [k]) => n + k.length * 2 + 8, 0);

/** A body left unsent this run (Partnerize signalled trouble): its updates stay as they were, due again soon. */
function notAttempted(deps: SweepDeps, body: Body): void {
  const soon = deps.clock.now() + recheckMs(deps.config);
  for (const { h } of body.parts) h.dueAt = soon;
}

/** One bulk request for a body, and what Partnerize's answer means for each update in it. */
async function sendBody(
  deps: SweepDeps,
  body: Body,
  report: UpdateSweepReport,
  requestLimit: number,
  mayCall: () => boolean,
): Promise<void> {
  if (report.requests >= requestLimit || !mayCall()) return notAttempted(deps, body);
  const parts = body.parts.map((p) => bulkEntries(p.s.form, p.s.updates));
  const payload = joinBody(body.form, parts);
  report.requests++;
  deps.metrics.add(METRICS.bulkUpdateRequests, 1);
  const r = await deps.api.bulkUpdate(body.campaignId, payload, deps.config.retryTimeoutMs);
  deps.metrics.add(METRICS.partnerizeApiAnswer[r.ok ? 'sent' : r.result], 1);
  const now = deps.clock.now();
  if (r.ok) return followJob(deps, body, parts, r, now);
  if (isAuthFailure(r)) return waitForNewKeys(deps, body, r, now, report);
  if (r.result === 'retryable') return retryOnSchedule(deps, body, r, now, report);
  // Refused (4xx): one update alone is refused; several are split until the refused ones are alone.
  if (body.parts.length > 1) return sendInHalves(deps, body, report, requestLimit, mayCall);
  refuse(deps, body, r, now);
}

/** Records the decision on an update of a held record, and when the record is due again. */
function decide(p: Part, entry: UpdateEntry, dueAt: number | undefined): void {
  p.h.entries.set(entry.id, entry);
  p.h.dueAt = dueAt;
}

/** The update as sent, with this attempt added to its history. */
const withAttempt = (s: Sendable, a: UpdateAttempt, now: number): UpdateEntry => ({
  ...s.entry,
  attempts: [...(s.entry.attempts ?? []), a],
  updatedAt: iso(now),
});

/** Accepted (202): the job is recorded so that it is polled, and each update waits for it as `submitted`. */
async function followJob(
  deps: SweepDeps,
  body: Body,
  parts: ReturnType<typeof bulkEntries>[],
  r: Extract<BulkAnswer, { ok: true }>,
  now: number,
): Promise<void> {
  const job = jobRecordOf(deps.config, body, r.value, now);
  try {
    await deps.updates.createJob(job);
  } catch (err) {
    deps.log.error('Partnerize accepted a bulk update but its job could not be recorded; its updates are sent again', {
      jobId: job.jobId,
      error: String(err),
    });
    for (const p of body.parts) {
      const e = withAttempt(p.s, attemptOf(now, r, { jobId: job.jobId }), now);
      decide(p, { ...e, state: 'owed', note: `job ${job.jobId} could not be recorded: sent again` }, now + recheckMs(deps.config));
    }
    return;
  }
  body.parts.forEach((p, i) => {
    const e = withAttempt(p.s, attemptOf(now, r, { jobId: job.jobId }), now);
    const { notBefore: _n, group: _g, note: _note, ...rest } = e;
    decide(p, { ...rest, state: 'submitted', jobId: job.jobId, sent: sentOf(p.s, parts[i]!) }, now + SUBMITTED_TIMEOUT_MS);
  });
}

/** What was sent for an update, kept on it: its result is read from the job against this. */
const sentOf = (s: Sendable, updates: ReturnType<typeof bulkEntries>) => ({
  form: s.form,
  campaignId: s.campaignId,
  effect: s.effect,
  updates,
  ...(s.unknownOrder ? { unknownOrder: true } : {}),
});

/** The job record of an accepted body: which update sent which ids, polled first after `updatePollSeconds`. */
function jobRecordOf(config: TrackerConfig, body: Body, accepted: BulkJob, now: number): UpdateJobRecord {
  return {
    conversionRef: jobKey(accepted.id),
    recordType: 'update_job',
    jobId: accepted.id,
    campaignId: body.campaignId,
    form: body.form,
    submittedAt: iso(now),
    members: body.parts.map(({ h, s }) => ({
      record: h.key,
      entry: s.entry.id,
      keys: s.updates.map(([k]) => k),
      retries: s.entry.retries,
      ...(s.unknownOrder ? { unknownOrder: true } : {}),
      version: h.record.version,
      followUp: Object.values(h.record.entries).some((e) => e.id !== s.entry.id && !FINAL_STATES.has(e.state)),
    })),
    polls: 0,
    status: accepted.status,
    dueShard: JOBS_SHARD,
    dueAt: now + config.updatePollSeconds * SECOND_MS,
    expiresAt: expiresAfterDays(now, config.conversionRetentionDays),
  };
}

/** 401/403: the API keys are wrong, not the updates. Nothing is refused; every update is held and the run stops. */
function waitForNewKeys(deps: SweepDeps, body: Body, r: BulkFailure, now: number, report: UpdateSweepReport): void {
  deps.metrics.add(METRICS.partnerizeApiAuthFailed, 1);
  report.stoppedBy = 'auth';
  for (const p of body.parts)
    decide(
      p,
      {
        ...withAttempt(p.s, attemptOf(now, r), now),
        state: 'held',
        note: `Partnerize refused the API keys (HTTP ${r.status}): every update waits until they are fixed`,
      },
      now + recheckMs(deps.config),
    );
}

/** A passing failure (5xx, timeout, 429): each update goes back on the retry schedule, and the run stops sending. */
function retryOnSchedule(deps: SweepDeps, body: Body, r: BulkFailure, now: number, report: UpdateSweepReport): void {
  report.stoppedBy = r.status === 429 ? 'rate_limited' : 'failures';
  for (const p of body.parts) {
    const patch = retryPatch(p.s.entry.retries, now, deps, `Partnerize answered ${r.status ?? r.error}`, attemptOf(now, r), r.retryAfterS);
    if (patch.state === 'failed') deps.metrics.add(METRICS.updatesFailed, 1);
    decide(
      p,
      {
        ...withAttempt(p.s, patch.attempt, now),
        state: patch.state,
        note: patch.note,
        retries: patch.retries ?? p.s.entry.retries,
        notBefore: patch.notBefore,
      },
      patch.notBefore ?? now,
    );
  }
}

/** A refused body of several updates is sent again as two halves; the second waits if the first stopped the run. */
async function sendInHalves(
  deps: SweepDeps,
  body: Body,
  report: UpdateSweepReport,
  requestLimit: number,
  mayCall: () => boolean,
): Promise<void> {
  const half = Math.ceil(body.parts.length / 2);
  await sendBody(deps, { ...body, parts: body.parts.slice(0, half) }, report, requestLimit, mayCall);
  if (report.stoppedBy !== undefined && report.stoppedBy !== 'budget')
    return notAttempted(deps, { ...body, parts: body.parts.slice(half) });
  await sendBody(deps, { ...body, parts: body.parts.slice(half) }, report, requestLimit, mayCall);
}

/** A body of one update that Partnerize refused (4xx): the update is rejected, with Partnerize's message. */
function refuse(deps: SweepDeps, body: Body, r: BulkFailure, now: number): void {
  for (const p of body.parts) {
    deps.metrics.add(METRICS.updatesRejected, 1);
    decide(
      p,
      {
        ...withAttempt(p.s, attemptOf(now, r), now),
        state: 'rejected',
        note: `Partnerize refused it (HTTP ${r.status}): ${r.message ?? ''}`.trim(),
      },
      now,
    );
  }
}
