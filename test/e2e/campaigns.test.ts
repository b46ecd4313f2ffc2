/**
 * Two campaigns routed by country through `npm start` (a real local process, CAMPAIGNS as the
 * config key's JSON) against a recording Partnerize: each order's exact call names its campaign and
 * prefix, the start banner lists the rules, and `pz lookup <orderId>` finds the order under its
 * campaign's prefix and says how it was routed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';
import { runPz } from '../support/pz.js';

const TOKEN = 'campaigns-token-1234';
let partnerize: FakePartnerize;
let local: LocalProcess;

beforeAll(async () => {
  partnerize = await FakePartnerize.start();
  local = await startLocalProcess({
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: partnerize.url,
    PARTNERIZE_CAMPAIGN_ID: '1100l000',
    POSTBACK_TOKEN: TOKEN,
    CAMPAIGNS: JSON.stringify([
      { name: 'uk', campaignId: '1100l111', match: { country: ['GB'] } },
      { name: 'de', campaignId: '1100l222', conversionRefPrefix: 'TEST-', match: { country: ['DE'] } },
    ]),
  });
});
afterAll(async () => {
  await local?.stop();
  await partnerize?.close();
});

const post = async (body: unknown) =>
  (
    await fetch(`${local.url}/postbacks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  ).json();
const order = (orderId: string, country: string, currency: string) => ({
  orderId,
  clickref: 'AbC123xYz',
  consent: true,
  country,
  currency,
  items: [{ sku: 'S-1', value: '20.00', quantity: 1 }],
});

it('routes by country to two campaigns, the German one in its TEST- parallel run; pz lookup shows the routing', async () => {
  expect(local.output()).toContain('campaign:   uk → 1100l111 when country GB');
  expect(local.output()).toContain('campaign:   de → 1100l222 (prefix TEST-) when country DE');
  const orderTime = '2026-11-30T10:15:00Z';
  expect(await post({ ...order('GB-1001', 'GB', 'GBP'), orderTime })).toEqual({ conversionRef: 'GB-1001', outcome: 'sent' });
  expect(await post({ ...order('DE-1001', 'DE', 'EUR'), orderTime })).toEqual({ conversionRef: 'TEST-DE-1001', outcome: 'sent' });
  expect(partnerize.requests.map((r) => r.url)).toEqual([
    '/conversion/tracking_mode:api/campaign:1100l111/clickref:AbC123xYz/conversionref:GB-1001/currency:GBP/country:GB/conversion_time:2026-11-30%2010%3A15%3A00/[sku:S-1/value:20.00/quantity:1]',
    '/conversion/tracking_mode:api/campaign:1100l222/clickref:AbC123xYz/conversionref:TEST-DE-1001/currency:EUR/country:DE/conversion_time:2026-11-30%2010%3A15%3A00/[sku:S-1/value:20.00/quantity:1]',
  ]);
  const de = await runPz(['lookup', 'DE-1001'], { PZ_LOCAL_URL: local.url });
  expect(de.code).toBe(0);
  expect(de.out).toContain('Conversion TEST-DE-1001: SENT');
  expect(de.out).toMatch(/campaign +1100l222 \(de, routed by country DE\)/);
  const json = (await runPz(['lookup', 'GB-1001', '--json'], { PZ_LOCAL_URL: local.url })).json();
  expect(json).toMatchObject({ conversionRef: 'GB-1001', campaignId: '1100l111', campaign: 'uk', routedBy: 'country GB' });
});
