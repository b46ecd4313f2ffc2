/**
 * The postbacks handler against real parts: dynalite for DynamoDB, a real HTTP server on
 * 127.0.0.1 for Partnerize, the real fetch sender.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestEnv, TOKEN, CAMPAIGN, uniq, type TestEnv } from '../support/env.js';
import { DESKTOP_UA, IPHONE_UA, tealiumPageView, tealiumPurchase } from '../fixtures/tealium.js';
import { staticTokens } from '#lambdas/adapters/token-source.js';
import { createPostbacksHandler } from '#lambdas/handlers/postbacks.js';
import { lambdaContext } from '../../lib/local/http-bridge.js';
import { httpEvent } from '../support/events.js';
import { freePort } from '../../lib/local/embedded-dynamodb.js';

let env: TestEnv;
beforeAll(async () => {
  env = await startTestEnv();
});
afterAll(async () => env?.close());
beforeEach(() => {
  env.partnerize.reset();
  env.configure({});
});

const order = (orderId: string, sessionId: string, extra: Record<string, unknown> = {}) => ({
  event: 'purchase',
  orderId,
  sessionId,
  currency: 'GBP',
  consent: true,
  items: [{ sku: 'SKU-1', category: 'shoes', value: 19.99, quantity: 2 }],
  ...extra,
});
const record = (ref: string) => env.deps.conversions.get(ref);

describe('click → postback → Partnerize', () => {
  it('sends exactly the expected S2S request and keeps it on the record', async () => {
    const session = uniq('sess');
    const orderId = uniq('ORD');
    expect((await env.click({ body: { sessionId: session, clickref: 'AbC123xYz', userAgent: IPHONE_UA } })).statusCode).toBe(204);
    const r = await env.postback({
      body: order(orderId, session, {
        country: 'gb',
        customerType: 'new',
        voucher: 'SUMMER 10%',
        orderTime: '2026-11-24T09:15:00Z',
        items: [{ sku: 'SKU-1', category: 'shoes', value: 19.99, quantity: 2, metadata: { colour: 'red/blue' } }],
        metadata: { store: 'uk-web' },
      }),
    });
    expect(r).toMatchObject({ statusCode: 202, body: { conversionRef: orderId, outcome: 'sent' } });
    expect(env.partnerize.requests).toHaveLength(1);
    expect(env.partnerize.requests[0]!.method).toBe('GET');
    const expected =
      `/conversion/tracking_mode:api/campaign:${CAMPAIGN}/clickref:AbC123xYz/conversionref:${orderId}/currency:GBP` +
      '/country:GB/customertype:new/voucher:SUMMER%2010%25/conversion_time:2026-11-24%2009%3A15%3A00/device:mobile/store:uk-web' +
      '/[category:shoes/sku:SKU-1/value:19.99/quantity:2/colour:red%2Fblue]';
    expect(env.partnerize.requests[0]!.url).toBe(expected);
    const rec = await record(orderId);
    expect(rec).toMatchObject({
      status: 'sent',
      clickref: 'AbC123xYz',
      clickrefSource: 'click',
      device: 'mobile',
      sessionId: session,
      request: { method: 'GET', url: env.partnerize.url + expected },
      orderValue: '39.98',
      itemCount: 1,
    });
    expect(rec!.attempts).toHaveLength(1);
    expect(rec!.attempts[0]).toMatchObject({ trigger: 'inline', result: 'sent', status: 200, body: 'OK' });
    expect(rec!.dueAt).toBeUndefined();
    expect(rec!.dueShard).toBeUndefined();
  });

  it('keeps the clickref byte-exact, whatever its case (support question Q1)', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'aBcDeF_-09' } });
    await env.postback({ body: order(uniq('ORD'), session) });
    expect(env.partnerize.requests[0]!.url).toContain('/clickref:aBcDeF_-09/');
  });

  it('the latest click of a session wins (support question Q6): at once from the same browser (its session key)', async () => {
    const session = uniq('sess');
    const sessionKey = '5f0c9a1e7b3d4c2a8e6f1b0d9c7a5e3f';
    await env.click({ body: { sessionId: session, clickref: 'First1', sessionKey } });
    env.clock.advance(60_000);
    await env.click({ body: { sessionId: session, clickref: 'Second2', sessionKey } });
    await env.postback({ body: order(uniq('ORD'), session) });
    expect(env.partnerize.requests[0]!.url).toContain('/clickref:Second2/');
  });

  it('a click for a known session id without its key does not replace a recent click (the click lock); a later one does', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Shopper1', sessionKey: '5f0c9a1e7b3d4c2a8e6f1b0d9c7a5e3f' } });
    env.clock.advance(60_000);
    expect((await env.click({ body: { sessionId: session, clickref: 'Thief666' } })).statusCode).toBe(204);
    await env.postback({ body: order(uniq('ORD'), session) });
    expect(env.partnerize.requests[0]!.url).toContain('/clickref:Shopper1/');
    env.clock.advance(30 * 60_000);
    await env.click({ body: { sessionId: session, clickref: 'Later3' } });
    await env.postback({ body: order(uniq('ORD'), session) });
    expect(env.partnerize.requests[1]!.url).toContain('/clickref:Later3/');
  });

  it('an older click arriving late does not replace a newer one', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Newer' } });
    env.clock.advance(-5_000);
    await env.click({ body: { sessionId: session, clickref: 'Older' } });
    env.clock.advance(5_000);
    await env.postback({ body: order(uniq('ORD'), session) });
    expect(env.partnerize.requests[0]!.url).toContain('/clickref:Newer/');
  });

  it('an explicit clickref in the postback wins over the lookup', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'FromClick' } });
    const orderId = uniq('ORD');
    await env.postback({ body: order(orderId, session, { clickref: 'FromBrand' }) });
    expect(env.partnerize.requests[0]!.url).toContain('/clickref:FromBrand/');
    expect((await record(orderId))!.clickrefSource).toBe('postback');
  });

  it('a click older than the attribution window is ignored: unattributed, never sent blank (support question Q3)', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Stale' } });
    env.clock.advance(31 * 86_400_000);
    const orderId = uniq('ORD');
    const r = await env.postback({ body: order(orderId, session) });
    expect(r.body).toEqual({ conversionRef: orderId, outcome: 'unattributed' });
    expect(env.partnerize.requests).toHaveLength(0);
    expect(await record(orderId)).toMatchObject({ status: 'unattributed', clickrefSource: 'none' });
    expect((await record(orderId))!.request).toBeUndefined();
  });

  it('no click at all, or no session: unattributed', async () => {
    const a = uniq('ORD');
    expect((await env.postback({ body: order(a, uniq('nobody')) })).body.outcome).toBe('unattributed');
    const b = uniq('ORD');
    expect((await env.postback({ body: order(b, '') })).body.outcome).toBe('unattributed');
    expect(env.partnerize.requests).toHaveLength(0);
  });

  it('device comes from the payload, else the order user agent, else the click (support question Q9)', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Dev1' }, headers: { 'user-agent': IPHONE_UA } });
    await env.postback({ body: order(uniq('ORD'), session) });
    await env.postback({ body: order(uniq('ORD'), session, { userAgent: DESKTOP_UA }) });
    await env.postback({ body: order(uniq('ORD'), session, { userAgent: DESKTOP_UA, device: 'tablet' }) });
    expect(env.partnerize.paths.map((p) => /device:(\w+)/.exec(p)?.[1])).toEqual(['mobile', 'desktop', 'tablet']);
  });

  it("a click's device hint wins over its user agent (an iPad asking for desktop sites)", async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Pad1', device: 'tablet' }, headers: { 'user-agent': DESKTOP_UA } });
    expect((await env.deps.clicks.get(session))!.device).toBe('tablet');
    expect((await env.click({ body: { sessionId: session, clickref: 'Pad1', device: 'phablet' } })).body.error.field).toBe('device');
  });

  it('the conversionRef carries the configured prefix (parallel run)', async () => {
    env.configure({ CONVERSION_REF_PREFIX: 'TEST-' });
    const orderId = uniq('ORD');
    const r = await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Pfx' }) });
    expect(r.body).toEqual({ conversionRef: `TEST-${orderId}`, outcome: 'sent' });
    expect(env.partnerize.requests[0]!.url).toContain(`/conversionref:TEST-${orderId}/`);
  });

  it('POST method is a config option', async () => {
    env.configure({ PARTNERIZE_METHOD: 'POST' });
    await env.postback({ body: order(uniq('ORD'), uniq('s'), { clickref: 'Post1' }) });
    expect(env.partnerize.requests[0]!.method).toBe('POST');
  });
});

describe('dedupe (support question Q11)', () => {
  it('20 concurrent identical postbacks: exactly one S2S call, one sent, the rest duplicate', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Dup1' } });
    env.partnerize.setDefault({ status: 200, body: 'OK', delayMs: 150 });
    const orderId = uniq('ORD');
    const answers = await Promise.all(Array.from({ length: 20 }, () => env.postback({ body: order(orderId, session) })));
    const outcomes = answers.map((a) => a.body.outcome).sort();
    expect(answers.every((a) => a.statusCode === 202)).toBe(true);
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(19);
    expect(env.partnerize.requests).toHaveLength(1);
    expect((await record(orderId))!.attempts).toHaveLength(1);
  });

  it('a postback after the first was sent is a duplicate and sends nothing', async () => {
    const orderId = uniq('ORD');
    await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Once' }) });
    const again = await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Once' }) });
    expect(again.body).toEqual({ conversionRef: orderId, outcome: 'duplicate' });
    expect(env.partnerize.requests).toHaveLength(1);
  });
});

describe('consent (support question Q7)', () => {
  it('policy required: sends only on an explicit opt-in', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Cons1' } });
    const none = uniq('ORD');
    const no = uniq('ORD');
    const yes = uniq('ORD');
    expect((await env.postback({ body: order(none, session, { consent: undefined }) })).body.outcome).toBe('no_consent');
    expect((await env.postback({ body: order(no, session, { consent: false }) })).body.outcome).toBe('no_consent');
    expect((await env.postback({ body: order(yes, session, { consent: true }) })).body.outcome).toBe('sent');
    expect(env.partnerize.requests).toHaveLength(1);
    expect(await record(none)).toMatchObject({ status: 'no_consent', consentPolicy: 'required' });
    expect((await record(none))!.clickref).toBeUndefined(); // not even looked up
  });

  it('policy assumed: sends unless explicitly opted out', async () => {
    env.configure({ CONSENT_POLICY: 'assumed' });
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Cons2' } });
    expect((await env.postback({ body: order(uniq('ORD'), session, { consent: undefined }) })).body.outcome).toBe('sent');
    expect((await env.postback({ body: order(uniq('ORD'), session, { consent: false }) })).body.outcome).toBe('no_consent');
    expect(env.partnerize.requests).toHaveLength(1);
  });

  it('a click with consent false is not recorded (204)', async () => {
    const session = uniq('sess');
    expect((await env.click({ body: { sessionId: session, clickref: 'NoCon', consent: false } })).statusCode).toBe(204);
    expect(await env.deps.clicks.get(session)).toBeUndefined();
  });
});

describe('auth', () => {
  it('a wrong or missing token is a 401 and nothing is stored', async () => {
    const orderId = uniq('ORD');
    for (const authorization of [
      'Bearer nope',
      `Bearer ${TOKEN}x`,
      '',
      `Basic ${Buffer.from(`u:wrong`).toString('base64')}`,
      `Token ${TOKEN}`,
    ]) {
      const r = await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Auth1' }), headers: { authorization } });
      expect(r.statusCode, authorization).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
    }
    expect(await record(orderId)).toBeUndefined();
    expect(env.partnerize.requests).toHaveLength(0);
  });

  it('Basic auth with any user name and the token as password works (Tealium)', async () => {
    const r = await env.postback({
      body: order(uniq('ORD'), uniq('s'), { clickref: 'Auth2' }),
      headers: { authorization: `Basic ${Buffer.from(`tealium:${TOKEN}`).toString('base64')}` },
    });
    expect(r.statusCode).toBe(202);
  });
});

describe('bad input: a 400 naming the field, nothing stored', () => {
  const cases: Array<[string, unknown, string]> = [
    ['missing orderId', { event: 'purchase', currency: 'GBP', items: [{ value: 1 }] }, 'orderId'],
    ['bad currency', { orderId: 'X', currency: 'pounds', items: [{ value: 1 }] }, 'currency'],
    ['no items', { orderId: 'X', currency: 'GBP', items: [] }, 'items'],
    ['negative value', { orderId: 'X', currency: 'GBP', items: [{ value: -1 }] }, 'items[0].value'],
    ['bad quantity', { orderId: 'X', currency: 'GBP', items: [{ value: 1 }, { value: 2, quantity: 0 }] }, 'items[1].quantity'],
    ['bad clickref', { orderId: 'X', currency: 'GBP', clickref: 'a b', items: [{ value: 1 }] }, 'clickref'],
    ['metadata key', { orderId: 'X', currency: 'GBP', metadata: { Colour: 'x' }, items: [{ value: 1 }] }, 'metadata.Colour'],
    [
      'reserved metadata key',
      { orderId: 'X', currency: 'GBP', items: [{ value: 1, metadata: { clickref: 'x' } }] },
      'items[0].metadata.clickref',
    ],
    ['zone-less time', { orderId: 'X', currency: 'GBP', orderTime: '2026-11-24 10:00', items: [{ value: 1 }] }, 'orderTime'],
  ];
  it.each(cases)('%s', async (_name, body, field) => {
    const orderId = uniq('BAD');
    const r = await env.postback({ body: { ...(body as object), orderId: (body as { orderId?: string }).orderId && orderId } });
    expect(r.statusCode).toBe(400);
    expect(r.body.error).toMatchObject({ field });
    expect(typeof r.body.error.code).toBe('string');
    expect(r.body.error.message).toContain(field);
    expect(await record(orderId)).toBeUndefined();
  });

  it('unparseable JSON, an array, an empty body', async () => {
    expect((await env.postback({ body: '{"orderId": ' })).body.error).toMatchObject({ code: 'invalid_json', field: 'body' });
    expect((await env.postback({ body: '[1]' })).statusCode).toBe(400);
    expect((await env.postback({ method: 'POST', body: '' })).body.error).toMatchObject({ code: 'missing_body', field: 'body' });
  });

  it('an order too large to store is a 413 naming the cause, not a 503 that Tealium would retry in vain', async () => {
    const handler = createPostbacksHandler({ ...env.deps, tokens: staticTokens(TOKEN), maxBodyBytes: 1_048_576 });
    const orderId = uniq('HUGE');
    const items = Array.from({ length: 420 }, (_, i) => ({ sku: `S${i}`, value: 1, metadata: { note: 'x'.repeat(1000) } }));
    const body = JSON.stringify({ event: 'purchase', orderId, currency: 'GBP', consent: true, items });
    const r = (await handler(
      httpEvent({ path: '/postbacks', body, headers: { authorization: `Bearer ${TOKEN}` } }),
      lambdaContext('postbacks', 10_000),
    ))!;
    expect(r.statusCode).toBe(413);
    expect(JSON.parse(r.body!).error).toMatchObject({ code: 'order_too_large', field: 'body' });
    expect(await record(orderId)).toBeUndefined();
  });

  it('dryRun must be a JSON boolean', async () => {
    const r = await env.postback({ body: order(uniq('ORD'), uniq('s'), { clickref: 'Dr1', dryRun: 'yes' }) });
    expect(r.body.error).toMatchObject({ field: 'dryRun' });
    expect((await env.postback({ body: order(uniq('ORD'), uniq('s'), { clickref: 'Dr2', dryRun: true }) })).body.outcome).toBe('dry_run');
    expect(env.partnerize.requests).toHaveLength(0);
  });

  it('a body over the limit is a 413', async () => {
    const r = await env.postback({ body: { orderId: 'X', pad: 'x'.repeat(300_000) } });
    expect(r.statusCode).toBe(413);
  });
});

describe('purchase filter, shapes and modes', () => {
  it('a non-purchase event is ignored and nothing is stored (support question Q2)', async () => {
    const r = await env.postback({ body: tealiumPurchase({ udo: { tealium_event: 'add_to_cart', order_id: 'IGN-1' } }) });
    expect(r).toMatchObject({ statusCode: 202, body: { conversionRef: null, outcome: 'ignored' } });
    expect(await record('IGN-1')).toBeUndefined();
    expect((await env.postback({ body: { event: 'page_view', orderId: 'IGN-2' } })).body.outcome).toBe('ignored');
  });

  it('Tealium page view click + Tealium purchase, by GET data= and by form POST', async () => {
    const visitor = uniq('visitor').padEnd(32, '0');
    const pv = tealiumPageView({ tealium_visitor_id: visitor });
    expect((await env.click({ body: pv })).statusCode).toBe(204);
    const p1 = tealiumPurchase({ udo: { tealium_visitor_id: visitor, order_id: uniq('T') } });
    const r1 = await env.postback({ method: 'GET', query: { data: JSON.stringify(p1) } });
    expect(r1.body.outcome).toBe('sent');
    const p2 = tealiumPurchase({ udo: { tealium_visitor_id: visitor, order_id: uniq('T') } });
    const r2 = await env.postback({
      body: new URLSearchParams({ data: JSON.stringify(p2) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8', authorization: `Bearer ${TOKEN}` },
    });
    expect(r2.body.outcome).toBe('sent');
    expect(env.partnerize.requests).toHaveLength(2);
    for (const req of env.partnerize.requests) {
      expect(req.url).toContain('/clickref:AbC123xYz/');
      expect(req.url).toContain(
        '/[category:shoes/sku:SKU-1/value:19.99/quantity:2]/[category:accessories/sku:SKU-2/value:24.99/quantity:1]',
      );
      expect(req.url).toContain('/voucher:SUMMER10/conversion_time:2026-11-24%2010%3A15%3A00/device:mobile');
    }
  });

  it('dry run records the exact call and sends nothing', async () => {
    env.configure({ PARTNERIZE_MODE: 'dryrun' });
    const orderId = uniq('ORD');
    const r = await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Dry1' }) });
    expect(r.body).toEqual({ conversionRef: orderId, outcome: 'dry_run' });
    expect(env.partnerize.requests).toHaveLength(0);
    const rec = await record(orderId);
    expect(rec!.status).toBe('dry_run');
    expect(rec!.request!.url).toContain(`/clickref:Dry1/conversionref:${orderId}/`);
  });
});

describe('Partnerize answers', () => {
  it('a 5xx leaves the record owed: queued, with dueAt on the schedule', async () => {
    env.partnerize.setDefault({ status: 503, body: 'busy' });
    const orderId = uniq('ORD');
    const r = await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Q1' }) });
    expect(r.body.outcome).toBe('queued');
    const rec = await record(orderId);
    expect(rec).toMatchObject({ status: 'queued', dueShard: 'owed', retries: 1, dueAt: env.clock.now() + 60_000 });
    expect(rec!.attempts[0]).toMatchObject({ result: 'retryable', status: 503, body: 'busy' });
  });

  it('a 4xx is rejected: kept, not owed', async () => {
    env.partnerize.setDefault({ status: 400, body: 'bad conversion' });
    const orderId = uniq('ORD');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'R1' }) })).body.outcome).toBe('rejected');
    const rec = await record(orderId);
    expect(rec).toMatchObject({ status: 'rejected' });
    expect(rec!.dueAt).toBeUndefined();
  });

  it('a hanging Partnerize times out inside the inline budget and the send stays owed', async () => {
    env.configure({ INLINE_TIMEOUT_MS: '300' });
    env.partnerize.setDefault({ hang: true });
    const orderId = uniq('ORD');
    const started = Date.now();
    const r = await env.postback({ body: order(orderId, uniq('s'), { clickref: 'H1' }) });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(r.body.outcome).toBe('queued');
    expect((await record(orderId))!.attempts[0]).toMatchObject({ result: 'retryable', error: 'timeout' });
  });

  it('a refused connection is retryable, and the attempt keeps its cause and host', async () => {
    const port = await freePort();
    env.configure({ PARTNERIZE_BASE_URL: `http://127.0.0.1:${port}` });
    const orderId = uniq('ORD');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'C1' }) })).body.outcome).toBe('queued');
    expect((await record(orderId))!.attempts[0]).toMatchObject({
      result: 'retryable',
      error: 'connection',
      cause: 'refused',
      host: `127.0.0.1:${port}`,
    });
    expect((await record(orderId))!.attempts[0]!.uncertain).toBe(false);
  });
  it('a port fetch never calls (a wrong base URL) is said as such, and never "may have landed"', async () => {
    env.configure({ PARTNERIZE_BASE_URL: 'http://127.0.0.1:9' });
    const orderId = uniq('ORD');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'C1' }) })).body.outcome).toBe('queued');
    expect((await record(orderId))!.attempts[0]).toMatchObject({
      result: 'retryable',
      cause: 'bad_port',
      host: '127.0.0.1:9',
      uncertain: false,
    });
  });
});

describe('logs', () => {
  it('hold ids and outcomes, never the token, user agents, or whole payloads', async () => {
    const session = uniq('sess');
    await env.click({ body: { sessionId: session, clickref: 'Log1', userAgent: IPHONE_UA } });
    await env.postback({ body: order(uniq('ORD'), session, { userAgent: IPHONE_UA, metadata: { email_hash: 'x' } }) });
    await env.postback({ body: order(uniq('ORD'), session), headers: { authorization: 'Bearer leaked-guess' } });
    const text = JSON.stringify(env.log.lines);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('leaked-guess');
    expect(text).not.toContain('iPhone');
    expect(text).not.toContain('SKU-1');
  });
});

describe('orders the tracker must not lose or double by its own hand', () => {
  it('numeric order ids above 2^53 keep their digits: two ids that round to the same double are two orders', async () => {
    const r1 = await env.postback({
      body: '{"event":"purchase","orderId":9007199254740993,"clickref":"Big1","currency":"GBP","consent":true,"items":[{"value":5}]}',
    });
    const r2 = await env.postback({
      body: '{"event":"purchase","orderId":9007199254740992,"clickref":"Big1","currency":"GBP","consent":true,"items":[{"value":5}]}',
    });
    expect(r1.body).toEqual({ conversionRef: '9007199254740993', outcome: 'sent' });
    expect(r2.body).toEqual({ conversionRef: '9007199254740992', outcome: 'sent' });
    expect(env.partnerize.paths[0]).toContain('/conversionref:9007199254740993/');
    const tealium = JSON.stringify(
      tealiumPurchase({ udo: { order_id: 'PLACEHOLDER', tealium_visitor_id: uniq('v').padEnd(32, '0') } }),
    ).replace('"PLACEHOLDER"', '100000000000000001');
    const r3 = await env.postback({ body: tealium });
    expect(r3.body.conversionRef).toBe('100000000000000001');
  });

  it('a basket whose call would be too long (150 ordinary items) is sent condensed, and the record keeps the order', async () => {
    const orderId = uniq('BIG');
    const items = Array.from({ length: 150 }, (_, i) => ({
      sku: `SKU-${100000 + i}`,
      category: i % 2 ? 'shoes' : 'socks',
      value: '19.99',
      quantity: 1,
    }));
    const r = await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Big1', items }) });
    expect(r.body).toEqual({ conversionRef: orderId, outcome: 'sent' });
    const url = env.partnerize.requests[0]!.url;
    expect(url.length).toBeLessThan(8000);
    expect(url).toContain('/[category:socks/value:1499.25/quantity:1]/[category:shoes/value:1499.25/quantity:1]');
    const rec = await record(orderId);
    expect(rec).toMatchObject({ status: 'sent', compaction: 'category', orderValue: '2998.5', itemCount: 150 });
    expect(rec!.call!.items).toHaveLength(150);
  });

  it('an order with only its total (native value; Tealium order_subtotal) is one item of quantity 1', async () => {
    const orderId = uniq('TOT');
    const r = await env.postback({
      body: { event: 'purchase', orderId, clickref: 'Tot1', currency: 'GBP', consent: true, value: '49.50' },
    });
    expect(r.body).toEqual({ conversionRef: orderId, outcome: 'sent' });
    expect(env.partnerize.requests[0]!.url).toMatch(/\/currency:GBP\/.*\[value:49\.50\/quantity:1\]$/);
    env.configure({ ORDER_TOTAL_CATEGORY: 'subscription' });
    const t = tealiumPurchase({
      udo: {
        order_id: uniq('TT'),
        tealium_visitor_id: uniq('v').padEnd(32, '0'),
        product_id: [],
        product_sku: [],
        product_category: [],
        product_price: [],
        product_quantity: [],
        product_name: [],
      },
    });
    const r2 = await env.postback({ body: t });
    expect(r2.body.outcome).toBe('unattributed'); // no click for this visitor: the call spec is kept

    const rec = await record(r2.body.conversionRef);
    expect(rec).toMatchObject({ itemCount: 1, orderValue: '64.97' });
    expect(rec!.call?.items ?? []).toEqual([{ category: 'subscription', value: '64.97', quantity: 1 }]);
  });

  it('neither items nor a total stays a 400 naming items', async () => {
    const r = await env.postback({ body: { event: 'purchase', orderId: uniq('NONE'), currency: 'GBP', consent: true } });
    expect(r.statusCode).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'missing_field', field: 'items' });
  });

  it('event names match trimmed and case-insensitively; an ignored answer says why and what counts', async () => {
    for (const event of ['Purchase', ' purchase', 'PURCHASE ']) {
      const orderId = uniq('CASE');
      expect((await env.postback({ body: order(orderId, uniq('s'), { event, clickref: 'Case1' }) })).body).toEqual({
        conversionRef: orderId,
        outcome: 'sent',
      });
    }
    const r = await env.postback({ body: order(uniq('IGN'), uniq('s'), { event: 'checkout_started' }) });
    expect(r.body).toEqual({
      conversionRef: null,
      outcome: 'ignored',
      reason: "event 'checkout_started' is not a purchase event",
      purchaseEvents: ['purchase'],
    });
    expect(env.metrics.get('PostbacksIgnored')).toBeGreaterThan(0);
  });

  it("a Tealium form that sent the event under another name than data= is a 400 naming data, not an 'ignored'", async () => {
    const r = await env.postback({
      body: new URLSearchParams({ event: JSON.stringify(tealiumPurchase()) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${TOKEN}` },
    });
    expect(r.statusCode).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'missing_field', field: 'data' });
    expect((await env.postback({ method: 'GET', query: { event: 'purchase' } })).body.error).toMatchObject({ field: 'data' });
  });
});

describe('a postback that does not use the order up: dry runs, no consent, no clickref', () => {
  it('a dry-run postback, then the real one: the real one is sent, and the dry run stays in its history', async () => {
    const orderId = uniq('DRY');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Dr3', dryRun: true }) })).body.outcome).toBe('dry_run');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Dr3' }) })).body).toEqual({
      conversionRef: orderId,
      outcome: 'sent',
    });
    expect(env.partnerize.requestsFor(orderId)).toHaveLength(1);
    const rec = await record(orderId);
    expect(rec!.status).toBe('sent');
    expect(rec!.history).toEqual([expect.objectContaining({ status: 'dry_run', request: expect.objectContaining({ method: 'GET' }) })]);
    // A dry run never replaces a real record, and a repeat of the real one is a duplicate.
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Dr3', dryRun: true }) })).body.outcome).toBe('duplicate');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Dr3' }) })).body.outcome).toBe('duplicate');
  });

  it('no consent (a data-layer bug), then the corrected postback with consent: sent; the consent decisions are on record', async () => {
    const orderId = uniq('NOC');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Nc1', consent: false }) })).body.outcome).toBe('no_consent');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Nc1', consent: false }) })).body.outcome).toBe('duplicate');
    expect(env.partnerize.requests).toHaveLength(0);
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Nc1', consent: true }) })).body.outcome).toBe('sent');
    const rec = await record(orderId);
    expect(rec).toMatchObject({ status: 'sent', consent: true });
    expect(rec!.history).toEqual([expect.objectContaining({ status: 'no_consent', consent: false, consentPolicy: 'required' })]);
  });

  it('unattributed, then a postback that carries the clickref: sent once', async () => {
    const orderId = uniq('UNA');
    expect((await env.postback({ body: order(orderId, uniq('s')) })).body.outcome).toBe('unattributed');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Late1' }) })).body.outcome).toBe('sent');
    expect((await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Late1' }) })).body.outcome).toBe('duplicate');
    expect(env.partnerize.requestsFor(orderId)).toHaveLength(1);
  });

  it('concurrent corrected postbacks replace the record once: one send', async () => {
    const orderId = uniq('RACE');
    await env.postback({ body: order(orderId, uniq('s'), { clickref: 'Rc1', consent: false }) });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => env.postback({ body: order(orderId, uniq('s'), { clickref: 'Rc1' }) })),
    );
    expect(answers.filter((a) => a.body.outcome === 'sent')).toHaveLength(1);
    expect(answers.filter((a) => a.body.outcome === 'duplicate')).toHaveLength(9);
    expect(env.partnerize.requestsFor(orderId)).toHaveLength(1);
  });
});
