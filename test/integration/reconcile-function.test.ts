/**
 * The reconcile function as Lambda runs it (runtime/reconcile.ts, built from an environment record)
 * against dynalite and the strict fake Partnerize API: orders go through the real postbacks
 * handler to the S2S fake, which the report fake learns them from; a scheduled invoke then reads
 * the report page by page (a 429 waited out), keeps its run record and writes its metrics as EMF.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoReconciliation } from '#lambdas/adapters/dynamodb-reconcile.js';
import { reconcileRunKey } from '#lambdas/core/model.js';
import { RECONCILE_METRICS } from '#lambdas/core/metrics.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '#lambdas/core/time.js';
import type { ReconcileResult } from '#lambdas/handlers/reconcile.js';
import { reconcileFunction } from '#lambdas/runtime/reconcile.js';
import { LOCAL_AWS_ENV } from '../../lib/local/embedded-dynamodb.js';
import { lambdaContext } from '../../lib/local/http-bridge.js';
import { FakePartnerizeApi } from '../support/fake-partnerize-api.js';
import { CAMPAIGN, startTestEnv, uniq, type TestEnv } from '../support/env.js';
import { SecretsManagerModel } from '../support/secrets-manager-model.js';

const SERVICE = 'ReconcileIT';
/** What the stack's schedule hands the function (cdk.json's defaults). */
const SCHEDULED = { lookbackDays: 2, graceHours: 6 };

let env: TestEnv;
let api: FakePartnerizeApi;
beforeAll(async () => {
  env = await startTestEnv();
  // Small pages, so a window of a few orders is several pages.
  api = (await FakePartnerizeApi.start({ maxPage: 2 })).linkTo(env.partnerize);
});
afterAll(async () => {
  await api?.close();
  await env?.close();
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** The function's environment as the stack sets it (the keys as the local mode gives them, unless told). */
const functionEnv = (extra: Record<string, string> = {}) => ({
  ...LOCAL_AWS_ENV,
  POWERTOOLS_SERVICE_NAME: SERVICE,
  POWERTOOLS_LOG_LEVEL: 'CRITICAL',
  DYNAMODB_ENDPOINT: env.dynamo.endpoint,
  CONVERSIONS_TABLE: env.dynamo.tables.conversions,
  PARTNERIZE_MODE: 'live',
  PARTNERIZE_CAMPAIGN_ID: CAMPAIGN,
  PARTNERIZE_BASE_URL: env.partnerize.url,
  PARTNERIZE_API_BASE_URL: api.url,
  ...extra,
});

/** Invokes a handler as Lambda would, keeping the EMF lines it writes to stdout. */
async function invoke(handler: ReturnType<typeof reconcileFunction>, event: unknown) {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = String(chunk);
    if (text.includes('"_aws"')) {
      lines.push(text);
      return true;
    }
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  });
  try {
    const result = (await handler(event, lambdaContext('reconcile', 900_000))) as ReconcileResult;
    return { result, emf: lines.map((l) => JSON.parse(l) as Record<string, any>) };
  } finally {
    vi.mocked(process.stdout.write).mockRestore();
  }
}

describe('the reconcile function (runtime, dynalite, fake Partnerize API)', () => {
  it('a scheduled invoke reads the report page by page, keeps a run record per campaign and writes its metrics as EMF', async () => {
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    // Delivered well past the grace period, for orders placed yesterday.
    env.clock.t = Date.now() - 7 * HOUR_MS;
    const refs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const ref = uniq('RECON');
      refs.push(ref);
      const orderTime = new Date(today - DAY_MS + HOUR_MS + i * MINUTE_MS).toISOString();
      const r = await env.postback({
        body: {
          event: 'purchase',
          orderId: ref,
          clickref: 'Recon1',
          currency: 'GBP',
          consent: true,
          orderTime,
          items: [{ sku: 'S', value: 10, quantity: 1 }],
        },
      });
      expect(r.body.outcome).toBe('sent');
    }
    // Partnerize answered the first one and kept nothing; it holds one order the tracker never sent.
    api.forget(refs[0]!);
    const pixel = uniq('PIXEL');
    api.addConversion({
      reference: pixel,
      campaignId: CAMPAIGN,
      time: new Date(today - DAY_MS + 2 * HOUR_MS).toISOString().slice(0, 19).replace('T', ' '),
    });
    api.rateLimit(1, 1);
    const before = api.reportRequests.length;

    const handler = reconcileFunction(functionEnv(api.env));
    const { result, emf } = await invoke(handler, SCHEDULED);

    const from = new Date(today - 2 * DAY_MS).toISOString();
    const to = new Date(today).toISOString();
    expect(result).toEqual({
      ok: true,
      from,
      to,
      campaigns: [{ campaignId: CAMPAIGN, differs: true, counts: { missing: 1, unexpected: 1, value: 0, items: 0, status: 0 } }],
    });
    const reads = api.reportRequests.slice(before);
    expect(reads[0]!.status).toBe(429);
    expect(reads.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(3);
    expect(reads.every((r) => r.authorized)).toBe(true);

    const store = new DynamoReconciliation(env.dynamo.client, env.dynamo.tables.conversions);
    const run = await store.getRun(reconcileRunKey(CAMPAIGN, from, to));
    expect(run).toMatchObject({ recordType: 'reconcile_run', campaignId: CAMPAIGN, from, to, graceMs: 6 * HOUR_MS, rowsLeftOut: 0 });
    expect(run!.rows.map((r) => [r.class, r.conversionRef])).toEqual([
      ['missing', refs[0]],
      ['unexpected', pixel],
    ]);
    expect(run!.summary.checked).toBe(5);

    // One EMF line, in the stack's namespace with the `service` dimension the alarms read.
    expect(emf).toHaveLength(1);
    const line = emf[0]!;
    expect(line['_aws'].CloudWatchMetrics).toEqual([expect.objectContaining({ Namespace: 'PartnerizeS2S', Dimensions: [['service']] })]);
    expect(line['service']).toBe(SERVICE);
    const units = Object.fromEntries(
      (line['_aws'].CloudWatchMetrics[0].Metrics as Array<{ Name: string; Unit: string }>).map((m) => [m.Name, m.Unit]),
    );
    expect(units[RECONCILE_METRICS.missingShare]).toBe('Percent');
    expect(units[RECONCILE_METRICS.unexpectedShare]).toBe('Percent');
    expect(line[RECONCILE_METRICS.missing]).toBe(1);
    expect(line[RECONCILE_METRICS.unexpected]).toBe(1);
    expect(line[RECONCILE_METRICS.value]).toBe(0);
    expect(line[RECONCILE_METRICS.checked]).toBe(5);
    expect(line[RECONCILE_METRICS.missingShare]).toBe(20);
    expect(line[RECONCILE_METRICS.failed]).toBe(0);
  }, 60_000);

  it("with the keys in the stack's secret: skips while it is empty, and runs once it is filled, without a new deploy or a cold start", async () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PartnerizeApiKeys-AbCdEf';
    const sm = mockClient(SecretsManagerClient);
    try {
      const secret = new SecretsManagerModel(arn, '').install(sm);
      const handler = reconcileFunction(functionEnv({ PARTNERIZE_API_KEYS_SECRET_ARN: arn }));
      const before = api.reportRequests.length;
      const skipped = await invoke(handler, SCHEDULED);
      expect(skipped.result).toEqual({ ok: true, skipped: 'no_keys', campaigns: [] });
      expect(skipped.emf[0]![RECONCILE_METRICS.skipped]).toBe(1);
      expect(skipped.emf[0]![RECONCILE_METRICS.missingShare]).toBeUndefined();
      expect(api.reportRequests.length).toBe(before);

      secret.putSecretValue({
        SecretId: arn,
        SecretString: JSON.stringify({ applicationKey: api.opts.applicationKey, userApiKey: api.opts.userApiKey }),
      });
      // The warm instance reads an empty secret again after a minute.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 61_000 });
      const ran = await invoke(handler, SCHEDULED);
      expect(ran.result).toMatchObject({ ok: true, campaigns: [{ campaignId: CAMPAIGN }] });
      expect(api.reportRequests.length).toBeGreaterThan(before);
      expect(sm.commandCalls(GetSecretValueCommand).length).toBeGreaterThanOrEqual(2);
    } finally {
      sm.restore();
    }
  }, 60_000);

  it("keys Partnerize refuses: the invoke fails (the alarm's Lambda error) after keeping the failed run and counting it", async () => {
    const handler = reconcileFunction(functionEnv({ PARTNERIZE_APPLICATION_KEY: 'wrong', PARTNERIZE_USER_API_KEY: 'keys' }));
    const window = { from: '2026-10-01T00:00:00Z', to: '2026-10-02T00:00:00Z' };
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    await expect(handler(window, lambdaContext('reconcile', 900_000))).rejects.toThrow(/refused the API keys/);
    vi.mocked(process.stdout.write).mockRestore();
    const emf = lines.filter((l) => l.includes('"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(emf.map((l) => l[RECONCILE_METRICS.failed])).toEqual([1]);
    const store = new DynamoReconciliation(env.dynamo.client, env.dynamo.tables.conversions);
    const run = await store.getRun(reconcileRunKey(CAMPAIGN, '2026-10-01T00:00:00.000Z', '2026-10-02T00:00:00.000Z'));
    expect(run?.error).toMatch(/refused the API keys/);
  }, 60_000);
});
