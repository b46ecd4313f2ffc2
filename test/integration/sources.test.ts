/**
 * GA4 (server-side GTM), Segment and RudderStack events through the real handlers, dynalite and a
 * fake Partnerize on 127.0.0.1: the landing page view recorded as a click, the order sent as the
 * exact S2S call, 400s in the sender's words, consent per source, and Segment's signed webhooks.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoUpdateOutbox } from '#lambdas/adapters/dynamodb-update-outbox.js';
import { staticTokens } from '#lambdas/adapters/token-source.js';
import { createPostbacksHandler } from '#lambdas/handlers/postbacks.js';
import { lambdaContext } from '../../lib/local/http-bridge.js';
import { ga4LandingPageView, ga4Purchase, ga4PurchaseFlattened, ga4Refund } from '../fixtures/ga4.js';
import { rudderLandingPage, rudderOrderCompleted } from '../fixtures/rudderstack.js';
import { segmentLandingPage, segmentOrderCancelled, segmentOrderCompleted, segmentOrderRefunded } from '../fixtures/segment.js';
import { httpEvent } from '../support/events.js';
import { CAMPAIGN, startTestEnv, TOKEN, uniq, type TestEnv } from '../support/env.js';

let env: TestEnv;
beforeAll(async () => {
  env = await startTestEnv();
});
afterAll(async () => env?.close());
beforeEach(() => {
  env.partnerize.reset();
  env.configure({});
});

/** The test clock's now (2026-11-24T10:00:00Z) as Partnerize's conversion_time. */
const NOW = 'conversion_time:2026-11-24%2010%3A00%3A00';
/** The order updates recorded for a conversion, in the order they were accepted. */
async function updatesOf(ref: string) {
  const rec = await new DynamoUpdateOutbox(env.dynamo.client, env.dynamo.tables.conversions).get(ref);
  return Object.values(rec?.entries ?? {}).sort((a, b) => a.seq - b.seq);
}
const call = (clickref: string, orderId: string, rest: string) =>
  `/conversion/tracking_mode:api/campaign:${CAMPAIGN}/clickref:${clickref}/conversionref:${orderId}/currency:GBP/${rest}`;

describe('GA4 / server-side GTM', () => {
  it('page view with the clickref → click; purchase → the exact S2S call, price as the unit value', async () => {
    const clientId = `${uniq('ga')}.1747154479`;
    expect((await env.click({ body: ga4LandingPageView({ client_id: clientId }) })).statusCode).toBe(204);
    const orderId = uniq('T');
    const r = await env.postback({ body: ga4Purchase({ client_id: clientId, transaction_id: orderId }) });
    expect(r).toMatchObject({ statusCode: 202, body: { conversionRef: orderId, outcome: 'sent' } });
    expect(env.partnerize.requests.map((q) => q.url)).toEqual([
      call(
        'AbC123xYz',
        orderId,
        `country:GB/voucher:SPRING10/${NOW}/device:desktop/[category:Apparel/sku:SKU-123/value:27/quantity:2]/[sku:SKU-456/value:18.00/quantity:1]`,
      ),
    ]);
    expect(await env.deps.conversions.get(orderId)).toMatchObject({
      source: 'ga4',
      sessionId: clientId,
      clickrefSource: 'click',
      consent: true,
    });
  });

  it("Stape's flattened keys in a one-element list are the same purchase", async () => {
    const clientId = `${uniq('ga')}.1747154479`;
    await env.click({ body: [ga4LandingPageView({ client_id: clientId })] });
    const orderId = uniq('T');
    const r = await env.postback({ body: [ga4PurchaseFlattened({ client_id: clientId, transaction_id: orderId })] });
    expect(r.body).toEqual({ conversionRef: orderId, outcome: 'sent' });
    expect(env.partnerize.requests[0]!.url).toContain('/clickref:AbC123xYz/');
  });

  it('consent: ad_storage denied (x-ga-gcs G101) is stored, not sent; a page view with it is not recorded', async () => {
    const clientId = `${uniq('ga')}.1747154479`;
    await env.click({ body: ga4LandingPageView({ client_id: clientId, 'x-ga-gcs': 'G101', 'x-ga-gcd': undefined }) });
    expect(await env.deps.clicks.get(clientId)).toBeUndefined();
    const orderId = uniq('T');
    const r = await env.postback({
      body: ga4Purchase({ client_id: clientId, transaction_id: orderId, 'x-ga-gcs': 'G101', 'x-ga-gcd': undefined }),
    });
    expect(r.body.outcome).toBe('no_consent');
    expect(env.partnerize.requests).toHaveLength(0);
  });

  it('a 400 names the GA4 field; other events are ignored', async () => {
    const bad = await env.postback({
      body: ga4Purchase({
        transaction_id: uniq('T'),
        items: [
          { item_id: 'A', price: 1 },
          { item_id: 'B', price: 'one' },
        ],
      }),
    });
    expect(bad).toMatchObject({ statusCode: 400, body: { error: { code: 'invalid_field', field: 'items[1].price' } } });
    expect(bad.body.error.message).toMatch(/^items\[1\]\.price /);
    const view = await env.postback({ body: ga4LandingPageView() });
    expect(view.body).toMatchObject({ outcome: 'ignored', reason: "event_name 'page_view' is not an order event of this source" });
    // The names that count are GA4's own, not the configured purchaseEvents (which GA4 does not use).
    expect(view.body.purchaseEvents).toEqual(['purchase']);
  });

  it('refund is an order update: recorded against the sent conversion with its items, owed to Partnerize', async () => {
    const clientId = `${uniq('ga')}.1747154479`;
    await env.click({ body: ga4LandingPageView({ client_id: clientId }) });
    const orderId = uniq('T');
    expect((await env.postback({ body: ga4Purchase({ client_id: clientId, transaction_id: orderId }) })).body.outcome).toBe('sent');
    const r = await env.postback({ body: ga4Refund({ transaction_id: orderId }) });
    expect(r).toMatchObject({ statusCode: 202, body: { conversionRef: orderId, outcome: 'update_queued' } });
    const entries = await updatesOf(orderId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      kind: 'refund',
      source: 'ga4',
      state: 'owed',
      items: [{ sku: 'SKU-123', value: '27', quantity: 1 }],
    });
    // The same refund again (a retried tag) is the same update.
    expect((await env.postback({ body: ga4Refund({ transaction_id: orderId }) })).body.outcome).toBe('update_duplicate');
  });
});

describe('Segment', () => {
  it('page call → click; Order Completed → the exact S2S call, the discount spread over the units', async () => {
    const anonymousId = uniq('anon');
    expect((await env.click({ body: segmentLandingPage({ anonymousId }) })).statusCode).toBe(204);
    const orderId = uniq('SO');
    const r = await env.postback({
      body: segmentOrderCompleted({ order_id: orderId }, { anonymousId, timestamp: '2026-11-24T09:59:30.250Z' }),
    });
    expect(r.body).toEqual({ conversionRef: orderId, outcome: 'sent' });
    expect(env.partnerize.requests.map((q) => q.url)).toEqual([
      call(
        'AbC123xYz',
        orderId,
        'voucher:SPRING10/conversion_time:2026-11-24%2009%3A59%3A30/device:desktop/[category:Apparel/sku:SKU-123/value:27/quantity:2]/[sku:9714107480/value:13.5/quantity:1]',
      ),
    ]);
    expect(await env.deps.conversions.get(orderId)).toMatchObject({ source: 'segment', orderValue: '67.5' });
  });

  it('consent: Advertising false is stored, not sent', async () => {
    const orderId = uniq('SO');
    const body = segmentOrderCompleted(
      { order_id: orderId, clickref: 'Seg1' },
      { context: { consent: { categoryPreferences: { Advertising: false, Analytics: true } } } },
    );
    expect((await env.postback({ body })).body.outcome).toBe('no_consent');
    expect(env.partnerize.requests).toHaveLength(0);
  });

  it("an ignored Segment event lists Segment's own purchase event, whatever purchaseEvents says", async () => {
    env.configure({ PURCHASE_EVENTS: '["checkout_done"]' });
    const r = await env.postback({ body: { ...segmentOrderCompleted({ order_id: uniq('SO') }), event: 'order_completed' } });
    expect(r.body).toMatchObject({ outcome: 'ignored', purchaseEvents: ['Order Completed'] });
    const page = await env.postback({ body: segmentLandingPage() });
    expect(page.body).toMatchObject({ outcome: 'ignored', purchaseEvents: ['Order Completed'] });
  });

  it('a 400 names the Segment field', async () => {
    const r = await env.postback({
      body: segmentOrderCompleted({ order_id: uniq('SO'), products: [{ sku: 'A', price: 2, quantity: 'many' }] }),
    });
    expect(r).toMatchObject({ statusCode: 400, body: { error: { field: 'properties.products[0].quantity' } } });
  });

  it('Order Refunded and Order Cancelled are order updates of the order they name', async () => {
    const orderId = uniq('SO');
    expect((await env.postback({ body: segmentOrderCompleted({ order_id: orderId, clickref: 'Seg1' }) })).body.outcome).toBe('sent');
    const refund = await env.postback({ body: segmentOrderRefunded({ order_id: orderId }) });
    expect(refund.body).toEqual({ conversionRef: orderId, outcome: 'update_queued' });
    const cancel = await env.postback({ body: segmentOrderCancelled({ order_id: orderId }) });
    expect(cancel.body).toEqual({ conversionRef: orderId, outcome: 'update_queued' });
    expect((await updatesOf(orderId)).map((e) => [e.kind, e.source, e.items?.map((l) => l.sku)])).toEqual([
      ['refund', 'segment', ['SKU-123']],
      ['cancel', 'segment', undefined],
    ]);
  });
});

describe('RudderStack', () => {
  it('page call → click; Order Completed → the exact S2S call; consent from consentManagement', async () => {
    const anonymousId = uniq('rs');
    await env.click({ body: rudderLandingPage({ anonymousId }) });
    const orderId = uniq('RO');
    const r = await env.postback({ body: rudderOrderCompleted({ order_id: orderId }, { anonymousId, timestamp: '2026-11-24T09:59:30Z' }) });
    expect(r.body).toEqual({ conversionRef: orderId, outcome: 'sent' });
    expect(env.partnerize.requests[0]!.url).toBe(
      call(
        'RuDdEr-42',
        orderId,
        'voucher:SPRING10/conversion_time:2026-11-24%2009%3A59%3A30/device:mobile/[category:Apparel/sku:SKU-123/value:27/quantity:2]/[category:Apparel/sku:SKU-456/value:13.5/quantity:1]',
      ),
    );
    expect(await env.deps.conversions.get(orderId)).toMatchObject({ source: 'rudderstack' });
    const denied = rudderOrderCompleted(
      { order_id: uniq('RO') },
      { context: { consentManagement: { allowedConsentIds: ['C0001'], deniedConsentIds: ['C0004'] } } },
    );
    expect((await env.postback({ body: denied })).body.outcome).toBe('no_consent');
  });
});

describe("Segment's signed webhooks (X-Signature instead of the token)", () => {
  const SECRET = 'segment-shared-secret-0123456789';
  const sign = (text: string) => createHmac('sha1', SECRET).update(text, 'utf8').digest('hex');
  async function post(body: string, headers: Record<string, string>, secret: string | null = SECRET) {
    const segmentSecret = secret === null ? undefined : staticTokens(secret);
    const h = createPostbacksHandler({ ...env.deps, tokens: staticTokens(TOKEN), segmentSecret, maxBodyBytes: 262_144 });
    const r = (await h(httpEvent({ path: '/postbacks', body, headers }), lambdaContext('postbacks', 10_000)))!;
    return { statusCode: r.statusCode, body: JSON.parse(r.body!) };
  }

  it('a body signed with the shared secret is accepted without a token', async () => {
    const orderId = uniq('SIG');
    const text = JSON.stringify(segmentOrderCompleted({ order_id: orderId, clickref: 'Sig1' }, { timestamp: '2026-11-24T09:59:00Z' }));
    expect(await post(text, { 'x-signature': sign(text) })).toEqual({ statusCode: 202, body: { conversionRef: orderId, outcome: 'sent' } });
    expect(env.partnerize.requests).toHaveLength(1);
  });

  it('a tampered body, a wrong secret, or no secret configured: 401, nothing stored', async () => {
    const orderId = uniq('SIG');
    const text = JSON.stringify(segmentOrderCompleted({ order_id: orderId, clickref: 'Sig2' }));
    const tampered = text.replace('"price":30', '"price":3000');
    expect(tampered).not.toBe(text);
    for (const [body, headers, secret] of [
      [tampered, { 'x-signature': sign(text) }, SECRET],
      [text, { 'x-signature': createHmac('sha1', 'other').update(text).digest('hex') }, SECRET],
      [text, { 'x-signature': sign(text) }, null],
      [text, {}, SECRET],
    ] as const) {
      const r = await post(body, headers, secret);
      expect(r.statusCode).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
    }
    expect(await env.deps.conversions.get(orderId)).toBeUndefined();
  });

  it('only for bodies read as Segment events: a signed native order, RudderStack or Tealium event is a 401', async () => {
    for (const event of [
      { orderId: uniq('SIG'), currency: 'GBP', consent: true, clickref: 'Sig3', items: [{ value: 1 }] },
      rudderOrderCompleted({ order_id: uniq('SIG') }),
      // Read as Tealium (its rule is tried first), so not a Segment event, whatever its `type`.
      { ...segmentOrderCompleted({ order_id: uniq('SIG') }), data: { udo: { tealium_event: 'purchase' } } },
    ]) {
      const text = JSON.stringify(event);
      const r = await post(text, { 'x-signature': sign(text) });
      expect(r).toMatchObject({ statusCode: 401, body: { error: { message: expect.stringContaining('for Segment events') } } });
    }
  });

  it('batching: Segment signs the first event only; a batch of one is taken, a longer one refused (never read unsigned)', async () => {
    const one = segmentOrderCompleted({ order_id: uniq('SIG'), clickref: 'Sig4' });
    const signedFirst = sign(JSON.stringify(one));
    expect((await post(JSON.stringify([one]), { 'x-signature': signedFirst })).body.outcome).toBe('sent');
    const two = await post(JSON.stringify([one, segmentOrderCompleted({ order_id: uniq('SIG') })]), { 'x-signature': signedFirst });
    expect(two).toMatchObject({ statusCode: 400, body: { error: { code: 'batch_not_supported' } } });
    expect(env.partnerize.requests).toHaveLength(1);
  });

  it('a GET is read from its query, so a signed body beside it is never enough', async () => {
    const text = JSON.stringify(segmentOrderCompleted({ order_id: uniq('SIG'), clickref: 'Sig6' }));
    const h = createPostbacksHandler({
      ...env.deps,
      tokens: staticTokens(TOKEN),
      segmentSecret: staticTokens(SECRET),
      maxBodyBytes: 262_144,
    });
    const event = {
      ...httpEvent({ path: '/postbacks', method: 'GET', query: { data: text }, headers: { 'x-signature': sign(text) } }),
      body: text,
    };
    expect((await h(event, lambdaContext('postbacks', 10_000)))!.statusCode).toBe(401);
  });

  it('the token still works beside a configured secret', async () => {
    const text = JSON.stringify(segmentOrderCompleted({ order_id: uniq('SIG'), clickref: 'Sig5' }));
    expect((await post(text, { authorization: `Bearer ${TOKEN}` })).statusCode).toBe(202);
  });
});
