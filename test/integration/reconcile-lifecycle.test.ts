/**
 * Status drift through the real order lifecycle: purchases and their cancellations, returns and
 * approvals through the postbacks handler, sent in bulk by the retry function's update run to the
 * strict fake of Partnerize's API, whose jobs report some updates done without applying them. The
 * reconciliation (dynalite through the `campaignTime` index, the report over HTTP) finds exactly
 * those; `--fix`'s re-queue makes them owed again, the next update run sends them, and the next
 * reconciliation is clean.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { DynamoReconciliation, DynamoUpdateAdmin } from '#lambdas/adapters/dynamodb-reconcile.js';
import { DynamoConversionAdmin } from '#lambdas/adapters/dynamodb-stores.js';
import { createPartnerizeApi } from '#lambdas/adapters/partnerize-api.js';
import type { AdminDeps, SweepDeps } from '#lambdas/core/model.js';
import { sweepUpdates } from '#lambdas/core/order-update-sweep.js';
import { applyFix, fixPlanOf } from '#lambdas/core/reconcile-fix.js';
import { campaignTargets, reconcileCampaign } from '#lambdas/core/reconcile-run.js';
import { HOUR_MS } from '#lambdas/core/time.js';
import { FakePartnerizeApi } from '../support/fake-partnerize-api.js';
import { startTestEnv, type TestEnv } from '../support/env.js';

let env: TestEnv;
let api: FakePartnerizeApi;

beforeEach(async () => {
  api = await FakePartnerizeApi.start();
  env = await startTestEnv({ UPDATE_POLL_S: '30' });
  api.linkTo(env.partnerize);
});
afterEach(async () => {
  await env?.close();
  await api?.close();
});

const partnerizeApi = () =>
  createPartnerizeApi({
    baseUrl: api.url,
    credentials: async () => ({ applicationKey: api.opts.applicationKey, userApiKey: api.opts.userApiKey }),
  });

/** The update run, every minute of the test's clock, until nothing is due or in a job. */
async function settle(): Promise<void> {
  const outbox = new DynamoUpdateAdmin(env.dynamo.client, env.dynamo.tables.conversions);
  const deps: SweepDeps = { ...env.deps, updates: outbox, api: partnerizeApi() };
  for (let i = 0; i < 20; i++) {
    await sweepUpdates(deps, { batchSize: 100, concurrency: 4, budgetMs: 30_000 });
    env.clock.advance(60_000);
    const due = [
      ...(await outbox.listDue('updates', env.clock.now(), 1)),
      ...(await outbox.listDue('jobs', env.clock.now() + 86_400_000, 1)),
    ];
    if (due.length === 0) return;
  }
  throw new Error('the update outbox did not settle');
}

const purchase = (orderId: string) => ({
  event: 'purchase',
  orderId,
  clickref: `Ck${orderId.replace(/\W/g, '')}`,
  currency: 'GBP',
  consent: true,
  orderTime: '2026-11-24T09:00:00Z',
  items: [
    { sku: 'SKU-1', value: 20, quantity: 2 },
    { sku: 'SKU-2', value: 5, quantity: 1 },
  ],
});

async function reconcile() {
  const store = new DynamoReconciliation(env.dynamo.client, env.dynamo.tables.conversions);
  return reconcileCampaign(
    { store, api: partnerizeApi(), now: env.clock.now, sleep: async () => {} },
    {
      campaign: campaignTargets(env.deps.config)[0]!,
      window: { from: Date.UTC(2026, 10, 24), to: Date.UTC(2026, 10, 25) },
      graceMs: HOUR_MS,
    },
  );
}

it('updates Partnerize reported done but did not apply are status drift; re-queued, they are sent again and the drift is gone', async () => {
  for (const id of ['C-IGNORED', 'C-APPLIED', 'R-PARTIAL', 'A-IGNORED', 'PLAIN'])
    expect((await env.postback({ body: purchase(id) })).body.outcome).toBe('sent');
  for (const body of [
    { event: 'cancel', orderId: 'C-IGNORED' },
    { event: 'cancel', orderId: 'C-APPLIED' },
    { event: 'return', orderId: 'R-PARTIAL', items: [{ sku: 'SKU-1', quantity: 1 }] },
    { event: 'approve', orderId: 'A-IGNORED' },
  ])
    expect((await env.postback({ body })).body.outcome).toBe('update_queued');
  api.ignoreIds.add('C-IGNORED').add('A-IGNORED');
  await settle();
  expect(api.statusOf('C-IGNORED')).toBe('pending');
  expect(api.statusOf('C-APPLIED')).toBe('rejected');

  env.clock.advance(2 * HOUR_MS);
  const first = await reconcile();
  expect(first.rows.map((r) => `${r.conversionRef}:${r.class}`)).toEqual(['A-IGNORED:status', 'C-IGNORED:status']);
  expect(first.rows[0]!.detail).toMatch(/^approve applied, Partnerize says pending \(item \S+ pending\), expected approved$/);
  expect(first.rows[1]!.detail).toMatch(/^cancel applied, Partnerize says pending \(item \S+ pending\), expected rejected$/);
  expect(first.rows.map((r) => [r.update?.kind, r.fix])).toEqual([
    ['approve', 'requeue_update'],
    ['cancel', 'requeue_update'],
  ]);
  expect(first.summary.checked).toBe(5);

  const admin: AdminDeps = {
    ...env.deps,
    conversions: new DynamoConversionAdmin(env.dynamo.client, env.dynamo.tables.conversions),
    updates: new DynamoUpdateAdmin(env.dynamo.client, env.dynamo.tables.conversions),
  };
  const sentBefore = env.partnerize.requests.length;
  const outcomes = await applyFix(fixPlanOf([first]), admin);
  expect(outcomes.map((o) => [o.conversionRef, o.result])).toEqual([
    ['A-IGNORED', 'requeued'],
    ['C-IGNORED', 'requeued'],
  ]);
  // Nothing went to the S2S endpoint: Partnerize holds these orders.
  expect(env.partnerize.requests.length).toBe(sentBefore);

  api.ignoreIds.clear();
  const bulkBefore = api.bulkRequests.length;
  await settle();
  expect(api.bulkRequests.slice(bulkBefore).map((r) => r.body)).toEqual([
    {
      conversion_references: {
        'A-IGNORED': { status: 'approved', reason: 'order approved' },
        'C-IGNORED': { status: 'rejected', reason: 'order cancelled' },
      },
    },
  ]);
  env.clock.advance(2 * HOUR_MS);
  const second = await reconcile();
  expect(second.rows).toEqual([]);
  expect([api.statusOf('C-IGNORED'), api.statusOf('A-IGNORED')]).toEqual(['rejected', 'approved']);
});
