/**
 * The order lifecycle end to end, on real parts: postbacks through the handler, dynalite, the S2S
 * fake and the strict fake of Partnerize's API (schema-checked bodies, Basic auth, jobs over polls,
 * the conversion report), the update run of the retry function, and a clock the test moves.
 * Cancel, full and partial returns, approvals, repeats, an update racing its conversion, the API
 * down or refusing, a crash between accepting and sending, a thousand updates at once, automatic
 * approval.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DynamoUpdateOutbox } from '#lambdas/adapters/dynamodb-update-outbox.js';
import { createPartnerizeApi } from '#lambdas/adapters/partnerize-api.js';
import { METRICS } from '#lambdas/core/metrics.js';
import { updatesKey, type SweepDeps, type UpdateEntry, type UpdateJobRecord } from '#lambdas/core/model.js';
import { sweepUpdates, type UpdateSweepReport } from '#lambdas/core/order-update-sweep.js';
import { sweep } from '#lambdas/core/sweep.js';
import { bulkValidator, FakePartnerizeApi } from '../support/fake-partnerize-api.js';
import { startTestEnv, type TestEnv } from '../support/env.js';

let env: TestEnv;
let api: FakePartnerizeApi;
let outbox: DynamoUpdateOutbox;
let keys: { applicationKey: string; userApiKey: string } | undefined;

beforeEach(async () => {
  api = await FakePartnerizeApi.start();
  env = await startTestEnv({ UPDATE_POLL_S: '30', UNKNOWN_ORDER_GRACE_S: '60' });
  api.linkTo(env.partnerize);
  outbox = new DynamoUpdateOutbox(env.dynamo.client, env.dynamo.tables.conversions);
  keys = { applicationKey: api.opts.applicationKey, userApiKey: api.opts.userApiKey };
});
afterEach(async () => {
  await env?.close();
  await api?.close();
});

const OPTS = { batchSize: 1000, concurrency: 16, budgetMs: 45_000 };
const sweepDeps = (): SweepDeps => ({
  ...env.deps,
  updates: outbox,
  api: createPartnerizeApi({ baseUrl: api.url, credentials: async () => keys }),
});
const run = (): Promise<UpdateSweepReport> => sweepUpdates(sweepDeps(), OPTS);
/** Runs the update outbox every `stepMs` until nothing is due or in a job any more. */
async function settle(stepMs = 60_000, rounds = 20): Promise<UpdateSweepReport[]> {
  const reports: UpdateSweepReport[] = [];
  for (let i = 0; i < rounds; i++) {
    reports.push(await run());
    env.clock.advance(stepMs);
    const due = [
      ...(await outbox.listDue('updates', env.clock.now(), 10)),
      ...(await outbox.listDue('jobs', env.clock.now() + 86_400_000, 10)),
    ];
    if (due.length === 0) break;
  }
  return reports;
}

const purchase = (orderId: string, over: Record<string, unknown> = {}) => ({
  event: 'purchase',
  orderId,
  clickref: 'Life1',
  currency: 'GBP',
  consent: true,
  orderTime: '2026-11-24T09:00:00Z',
  items: [
    { sku: 'SKU-1', category: 'shoes', value: 20, quantity: 2 },
    { sku: 'SKU-2', category: 'socks', value: 5, quantity: 1 },
  ],
  ...over,
});
const post = async (body: unknown) => (await env.postback({ body })).body as { conversionRef: string; outcome: string };
const entries = async (ref: string): Promise<UpdateEntry[]> =>
  Object.values((await outbox.get(ref))?.entries ?? {}).sort((a, b) => a.seq - b.seq || a.id.localeCompare(b.id));
const validate = bulkValidator();

describe('cancel, return, approve', () => {
  it('a cancel rejects the conversion in Partnerize: one schema-valid bulk call, the job followed to its end', async () => {
    expect(await post(purchase('L-1'))).toEqual({ conversionRef: 'L-1', outcome: 'sent' });
    expect(await post({ event: 'cancel', orderId: 'L-1', reason: 'Customer cancelled / refunded in full' })).toEqual({
      conversionRef: 'L-1',
      outcome: 'update_queued',
    });
    const first = await run();
    expect(first).toMatchObject({ due: 1, claimed: 1, requests: 1 });
    expect(api.bulkRequests).toHaveLength(1);
    const body = api.bulkRequests[0]!.body;
    expect(body).toEqual({ conversion_references: { 'L-1': { status: 'rejected', reason: 'Customer cancelled refunded in full' } } });
    expect(validate(body)).toBe(true);
    expect(api.bulkRequests[0]!.path).toBe('/v3/brand/campaigns/1011l270/conversions/bulk');
    expect((await entries('L-1'))[0]).toMatchObject({ state: 'submitted', jobId: expect.any(String) });
    await settle();
    expect((await entries('L-1'))[0]).toMatchObject({ state: 'applied', sent: { effect: 'reject' } });
    expect(api.statusOf('L-1')).toBe('rejected');
    expect(env.metrics.get(METRICS.updatesApplied)).toBe(1);
    // Two polls: active, then complete (nothing read before the job said it was done).
    expect(api.requests.filter((r) => r.path.startsWith('/v3/jobs/')).length).toBe(2);
  });

  it('a full return and an approve, each sent by reference', async () => {
    await post(purchase('L-2'));
    await post(purchase('L-3'));
    expect((await post({ event: 'return', orderId: 'L-2' })).outcome).toBe('update_queued');
    expect((await post({ event: 'approve', orderId: 'L-3' })).outcome).toBe('update_queued');
    await settle();
    expect(api.bulkRequests).toHaveLength(1);
    expect(api.bulkRequests[0]!.body).toEqual({
      conversion_references: {
        'L-2': { status: 'rejected', reason: 'order returned' },
        'L-3': { status: 'approved', reason: 'order approved' },
      },
    });
    expect([api.statusOf('L-2'), api.statusOf('L-3')]).toEqual(['rejected', 'approved']);
  });

  it('a partial return lowers the item in Partnerize (its item id from the conversion report); the rest stays', async () => {
    await post(purchase('L-4'));
    expect((await post({ event: 'return', orderId: 'L-4', items: [{ sku: 'SKU-1', quantity: 1 }] })).outcome).toBe('update_queued');
    const r = await run();
    expect(r.lookups).toBe(1);
    const report = api.requests.find((q) => q.path.includes('/reporting/report_advertiser/'))!;
    expect(report.path).toMatch(/conversion_reference=L-4/);
    const item = api.conversion('L-4')!.items.find((i) => i.sku === 'SKU-1')!;
    expect(api.bulkRequests[0]!.body).toEqual({ conversion_items: { [item.id]: { item_value: 20, reason: 'order returned' } } });
    await settle();
    expect(api.conversion('L-4')!.items.map((i) => [i.sku, i.value, i.status])).toEqual([
      ['SKU-1', 20, 'pending'],
      ['SKU-2', 5, 'pending'],
    ]);
    // The second unit and the socks go back later: every unit is back, so the whole conversion is rejected.
    await post({
      event: 'return',
      orderId: 'L-4',
      items: [
        { sku: 'SKU-1', quantity: 1 },
        { sku: 'SKU-2', quantity: 1 },
      ],
    });
    await settle();
    expect(api.bulkRequests.at(-1)!.body).toEqual({ conversion_references: { 'L-4': { status: 'rejected', reason: 'order returned' } } });
    expect(api.statusOf('L-4')).toBe('rejected');
  });

  it('a partial refund when Partnerize ignores the reference filter: the window is read page by page', async () => {
    const loose = await FakePartnerizeApi.start({ honourReferenceFilter: false });
    const before = api;
    api = loose;
    try {
      api.linkTo(env.partnerize);
      for (let i = 0; i < 400; i++) api.addConversion({ reference: `OTHER-${i}`, time: '2026-11-24 09:00:00' });
      await post(purchase('L-5'));
      await post({ event: 'refund', orderId: 'L-5', items: [{ sku: 'SKU-2', quantity: 1 }] });
      await settle();
      expect(api.requests.filter((q) => q.path.includes('/reporting/')).length).toBe(2);
      expect(api.conversion('L-5')!.items.map((i) => i.status)).toEqual(['pending', 'rejected']);
    } finally {
      api = before;
      await loose.close();
    }
  });

  it('repeated identical updates are deduped: one update, one bulk entry', async () => {
    await post(purchase('L-6'));
    const answers = await Promise.all(Array.from({ length: 5 }, () => post({ event: 'cancel', orderId: 'L-6' })));
    expect(answers.map((a) => a.outcome).sort()).toEqual([
      'update_duplicate',
      'update_duplicate',
      'update_duplicate',
      'update_duplicate',
      'update_queued',
    ]);
    await settle();
    expect(await entries('L-6')).toHaveLength(1);
    expect(api.bulkRequests).toHaveLength(1);
    expect(api.conversion('L-6')!.history).toHaveLength(1);
  });

  it('an approve after a cancel is superseded (never re-approved by accident); nothing is sent for it', async () => {
    await post(purchase('L-7'));
    await post({ event: 'cancel', orderId: 'L-7' });
    await settle();
    await post({ event: 'approve', orderId: 'L-7' });
    await settle();
    expect((await entries('L-7')).map((e) => [e.kind, e.state])).toEqual([
      ['cancel', 'applied'],
      ['approve', 'superseded'],
    ]);
    expect(api.bulkRequests).toHaveLength(1);
    expect(api.statusOf('L-7')).toBe('rejected');
  });
});

describe('an update never overtakes its conversion', () => {
  it('a cancel arriving before its purchase waits for it, and is sent after the conversion', async () => {
    expect((await post({ event: 'cancel', orderId: 'L-8' })).outcome).toBe('update_queued_unknown_order');
    await run();
    expect(api.bulkRequests).toHaveLength(0);
    expect((await entries('L-8'))[0]).toMatchObject({ state: 'held', note: expect.stringMatching(/no conversion for this order yet/) });
    env.clock.advance(20_000);
    expect((await post(purchase('L-8'))).outcome).toBe('sent');
    await settle();
    expect(api.bulkRequests).toHaveLength(1);
    expect(api.bulkRequests[0]!.at).toBeGreaterThanOrEqual(env.partnerize.requestsFor('L-8')[0]!.at);
    expect(api.statusOf('L-8')).toBe('rejected');
  });

  it('an update for a conversion still being retried is held until the conversion is sent', async () => {
    env.partnerize.respondWith({ status: 503 });
    expect((await post(purchase('L-9'))).outcome).toBe('queued');
    expect((await post({ event: 'cancel', orderId: 'L-9' })).outcome).toBe('update_held');
    await run();
    expect(api.bulkRequests).toHaveLength(0);
    env.clock.advance(70_000);
    await sweep(env.deps, { limit: 10, concurrency: 1, budgetMs: 10_000 });
    await settle();
    expect(api.bulkRequests).toHaveLength(1);
    expect(api.statusOf('L-9')).toBe('rejected');
  });

  it("an order the tracker never accepted is forwarded by reference after the grace period (the legacy pixel's)", async () => {
    api.addConversion({ reference: 'LEGACY-1', time: '2026-11-20 10:00:00' });
    expect((await post({ event: 'cancel', orderId: 'LEGACY-1' })).outcome).toBe('update_queued_unknown_order');
    await settle();
    expect(api.statusOf('LEGACY-1')).toBe('rejected');
  });
});

describe('Partnerize down, refusing, or slow', () => {
  it('down for a while: the update is retried on the schedule, then applied; nothing lost', async () => {
    await post(purchase('L-10'));
    await post({ event: 'cancel', orderId: 'L-10' });
    api.setOutage({ status: 503 });
    expect(await run()).toMatchObject({ requests: 1, stoppedBy: 'failures' });
    expect((await entries('L-10'))[0]).toMatchObject({ state: 'owed', retries: 1, note: 'Partnerize answered 503' });
    env.clock.advance(30_000);
    expect(await run()).toMatchObject({ requests: 0 });
    env.clock.advance(40_000);
    api.setOutage({ drop: true });
    await run();
    expect((await entries('L-10'))[0]).toMatchObject({ state: 'owed', retries: 2 });
    api.setOutage(undefined);
    env.clock.advance(400_000);
    await settle();
    expect((await entries('L-10'))[0]).toMatchObject({ state: 'applied', retries: 2 });
    expect(api.statusOf('L-10')).toBe('rejected');
  });

  it('a 429 stops the run and the update waits at least what X-RateLimit-Retry-After advises', async () => {
    await post(purchase('L-11'));
    await post({ event: 'cancel', orderId: 'L-11' });
    api.rateLimit(1, 600);
    expect(await run()).toMatchObject({ stoppedBy: 'rate_limited' });
    const e = (await entries('L-11'))[0]!;
    expect(e.notBefore! - env.clock.now()).toBeGreaterThanOrEqual(600_000);
  });

  it('a 4xx for a body of several updates is split until the refused update is alone; the others are applied', async () => {
    for (const id of ['S-1', 'S-2', 'S-3', 'S-4']) await post(purchase(id));
    for (const id of ['S-1', 'S-2', 'S-3', 'S-4']) await post({ event: 'cancel', orderId: id });
    // The whole body, then the half holding the bad one, then the bad one alone are refused.
    api.fail({ status: 400 }, { status: 400 }, { status: 400 });
    await run();
    expect(api.bulkRequests.map((r) => Object.keys((r.body as { conversion_references: object }).conversion_references).length)).toEqual([
      4, 2, 1, 1, 2,
    ]);
    await settle();
    const states = await Promise.all(['S-1', 'S-2', 'S-3', 'S-4'].map(async (id) => (await entries(id))[0]!.state));
    expect(states.sort()).toEqual(['applied', 'applied', 'applied', 'rejected']);
    expect(env.metrics.get(METRICS.updatesRejected)).toBe(1);
  });

  it('wrong API keys (401): nothing is refused, every update waits and the run stops (paged)', async () => {
    keys = { applicationKey: 'wrong', userApiKey: 'wrong' };
    await post(purchase('L-12'));
    await post({ event: 'cancel', orderId: 'L-12' });
    expect(await run()).toMatchObject({ stoppedBy: 'auth' });
    expect((await entries('L-12'))[0]).toMatchObject({ state: 'held', note: expect.stringMatching(/refused the API keys/) });
    expect(env.metrics.get(METRICS.partnerizeApiAuthFailed)).toBe(1);
    keys = { applicationKey: api.opts.applicationKey, userApiKey: api.opts.userApiKey };
    env.clock.advance(60_000);
    await settle();
    expect(api.statusOf('L-12')).toBe('rejected');
  });

  it('keys not set yet: updates wait (metric), nothing is called; once set, they go', async () => {
    keys = undefined;
    await post(purchase('L-13'));
    await post({ event: 'cancel', orderId: 'L-13' });
    expect(await run()).toMatchObject({ stoppedBy: 'no_keys', due: 1 });
    expect(env.metrics.get(METRICS.updatesAwaitingKeys)).toBe(1);
    expect(api.requests).toHaveLength(0);
    keys = { applicationKey: api.opts.applicationKey, userApiKey: api.opts.userApiKey };
    await settle();
    expect(api.statusOf('L-13')).toBe('rejected');
  });

  it('a job that reports failures without naming them is split until each failure is found', async () => {
    const opaque = await FakePartnerizeApi.start({ resultData: 'opaque' });
    const before = api;
    api = opaque;
    try {
      api.linkTo(env.partnerize);
      for (const id of ['O-1', 'O-2', 'O-3', 'O-4']) await post(purchase(id));
      api.failIds.set('O-3', 'Conversion is invoiced');
      for (const id of ['O-1', 'O-2', 'O-3', 'O-4']) await post({ event: 'cancel', orderId: id });
      await settle();
      const states = await Promise.all(['O-1', 'O-2', 'O-3', 'O-4'].map(async (id) => (await entries(id))[0]!.state));
      expect(states).toEqual(['applied', 'applied', 'failed', 'applied']);
      expect(['O-1', 'O-2', 'O-4'].map((id) => api.statusOf(id))).toEqual(['rejected', 'rejected', 'rejected']);
    } finally {
      api = before;
      await opaque.close();
    }
  });

  it('a failure the task names is recorded with its message (failed, paged)', async () => {
    await post(purchase('L-14'));
    api.failIds.set('L-14', 'Conversion is invoiced and cannot be updated');
    await post({ event: 'cancel', orderId: 'L-14' });
    await settle();
    expect((await entries('L-14'))[0]).toMatchObject({
      state: 'failed',
      note: 'Partnerize: L-14: Conversion is invoiced and cannot be updated',
    });
    expect(env.metrics.get(METRICS.updatesFailed)).toBe(1);
  });
});

describe('crashes', () => {
  it('a run that dies after claiming: nothing is sent until the lease runs out, then the update goes once', async () => {
    await post(purchase('L-15'));
    await post({ event: 'cancel', orderId: 'L-15' });
    expect(await outbox.claim(updatesKey('L-15'), env.clock.now(), env.clock.now() + 64_000, 'dead-run')).toBeDefined();
    expect(await run()).toMatchObject({ due: 0, requests: 0 });
    env.clock.advance(64_000);
    await settle();
    expect(api.bulkRequests).toHaveLength(1);
    expect(api.statusOf('L-15')).toBe('rejected');
  });

  it('a 202 whose job could not be recorded: the update is sent again (harmless: the same status twice)', async () => {
    await post(purchase('L-16'));
    await post({ event: 'cancel', orderId: 'L-16' });
    const flaky = new DynamoUpdateOutbox(env.dynamo.client, env.dynamo.tables.conversions);
    let failures = 1;
    flaky.createJob = async (job: UpdateJobRecord) => {
      if (failures-- > 0) throw new Error('DynamoDB unreachable');
      return DynamoUpdateOutbox.prototype.createJob.call(flaky, job);
    };
    outbox = flaky;
    await run();
    expect((await entries('L-16'))[0]).toMatchObject({ state: 'owed', note: expect.stringMatching(/could not be recorded: sent again/) });
    env.clock.advance(60_000);
    await settle();
    expect(api.bulkRequests).toHaveLength(2);
    expect((await entries('L-16'))[0]).toMatchObject({ state: 'applied' });
    expect(api.statusOf('L-16')).toBe('rejected');
  });
});

describe('volume', () => {
  it('1,000 updates arriving at once go out in one bulk request, and each result is recorded', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `V-${i}`);
    for (const id of ids) api.addConversion({ reference: id });
    const seed = (id: string) =>
      env.direct.create({
        conversionRef: id,
        writeId: `w-${id}`,
        orderId: id,
        campaignId: '1011l270',
        status: 'sent',
        createdAt: '2026-11-24T09:00:00.000Z',
        updatedAt: '2026-11-24T09:00:00.000Z',
        orderTime: env.clock.now(),
        mode: 'live',
        source: 'native',
        clickrefSource: 'postback',
        consentPolicy: 'required',
        currency: 'GBP',
        itemCount: 1,
        orderValue: '10',
        attempts: [],
        retries: 0,
        expiresAt: 2_000_000_000,
      });
    for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map(seed));
    const answers: string[] = [];
    for (let i = 0; i < ids.length; i += 50)
      answers.push(...(await Promise.all(ids.slice(i, i + 50).map(async (id) => (await post({ event: 'cancel', orderId: id })).outcome))));
    expect(new Set(answers)).toEqual(new Set(['update_queued']));
    const reports = await settle();
    expect(api.bulkRequests).toHaveLength(1);
    expect(Object.keys((api.bulkRequests[0]!.body as { conversion_references: object }).conversion_references)).toHaveLength(1000);
    expect(reports[0]).toMatchObject({ claimed: 1000, requests: 1 });
    expect(ids.every((id) => api.statusOf(id) === 'rejected')).toBe(true);
    const states = await Promise.all(ids.slice(0, 50).map(async (id) => (await entries(id))[0]!.state));
    expect(new Set(states)).toEqual(new Set(['applied']));
  }, 120_000);
});

describe('automatic approval and dry runs', () => {
  it('a conversion not cancelled within autoApproveAfterDays is approved once; a cancelled one never', async () => {
    env.configure({ UPDATE_POLL_S: '30', UNKNOWN_ORDER_GRACE_S: '60', AUTO_APPROVE_AFTER_DAYS: '30' });
    await post(purchase('A-1'));
    await post(purchase('A-2'));
    await post({ event: 'cancel', orderId: 'A-2' });
    await settle();
    env.clock.advance(30 * 86_400_000);
    const reports = await settle();
    expect(reports[0]).toMatchObject({ approvalsQueued: 2 });
    expect(api.statusOf('A-1')).toBe('approved');
    expect(api.statusOf('A-2')).toBe('rejected');
    expect((await entries('A-2')).map((e) => [e.kind, e.state])).toEqual([
      ['cancel', 'applied'],
      ['auto_approve', 'superseded'],
    ]);
    env.clock.advance(30 * 86_400_000);
    expect((await settle())[0]).toMatchObject({ approvalsQueued: 0 });
    expect(api.bulkRequests.filter((r) => JSON.stringify(r.body).includes('approved'))).toHaveLength(1);
  });

  it('in dry-run mode updates are recorded and held, never sent', async () => {
    await post(purchase('D-1'));
    env.configure({ PARTNERIZE_MODE: 'dryrun' });
    expect((await post({ event: 'cancel', orderId: 'D-1' })).outcome).toBe('update_dry_run');
    expect(await run()).toMatchObject({ stoppedBy: 'dry_run', due: 1 });
    expect(api.requests).toHaveLength(0);
    env.configure({});
    await settle();
    expect(api.statusOf('D-1')).toBe('rejected');
  });
});
