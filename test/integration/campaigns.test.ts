/**
 * Several campaigns in one deployment, through the real postbacks handler, dynalite and a fake
 * Partnerize on 127.0.0.1: orders routed by country (and site, and an explicit campaign field) to
 * their campaign with its own conversionRef prefix, the routing kept on the record, one order never
 * sent to two campaigns, order updates following their conversion's campaign.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoUpdateOutbox } from '#lambdas/adapters/dynamodb-update-outbox.js';
import { findConversion } from '#lambdas/core/operations.js';
import { refPrefixesOf } from '#lambdas/core/campaigns.js';
import { ga4Purchase } from '../fixtures/ga4.js';
import { tealiumPurchase } from '../fixtures/tealium.js';
import { CAMPAIGN, startTestEnv, uniq, type TestEnv } from '../support/env.js';

const RULES = [
  { name: 'uk', campaignId: '1100l111', conversionRefPrefix: 'UK-', match: { country: ['GB'] } },
  { name: 'de', campaignId: '1100l222', conversionRefPrefix: 'TEST-DE-', match: { country: ['DE', 'AT'] } },
  { name: 'fr', campaignId: '1100l333', conversionRefPrefix: 'FR-', match: { site: ['*.example.fr'] } },
];

let env: TestEnv;
beforeAll(async () => {
  env = await startTestEnv({ CAMPAIGNS: JSON.stringify(RULES) });
});
afterAll(async () => env?.close());
beforeEach(() => env.partnerize.reset());

const order = (orderId: string, extra: Record<string, unknown> = {}) => ({
  event: 'purchase',
  orderId,
  clickref: 'AbC123xYz',
  consent: true,
  currency: 'GBP',
  items: [{ sku: 'SKU-1', value: '10.00', quantity: 1 }],
  ...extra,
});
const urls = () => env.partnerize.requests.map((r) => r.url);

describe('routing orders to campaigns', () => {
  it('two campaigns by country, each with its own prefix; no rule matched: the default campaign', async () => {
    const uk = uniq('O');
    const de = uniq('O');
    const us = uniq('O');
    expect((await env.postback({ body: order(uk, { country: 'GB' }) })).body).toEqual({ conversionRef: `UK-${uk}`, outcome: 'sent' });
    expect((await env.postback({ body: order(de, { country: 'de', currency: 'EUR' }) })).body).toEqual({
      conversionRef: `TEST-DE-${de}`,
      outcome: 'sent',
    });
    expect((await env.postback({ body: order(us, { country: 'US', currency: 'USD' }) })).body).toEqual({
      conversionRef: us,
      outcome: 'sent',
    });
    expect(urls()).toEqual([
      expect.stringContaining(
        `/conversion/tracking_mode:api/campaign:1100l111/clickref:AbC123xYz/conversionref:UK-${uk}/currency:GBP/country:GB/`,
      ),
      expect.stringContaining(
        `/conversion/tracking_mode:api/campaign:1100l222/clickref:AbC123xYz/conversionref:TEST-DE-${de}/currency:EUR/country:DE/`,
      ),
      expect.stringContaining(
        `/conversion/tracking_mode:api/campaign:${CAMPAIGN}/clickref:AbC123xYz/conversionref:${us}/currency:USD/country:US/`,
      ),
    ]);
    expect(await env.deps.conversions.get(`UK-${uk}`)).toMatchObject({ campaignId: '1100l111', campaign: 'uk', routedBy: 'country GB' });
    expect(await env.deps.conversions.get(us)).toMatchObject({ campaignId: CAMPAIGN, campaign: 'default', routedBy: 'default' });
  });

  it('by site: the host of a GA4 page_location; by an explicit campaign field, whatever the country', async () => {
    const fr = uniq('T');
    const r = await env.postback({
      body: ga4Purchase({
        transaction_id: fr,
        clickref: 'AbC123xYz',
        page_location: 'https://www.example.fr/checkout/merci',
        page_hostname: undefined,
        event_location: undefined,
      }),
    });
    expect(r.body).toEqual({ conversionRef: `FR-${fr}`, outcome: 'sent' });
    expect(await env.deps.conversions.get(`FR-${fr}`)).toMatchObject({ campaign: 'fr', routedBy: 'site www.example.fr' });
    const named = uniq('O');
    expect((await env.postback({ body: order(named, { country: 'GB', campaign: 'de' }) })).body.conversionRef).toBe(`TEST-DE-${named}`);
    expect(await env.deps.conversions.get(`TEST-DE-${named}`)).toMatchObject({ routedBy: 'campaign field' });
  });

  it('a campaign field naming no campaign is a 400 naming the sender’s field, and nothing is stored', async () => {
    const id = uniq('O');
    const r = await env.postback({ body: order(id, { campaign: 'es' }) });
    expect(r).toMatchObject({ statusCode: 400, body: { error: { code: 'invalid_field', field: 'campaign' } } });
    expect(r.body.error.message).toBe("campaign 'es' is not a campaign of this deployment (default, uk, de, fr)");
    expect(await findConversion(id, refPrefixesOf(env.deps.config), env.deps)).toBeUndefined();
    // In Tealium's words: the mapped field's path.
    env.configure({ CAMPAIGNS: JSON.stringify(RULES), TEALIUM_MAPPING: JSON.stringify({ campaign: 'data.udo.site_region' }) });
    try {
      const t = await env.postback({ body: tealiumPurchase({ udo: { order_id: uniq('O'), site_region: 'mars' } }) });
      expect(t).toMatchObject({ statusCode: 400, body: { error: { field: 'data.udo.site_region' } } });
    } finally {
      env.configure({ CAMPAIGNS: JSON.stringify(RULES) });
    }
  });

  it('one order is never sent to two campaigns: its routing changed between two postbacks → duplicate of the first', async () => {
    const id = uniq('O');
    expect((await env.postback({ body: order(id) })).body).toEqual({ conversionRef: id, outcome: 'sent' });
    // The data layer was fixed and now says GB: another campaign, another prefix — still the same order.
    expect((await env.postback({ body: order(id, { country: 'GB' }) })).body).toEqual({ conversionRef: id, outcome: 'duplicate' });
    expect(urls()).toHaveLength(1);
    expect(await env.deps.conversions.get(`UK-${id}`)).toBeUndefined();
  });

  it('an order kept without consent under one campaign does not hold the order id for another', async () => {
    const id = uniq('O');
    expect((await env.postback({ body: order(id, { consent: false }) })).body.outcome).toBe('no_consent');
    expect((await env.postback({ body: order(id, { country: 'GB', consent: true }) })).body).toEqual({
      conversionRef: `UK-${id}`,
      outcome: 'sent',
    });
  });

  it('an order update follows its conversion’s campaign and prefix; for an order not yet held, its campaign field', async () => {
    const id = uniq('O');
    await env.postback({ body: order(id, { country: 'GB' }) });
    const cancel = await env.postback({ body: { event: 'cancel', orderId: id } });
    expect(cancel.body).toEqual({ conversionRef: `UK-${id}`, outcome: 'update_queued' });
    const outbox = new DynamoUpdateOutbox(env.dynamo.client, env.dynamo.tables.conversions);
    expect(await outbox.get(`UK-${id}`)).toMatchObject({ campaignId: '1100l111' });

    const early = uniq('O');
    const r = await env.postback({ body: { event: 'cancel', orderId: early, campaign: 'de' } });
    expect(r.body).toEqual({ conversionRef: `TEST-DE-${early}`, outcome: 'update_queued_unknown_order' });
    expect(await outbox.get(`TEST-DE-${early}`)).toMatchObject({ campaignId: '1100l222' });
  });
});
