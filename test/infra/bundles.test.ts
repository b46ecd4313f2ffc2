/**
 * A Lambda whose bundle cannot load is a total outage. This synthesizes the stack with the real
 * esbuild settings and runs every bundle in a fresh Node process, as Lambda would: the bundles
 * load, and — pointed at dynalite and a fake Partnerize — record a click, send a postback, run a
 * retry sweep and a daily reconciliation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedDynamo, LOCAL_AWS_ENV, type EmbeddedDynamo } from '../../lib/local/embedded-dynamodb.js';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { FakePartnerizeApi } from '../support/fake-partnerize-api.js';
import { httpEvent } from '../support/events.js';
import { invokeBundle, synthesizeBundles, type SynthesizedBundle } from '../support/bundles.js';
import { buildBaselines } from '../bench/bundles.js';

/** Each function's bundle may be at most this much larger than one that only constructs the DynamoDB client. */
const BUNDLE_BUDGET = 1.3;

let bundles: SynthesizedBundle[];
let dynamo: EmbeddedDynamo;
let partnerize: FakePartnerize;
let partnerizeApi: FakePartnerizeApi;
let env: Record<string, string>;

beforeAll(async () => {
  bundles = synthesizeBundles();
  dynamo = await startEmbeddedDynamo();
  partnerize = await FakePartnerize.start();
  partnerizeApi = (await FakePartnerizeApi.start()).linkTo(partnerize);
  env = {
    ...LOCAL_AWS_ENV,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    CLICKS_TABLE: dynamo.tables.clicks,
    CONVERSIONS_TABLE: dynamo.tables.conversions,
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: partnerize.url,
    PARTNERIZE_CAMPAIGN_ID: 'bundlecamp',
    POSTBACK_TOKEN: 'bundle-token',
  };
}, 180_000);
afterAll(async () => {
  await partnerizeApi?.close();
  await partnerize?.close();
  await dynamo?.close();
});

const bundle = (name: string) => {
  const b = bundles.find((x) => x.name === name);
  if (!b) throw new Error(`no bundle ${name}`);
  return b;
};

describe('synthesized bundles', () => {
  it('there is one ESM bundle per function', () => {
    expect(bundles.map((b) => b.name).sort()).toEqual(['ClicksFunction', 'PostbacksFunction', 'ReconcileFunction', 'RetryFunction']);
    for (const b of bundles) expect(b.file.endsWith('index.mjs')).toBe(true);
  });

  it(`every bundle is within ${BUNDLE_BUDGET}× the DynamoDB-client-only bundle (same esbuild settings)`, async () => {
    const sdkOnly = (await buildBaselines()).find((b) => b.name === 'DynamoDB client only')!;
    const ratios = Object.fromEntries(bundles.map((b) => [b.name, Number((b.bytes / sdkOnly.bytes).toFixed(3))]));
    for (const [name, ratio] of Object.entries(ratios))
      expect(ratio, `${name}: ${JSON.stringify(ratios)}`).toBeLessThanOrEqual(BUNDLE_BUDGET);
  });

  it.each(['ClicksFunction', 'PostbacksFunction', 'RetryFunction', 'ReconcileFunction'])(
    '%s loads in a fresh Node process',
    async (name) => {
      const r = await invokeBundle(bundle(name).file, env);
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
    },
  );

  it('the bundles work end to end: click, postback, Partnerize call, retry sweep', async () => {
    const click = await invokeBundle(
      bundle('ClicksFunction').file,
      env,
      httpEvent({ path: '/clicks', body: { sessionId: 'bundle-session-1', clickref: 'BuNdLe1' } }),
    );
    expect(click.result).toMatchObject({ statusCode: 204 });
    const bad = await invokeBundle(
      bundle('ClicksFunction').file,
      env,
      httpEvent({ path: '/clicks', body: { sessionId: 'bundle-session-1', clickref: ' ' } }),
    );
    expect(bad.result.statusCode).toBe(400);
    expect(JSON.parse(bad.result.body).error.field).toBe('clickref');

    const postback = await invokeBundle(
      bundle('PostbacksFunction').file,
      env,
      httpEvent({
        path: '/postbacks',
        headers: { authorization: 'Bearer bundle-token' },
        body: { orderId: 'BUNDLE-1', sessionId: 'bundle-session-1', currency: 'EUR', consent: true, items: [{ value: 10, sku: 'S' }] },
      }),
    );
    expect(JSON.parse(postback.result.body)).toEqual({ conversionRef: 'BUNDLE-1', outcome: 'sent' });
    expect(partnerize.requests).toHaveLength(1);
    expect(partnerize.requests[0]!.url).toMatch(
      /^\/conversion\/tracking_mode:api\/campaign:bundlecamp\/clickref:BuNdLe1\/conversionref:BUNDLE-1\/currency:EUR\//,
    );

    // An order update is accepted by the postbacks bundle; the retry bundle keeps it while no API keys are set.
    const cancel = await invokeBundle(
      bundle('PostbacksFunction').file,
      env,
      httpEvent({ path: '/postbacks', headers: { authorization: 'Bearer bundle-token' }, body: { event: 'cancel', orderId: 'BUNDLE-1' } }),
    );
    expect(JSON.parse(cancel.result.body)).toEqual({ conversionRef: 'BUNDLE-1', outcome: 'update_queued' });

    const sweep = await invokeBundle(bundle('RetryFunction').file, env, { source: 'aws.events', 'detail-type': 'Scheduled Event' });
    expect(sweep.result).toMatchObject({ due: 0, claimed: 0, updates: { due: 1, stoppedBy: 'no_keys' } });

    // The daily reconciliation over the day of that order, as an operator would invoke it: the
    // conversion is found at Partnerize, nothing differs.
    const day = new Date().toISOString().slice(0, 10);
    const reconcile = await invokeBundle(
      bundle('ReconcileFunction').file,
      { ...env, ...partnerizeApi.env },
      { from: `${day}T00:00:00Z`, to: new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString(), graceHours: 0 },
    );
    expect(reconcile.error).toBeUndefined();
    expect(reconcile.result).toMatchObject({ ok: true, campaigns: [{ campaignId: 'bundlecamp', counts: { missing: 0, unexpected: 0 } }] });
    expect(partnerizeApi.reportRequests.length).toBeGreaterThan(0);
  });
});
