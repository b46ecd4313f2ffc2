/**
 * The update outbox's run (core/order-update-sweep.ts sweepUpdates) against the in-memory stores and
 * a scripted Partnerize API: due updates go out in bulk, jobs are polled to their end, and each of
 * Partnerize's answers (refused keys, passing failures, a refused body, an unknown or stuck job)
 * lands on the updates as the module says. The same lifecycle on dynalite and the strict fake of
 * the API is test/integration/order-updates.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { METRICS } from '#lambdas/core/metrics.js';
import {
  APPROVALS_SHARD,
  JOBS_SHARD,
  jobKey,
  updatesKey,
  type ApiOutcome,
  type PartnerizeApi,
  type PartnerizeItem,
  type ReportPage,
  type ReportQuery,
  type SweepDeps,
  type UpdateEntry,
  type UpdateJobRecord,
} from '#lambdas/core/model.js';
import { SUBMITTED_TIMEOUT_MS } from '#lambdas/core/order-update-plan.js';
import { recordUpdate, type NewUpdate } from '#lambdas/core/order-update-record.js';
import { JOB_MAX_AGE_MS, sweepUpdates, updateLeaseMs, type UpdateSweepOptions } from '#lambdas/core/order-update-sweep.js';
import type { BulkBody, BulkJob, JobTask } from '#lambdas/core/partnerize-bulk.js';
import { requestFor } from '#lambdas/core/partnerize-request.js';
import { HOUR_MS } from '#lambdas/core/time.js';
import { BASE_URL, CAMPAIGN, conversionRecord, unitDeps, type UnitDeps } from '../../support/unit-deps.js';

const OPTS: UpdateSweepOptions = { batchSize: 100, concurrency: 4, budgetMs: 45_000 };

const accepted = <T>(value: T, status = 200): ApiOutcome<T> => ({ ok: true, value, status, latencyMs: 3 });
const refused = (status: number, over: Partial<Extract<ApiOutcome<never>, { ok: false }>> = {}): ApiOutcome<never> => ({
  ok: false,
  result: status >= 500 || status === 429 ? 'retryable' : 'rejected',
  status,
  latencyMs: 3,
  ...over,
});

type Answer<A extends unknown[], T> = ApiOutcome<T> | ((...args: A) => ApiOutcome<T>);

/**
 * Partnerize's API answering from a script per endpoint, each call kept. A bulk update nobody
 * scripted is accepted as job `job-<n>`; any other unscripted call fails the test.
 */
class ScriptedApi implements PartnerizeApi {
  keys: boolean | Error = true;
  readonly bulk: Array<{ campaignId: string; body: BulkBody }> = [];
  readonly jobCalls: string[] = [];
  readonly taskCalls: string[] = [];
  readonly reportCalls: Array<{ campaignId: string; q: ReportQuery }> = [];
  readonly bulkAnswers: Array<Answer<[BulkBody], BulkJob>> = [];
  readonly jobAnswers: Array<Answer<[string], BulkJob>> = [];
  readonly taskAnswers: Array<ApiOutcome<JobTask[]>> = [];
  readonly reportAnswers: Array<ApiOutcome<ReportPage>> = [];

  async hasCredentials(): Promise<boolean> {
    if (this.keys instanceof Error) throw this.keys;
    return this.keys;
  }
  async bulkUpdate(campaignId: string, body: BulkBody): Promise<ApiOutcome<BulkJob>> {
    this.bulk.push({ campaignId, body });
    const a = this.bulkAnswers.shift() ?? accepted({ id: `job-${this.bulk.length}`, status: 'created' }, 202);
    return typeof a === 'function' ? a(body) : a;
  }
  async job(jobId: string): Promise<ApiOutcome<BulkJob>> {
    this.jobCalls.push(jobId);
    const a = this.jobAnswers.shift();
    if (!a) throw new Error(`scripted API: unexpected poll of job ${jobId}`);
    return typeof a === 'function' ? a(jobId) : a;
  }
  async tasks(jobId: string): Promise<ApiOutcome<JobTask[]>> {
    this.taskCalls.push(jobId);
    const a = this.taskAnswers.shift();
    if (!a) throw new Error(`scripted API: unexpected read of job ${jobId}'s tasks`);
    return a;
  }
  async conversions(campaignId: string, q: ReportQuery): Promise<ApiOutcome<ReportPage>> {
    this.reportCalls.push({ campaignId, q });
    const a = this.reportAnswers.shift();
    if (!a) throw new Error('scripted API: unexpected report read');
    return a;
  }
  /** The ids of each bulk request, in order. */
  bodies = (): string[][] =>
    this.bulk.map(({ body }) => Object.keys('conversion_references' in body ? body.conversion_references : body.conversion_items));
}

interface World {
  deps: UnitDeps;
  api: ScriptedApi;
  sweepDeps: SweepDeps;
  run: (opts?: Partial<UpdateSweepOptions>) => ReturnType<typeof sweepUpdates>;
}

function world(env: Record<string, string> = {}): World {
  const deps = unitDeps({ env });
  const api = new ScriptedApi();
  const sweepDeps: SweepDeps = { ...deps, api };
  return { deps, api, sweepDeps, run: (opts = {}) => sweepUpdates(sweepDeps, { ...OPTS, ...opts }) };
}

/** A conversion the tracker sent to Partnerize, in `campaignId`. */
function sent(w: World, ref: string, campaignId = CAMPAIGN): void {
  w.deps.conversions.items.set(
    ref,
    conversionRecord({ conversionRef: ref, status: 'sent', campaignId, dueAt: undefined, dueShard: undefined }, w.deps.clock.now()),
  );
}

/** Records an update as the postbacks route does (durable, due now). */
const queue = (w: World, ref: string, update: Partial<NewUpdate> = {}) =>
  recordUpdate({ conversionRef: ref }, { kind: 'cancel', source: 'native', id: 'cancel', ...update }, w.deps);

const entriesOf = (w: World, ref: string): UpdateEntry[] =>
  Object.values(w.deps.updates.items.get(updatesKey(ref))?.entries ?? {}).sort((a, b) => a.seq - b.seq);
const entryOf = (w: World, ref: string): UpdateEntry => entriesOf(w, ref)[0]!;
const dueAtOf = (w: World, ref: string) => w.deps.updates.items.get(updatesKey(ref))?.dueAt;
const jobOf = (w: World, jobId: string): UpdateJobRecord => w.deps.updates.jobs.get(jobKey(jobId))!;
const dueJobs = async (w: World, at = w.deps.clock.now()) =>
  (await w.deps.updates.listDue(JOBS_SHARD, at, 100)).map((d) => d.conversionRef);

describe('sweepUpdates: sending', () => {
  it('sends the due updates in one bulk request per campaign, records each job and leaves the updates submitted', async () => {
    const w = world();
    sent(w, 'ORD-1');
    sent(w, 'ORD-2');
    sent(w, 'ORD-3', 'camp-2');
    await queue(w, 'ORD-1', { reason: 'Customer cancelled' });
    await queue(w, 'ORD-2', { kind: 'approve', id: 'approve' });
    await queue(w, 'ORD-3', { kind: 'return', id: 'return' });
    const now = w.deps.clock.now();

    const report = await w.run();

    expect(report).toEqual({
      due: 3,
      claimed: 3,
      approvalsQueued: 0,
      jobsPolled: 0,
      jobsFinished: 0,
      requests: 2,
      lookups: 0,
      byState: { submitted: 3 },
      durationMs: 0,
    });
    expect(w.api.bulk).toEqual([
      {
        campaignId: CAMPAIGN,
        body: {
          conversion_references: {
            'ORD-1': { status: 'rejected', reason: 'Customer cancelled' },
            'ORD-2': { status: 'approved', reason: 'order approved' },
          },
        },
      },
      { campaignId: 'camp-2', body: { conversion_references: { 'ORD-3': { status: 'rejected', reason: 'order returned' } } } },
    ]);
    expect(entryOf(w, 'ORD-1')).toMatchObject({
      state: 'submitted',
      jobId: 'job-1',
      sent: { form: 'conversion_references', campaignId: CAMPAIGN, effect: 'reject' },
      attempts: [{ result: 'sent', status: 202, jobId: 'job-1' }],
    });
    expect(entryOf(w, 'ORD-3')).toMatchObject({ state: 'submitted', jobId: 'job-2', sent: { effect: 'reject' } });
    // A submitted update is looked at again only if its job is never polled to the end.
    expect(dueAtOf(w, 'ORD-1')).toBe(now + SUBMITTED_TIMEOUT_MS);
    expect(jobOf(w, 'job-1')).toMatchObject({
      campaignId: CAMPAIGN,
      form: 'conversion_references',
      polls: 0,
      dueShard: JOBS_SHARD,
      dueAt: now + w.deps.config.updatePollSeconds * 1000,
      members: [
        { record: updatesKey('ORD-1'), keys: ['ORD-1'], retries: 0, followUp: false },
        { record: updatesKey('ORD-2'), keys: ['ORD-2'], retries: 0, followUp: false },
      ],
    });
    expect(w.deps.metrics.get(METRICS.bulkUpdateRequests)).toBe(2);
    expect(w.deps.metrics.get(METRICS.updatesDue)).toBe(3);
    // Every record was let go.
    expect([...w.deps.updates.items.values()].every((r) => r.leaseId === undefined)).toBe(true);
  });

  it('a partial return reads the item id from the conversion report, then lowers that item', async () => {
    const w = world();
    const request = requestFor(
      {
        baseUrl: BASE_URL,
        method: 'GET',
        campaignId: CAMPAIGN,
        conversionRef: 'ORD-1',
        currency: 'GBP',
        items: [
          { sku: 'SKU-1', value: '20', quantity: 2 },
          { sku: 'SKU-2', value: '5', quantity: 1 },
        ],
      },
      'AbC123',
    ).request;
    w.deps.conversions.items.set(
      'ORD-1',
      conversionRecord({ conversionRef: 'ORD-1', status: 'sent', campaignId: CAMPAIGN, request, dueAt: undefined, dueShard: undefined }),
    );
    await queue(w, 'ORD-1', { kind: 'return', id: 'return-1', items: [{ sku: 'SKU-1', quantity: 1 }] });
    const items: PartnerizeItem[] = [
      { id: 'I-1', sku: 'SKU-1', value: 40, status: 'pending' },
      { id: 'I-2', sku: 'SKU-2', value: 5, status: 'pending' },
    ];
    w.api.reportAnswers.push(
      accepted({ conversions: [{ conversionId: 'C-1', conversionReference: 'ORD-1', status: 'pending', items }], offset: 0 }),
    );

    expect(await w.run()).toMatchObject({ lookups: 1, requests: 1, byState: { submitted: 1 } });
    expect(w.api.reportCalls).toEqual([
      { campaignId: CAMPAIGN, q: expect.objectContaining({ conversionReference: 'ORD-1', next: undefined }) },
    ]);
    expect(w.api.bulk[0]!.body).toEqual({ conversion_items: { 'I-1': { item_value: 20, reason: 'order returned' } } });
    expect(entryOf(w, 'ORD-1')).toMatchObject({ state: 'submitted', sent: { form: 'conversion_items', effect: 'items' } });
    // The items read are kept on the record: a later update needs no second lookup.
    expect(w.deps.updates.items.get(updatesKey('ORD-1'))!.items).toEqual(items);
  });

  it('a sent conversion whose approval fell due gets one automatic approval, sent by reference; one a replay holds waits', async () => {
    const w = world({ AUTO_APPROVE_AFTER_DAYS: '30' });
    const past = w.deps.clock.now() - 1_000;
    for (const ref of ['ORD-1', 'ORD-2'])
      w.deps.conversions.items.set(
        ref,
        conversionRecord({ conversionRef: ref, status: 'sent', campaignId: CAMPAIGN, dueShard: APPROVALS_SHARD, dueAt: past }),
      );
    w.deps.conversions.items.set('ORD-2', { ...w.deps.conversions.items.get('ORD-2')!, leaseId: 'a-replay' });

    expect(await w.run()).toMatchObject({ approvalsQueued: 1, due: 1, requests: 1 });
    expect(w.api.bulk[0]!.body).toEqual({
      conversion_references: { 'ORD-1': { status: 'approved', reason: 'approved automatically after 30 days' } },
    });
    expect(entriesOf(w, 'ORD-1').map((e) => [e.kind, e.source, e.state])).toEqual([['auto_approve', 'schedule', 'submitted']]);
    expect(w.deps.conversions.items.get('ORD-1')!.dueShard).toBeUndefined();
    expect(w.deps.conversions.items.get('ORD-2')!.dueShard).toBe(APPROVALS_SHARD);
    expect(entriesOf(w, 'ORD-2')).toEqual([]);
  });
});

describe('sweepUpdates: following jobs', () => {
  it('polls a job with backoff until it finishes, then writes each update applied and the record leaves the due index', async () => {
    const w = world();
    sent(w, 'ORD-1');
    sent(w, 'ORD-2');
    await queue(w, 'ORD-1');
    await queue(w, 'ORD-2');
    await w.run();
    const pollS = w.deps.config.updatePollSeconds;

    w.deps.clock.advance(pollS * 1000);
    w.api.jobAnswers.push(accepted({ id: 'job-1', status: 'active' }));
    expect(await w.run()).toMatchObject({ due: 0, jobsPolled: 1, jobsFinished: 0, requests: 0 });
    expect(jobOf(w, 'job-1')).toMatchObject({ polls: 1, status: 'active', dueAt: w.deps.clock.now() + pollS * 1000 });

    w.deps.clock.advance(pollS * 1000);
    w.api.jobAnswers.push(accepted({ id: 'job-1', status: 'active' }));
    await w.run();
    // The second poll doubles the wait.
    expect(jobOf(w, 'job-1')).toMatchObject({ polls: 2, dueAt: w.deps.clock.now() + 2 * pollS * 1000 });
    expect(await dueJobs(w, w.deps.clock.now() + 2 * pollS * 1000 - 1)).toEqual([]);

    w.deps.clock.advance(2 * pollS * 1000);
    w.api.jobAnswers.push(accepted({ id: 'job-1', status: 'complete', itemErrorCount: 0 }));
    expect(await w.run()).toMatchObject({ jobsPolled: 1, jobsFinished: 1, byState: { applied: 2 } });
    expect(w.api.jobCalls).toEqual(['job-1', 'job-1', 'job-1']);
    expect(w.api.taskCalls).toEqual([]);
    expect(entryOf(w, 'ORD-1')).toMatchObject({ state: 'applied', attempts: [{ status: 202 }, { result: 'sent', jobId: 'job-1' }] });
    expect([dueAtOf(w, 'ORD-1'), dueAtOf(w, 'ORD-2')]).toEqual([undefined, undefined]);
    expect(jobOf(w, 'job-1')).toMatchObject({ status: 'complete', polls: 3, finishedAt: expect.any(String) });
    expect(await dueJobs(w, w.deps.clock.now() + 86_400_000)).toEqual([]);
    expect(w.deps.metrics.get(METRICS.updatesApplied)).toBe(2);
  });

  it("a job reporting failures has its tasks read: the named update fails with Partnerize's message, the other is applied", async () => {
    const w = world();
    sent(w, 'ORD-1');
    sent(w, 'ORD-2');
    await queue(w, 'ORD-1');
    await queue(w, 'ORD-2');
    await w.run();
    w.deps.clock.advance(60_000);
    w.api.jobAnswers.push(accepted({ id: 'job-1', status: 'complete', itemErrorCount: 1 }));
    w.api.taskAnswers.push(
      accepted([
        { id: 't1', status: 'complete', itemErrorCount: 1, resultData: JSON.stringify({ errors: [{ id: 'ORD-2', message: 'invoiced' }] }) },
      ]),
    );

    expect(await w.run()).toMatchObject({ jobsFinished: 1, byState: { applied: 1, failed: 1 } });
    expect(w.api.taskCalls).toEqual(['job-1']);
    expect(entryOf(w, 'ORD-1').state).toBe('applied');
    expect(entryOf(w, 'ORD-2')).toMatchObject({ state: 'failed', note: 'Partnerize: ORD-2: invoiced' });
    expect(w.deps.metrics.get(METRICS.updatesFailed)).toBe(1);
  });

  it('tasks that cannot be read yet leave the job due, polled again later', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    await w.run();
    w.deps.clock.advance(60_000);
    w.api.jobAnswers.push(accepted({ id: 'job-1', status: 'complete', itemErrorCount: 1 }));
    w.api.taskAnswers.push(refused(429, { retryAfterS: 600 }));

    expect(await w.run()).toMatchObject({ jobsFinished: 0, stoppedBy: 'rate_limited' });
    expect(jobOf(w, 'job-1')).toMatchObject({ polls: 1, dueAt: w.deps.clock.now() + 600_000 });
    expect(entryOf(w, 'ORD-1').state).toBe('submitted');
  });

  it('a job Partnerize does not know (404) ends, and its updates go back on the retry schedule', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    await w.run();
    w.deps.clock.advance(60_000);
    w.api.jobAnswers.push(refused(404));

    expect(await w.run()).toMatchObject({ jobsPolled: 1, jobsFinished: 1, byState: { owed: 1 } });
    expect(entryOf(w, 'ORD-1')).toMatchObject({
      state: 'owed',
      retries: 1,
      notBefore: w.deps.clock.now() + 60_000,
      note: 'Partnerize could not show job job-1 (HTTP 404): sent again',
    });
    expect(dueAtOf(w, 'ORD-1')).toBe(w.deps.clock.now() + 60_000);
    expect(jobOf(w, 'job-1')).toMatchObject({ status: 'unknown (404)', finishedAt: expect.any(String) });

    w.deps.clock.advance(60_000);
    expect(await w.run()).toMatchObject({ claimed: 1, requests: 1 });
    expect(w.api.bodies()).toEqual([['ORD-1'], ['ORD-1']]);
  });

  it(`a job still running after ${JOB_MAX_AGE_MS / HOUR_MS} h is taken for stuck: its updates are sent again`, async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    await w.run();
    w.deps.clock.advance(JOB_MAX_AGE_MS + 1);
    w.api.jobAnswers.push(accepted({ id: 'job-1', status: 'active' }));

    expect(await w.run()).toMatchObject({ jobsFinished: 1 });
    expect(entryOf(w, 'ORD-1')).toMatchObject({ state: 'owed', retries: 1, note: 'job job-1 was still active after 6 h: sent again' });
    expect(jobOf(w, 'job-1').status).toBe('stalled (active)');
  });

  it('refused keys while polling stop the run; the job is polled again later, its updates untouched', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    await w.run();
    w.deps.clock.advance(60_000);
    w.api.jobAnswers.push(refused(401));

    expect(await w.run()).toMatchObject({ stoppedBy: 'auth', jobsFinished: 0, requests: 0 });
    expect(jobOf(w, 'job-1')).toMatchObject({ polls: 1, status: 'created', dueAt: expect.any(Number) });
    expect(entryOf(w, 'ORD-1').state).toBe('submitted');
    expect(w.deps.metrics.get(METRICS.partnerizeApiAuthFailed)).toBe(1);
  });
});

describe('sweepUpdates: Partnerize refusing or down', () => {
  it('down (5xx): each update goes back on the retry schedule and the run stops; after the last retry it is failed', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    const runs: Array<[string | undefined, string, number]> = [];
    for (const waitS of [0, 60, 300, 900]) {
      w.deps.clock.advance(waitS * 1000);
      w.api.bulkAnswers.push(refused(503));
      const report = await w.run();
      runs.push([report.stoppedBy, entryOf(w, 'ORD-1').state, entryOf(w, 'ORD-1').retries]);
    }
    expect(runs).toEqual([
      ['failures', 'owed', 1],
      ['failures', 'owed', 2],
      ['failures', 'owed', 3],
      ['failures', 'failed', 4],
    ]);
    expect(entryOf(w, 'ORD-1').note).toBe('Partnerize answered 503; every scheduled retry failed');
    expect(entryOf(w, 'ORD-1').attempts?.map((a) => [a.result, a.status])).toEqual(Array(4).fill(['retryable', 503]));
    expect(w.deps.metrics.get(METRICS.updatesFailed)).toBe(1);
  });

  it('not due before its next try: a run in between sends nothing', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    w.api.bulkAnswers.push(refused(500));
    await w.run();
    w.deps.clock.advance(59_000);
    expect(await w.run()).toMatchObject({ due: 0, requests: 0 });
    expect(w.api.bulk).toHaveLength(1);
  });

  it('a 429 stops the run: the update waits at least the Retry-After, and the bodies not sent yet wait untouched', async () => {
    const w = world();
    sent(w, 'ORD-1');
    sent(w, 'ORD-2', 'camp-2');
    await queue(w, 'ORD-1');
    await queue(w, 'ORD-2');
    const now = w.deps.clock.now();
    w.api.bulkAnswers.push(refused(429, { retryAfterS: 600 }));

    expect(await w.run()).toMatchObject({ stoppedBy: 'rate_limited', requests: 1 });
    expect(w.api.bulk.map((b) => b.campaignId)).toEqual([CAMPAIGN]);
    expect(entryOf(w, 'ORD-1')).toMatchObject({ state: 'owed', retries: 1, notBefore: now + 600_000 });
    expect(entryOf(w, 'ORD-2')).toMatchObject({ state: 'owed', retries: 0 });
    expect(entryOf(w, 'ORD-2').attempts).toBeUndefined();
    expect(dueAtOf(w, 'ORD-2')).toBe(now + 60_000);
  });

  it('a 4xx for a body of several updates is split until the refused update is alone; the others are sent', async () => {
    const w = world();
    const ids = ['S-1', 'S-2', 'S-3', 'S-4'];
    for (const id of ids) {
      sent(w, id);
      await queue(w, id);
    }
    const refuseS1 = (body: BulkBody): ApiOutcome<BulkJob> =>
      'conversion_references' in body && 'S-1' in body.conversion_references
        ? refused(400, { message: 'Conversion is locked' })
        : accepted({ id: `job-${w.api.bulk.length}`, status: 'created' }, 202);
    w.api.bulkAnswers.push(refuseS1, refuseS1, refuseS1, refuseS1, refuseS1);

    expect(await w.run()).toMatchObject({ requests: 5, byState: { rejected: 1, submitted: 3 } });
    expect(w.api.bodies()).toEqual([['S-1', 'S-2', 'S-3', 'S-4'], ['S-1', 'S-2'], ['S-1'], ['S-2'], ['S-3', 'S-4']]);
    expect(entryOf(w, 'S-1')).toMatchObject({ state: 'rejected', note: 'Partnerize refused it (HTTP 400): Conversion is locked' });
    expect(ids.slice(1).map((id) => entryOf(w, id).state)).toEqual(['submitted', 'submitted', 'submitted']);
    expect(w.deps.metrics.get(METRICS.updatesRejected)).toBe(1);
  });

  it('a split whose first half meets a 429 stops there: the second half waits untouched', async () => {
    const w = world();
    for (const id of ['S-1', 'S-2', 'S-3']) {
      sent(w, id);
      await queue(w, id);
    }
    w.api.bulkAnswers.push(refused(400), refused(429, { retryAfterS: 120 }));

    expect(await w.run()).toMatchObject({ requests: 2, stoppedBy: 'rate_limited', byState: { owed: 2 } });
    expect(w.api.bodies()).toEqual([
      ['S-1', 'S-2', 'S-3'],
      ['S-1', 'S-2'],
    ]);
    expect(entryOf(w, 'S-1')).toMatchObject({ state: 'owed', retries: 1, notBefore: w.deps.clock.now() + 120_000 });
    expect(entryOf(w, 'S-3')).toMatchObject({ state: 'owed', retries: 0 });
    expect(dueAtOf(w, 'S-3')).toBe(w.deps.clock.now() + 60_000);
  });

  it('the request limit: bodies beyond it wait for the next run, untouched', async () => {
    const w = world();
    sent(w, 'ORD-1');
    sent(w, 'ORD-2', 'camp-2');
    await queue(w, 'ORD-1');
    await queue(w, 'ORD-2');
    expect(await w.run({ requestLimit: 1 })).toMatchObject({ requests: 1, byState: { submitted: 1 } });
    expect(entryOf(w, 'ORD-2')).toMatchObject({ state: 'owed', retries: 0 });
    expect(entryOf(w, 'ORD-2').attempts).toBeUndefined();
    expect(dueAtOf(w, 'ORD-2')).toBe(w.deps.clock.now() + 60_000);
  });

  it('wrong API keys (401): nothing is refused, every update is held and the run stops', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    w.api.bulkAnswers.push(refused(401));

    expect(await w.run()).toMatchObject({ stoppedBy: 'auth', byState: { held: 1 } });
    expect(entryOf(w, 'ORD-1')).toMatchObject({
      state: 'held',
      retries: 0,
      note: 'Partnerize refused the API keys (HTTP 401): every update waits until they are fixed',
    });
    expect(dueAtOf(w, 'ORD-1')).toBe(w.deps.clock.now() + 60_000);
    expect(w.deps.metrics.get(METRICS.partnerizeApiAuthFailed)).toBe(1);
  });

  it('a 202 whose job could not be recorded: the updates are owed again and sent on the next run', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    const createJob = w.deps.updates.createJob.bind(w.deps.updates);
    let failures = 1;
    w.deps.updates.createJob = async (job) => {
      if (failures-- > 0) throw new Error('store unreachable');
      return createJob(job);
    };

    await w.run();
    expect(entryOf(w, 'ORD-1')).toMatchObject({ state: 'owed', note: 'job job-1 could not be recorded: sent again' });
    expect(w.deps.log.messages('error')).toContain(
      'Partnerize accepted a bulk update but its job could not be recorded; its updates are sent again',
    );
    w.deps.clock.advance(60_000);
    await w.run();
    expect(entryOf(w, 'ORD-1')).toMatchObject({ state: 'submitted', jobId: 'job-2' });
  });
});

describe('sweepUpdates: nothing sent', () => {
  it('API keys not set: the due updates wait (metric), nothing is called', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    w.api.keys = false;
    expect(await w.run()).toMatchObject({ stoppedBy: 'no_keys', due: 1, claimed: 0 });
    expect(w.deps.metrics.get(METRICS.updatesAwaitingKeys)).toBe(1);
    expect(w.api.bulk).toEqual([]);
    expect(entryOf(w, 'ORD-1').state).toBe('owed');
  });

  it('API keys that cannot be read count as not set', async () => {
    const w = world();
    w.api.keys = Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
    expect(await w.run()).toMatchObject({ stoppedBy: 'no_keys' });
    expect(w.deps.log.lines.find((l) => l.level === 'warn')).toMatchObject({
      message: 'could not read the Partnerize API keys: order updates wait for the next run',
      fields: { error: 'AccessDeniedException' },
    });
  });

  it('dry-run mode: the due updates are counted and held, nothing is claimed or called', async () => {
    const w = world({ PARTNERIZE_MODE: 'dryrun' });
    sent(w, 'ORD-1');
    expect((await queue(w, 'ORD-1')).outcome).toBe('update_dry_run');
    expect(await w.run()).toEqual({
      due: 1,
      claimed: 0,
      approvalsQueued: 0,
      jobsPolled: 0,
      jobsFinished: 0,
      requests: 0,
      lookups: 0,
      byState: {},
      stoppedBy: 'dry_run',
      durationMs: 0,
    });
    expect(w.api.bulk).toEqual([]);
    expect(w.deps.updates.items.get(updatesKey('ORD-1'))!.leaseId).toBeUndefined();
  });

  it('a record another run holds is not claimed until its lease runs out', async () => {
    const w = world();
    sent(w, 'ORD-1');
    await queue(w, 'ORD-1');
    const now = w.deps.clock.now();
    const lease = updateLeaseMs(w.deps.config);
    expect(await w.deps.updates.claim(updatesKey('ORD-1'), now, now + lease, 'another-run')).toBeDefined();
    expect(await w.run()).toMatchObject({ due: 0, claimed: 0, requests: 0 });
    w.deps.clock.advance(lease);
    expect(await w.run()).toMatchObject({ due: 1, claimed: 1, requests: 1 });
  });
});
