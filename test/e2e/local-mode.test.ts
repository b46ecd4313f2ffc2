/**
 * End to end over HTTP through the local mode that `npm start` runs, with Partnerize as a real
 * recording server on 127.0.0.1.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';
import { tealiumPageView, tealiumPurchase, IPHONE_UA } from '../fixtures/tealium.js';

const TOKEN = 'e2e-token-abcdef';
let partnerize: FakePartnerize;
let local: LocalProcess;

beforeAll(async () => {
  partnerize = await FakePartnerize.start();
  local = await startLocalProcess({
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: partnerize.url,
    PARTNERIZE_CAMPAIGN_ID: '1011l270',
    POSTBACK_TOKEN: TOKEN,
    RETRY_DELAYS_S: '0.2,0.4',
    SWEEP_INTERVAL_S: '0.2',
  });
});
afterAll(async () => {
  await local?.stop();
  await partnerize?.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${local.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const auth = { authorization: `Bearer ${TOKEN}` };

/** A request with headers fetch would not let us forge (Host). */
function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The demo product page's form fields (the checkout form posts them back). */
async function productForm(base: string): Promise<URLSearchParams> {
  const html = await (await fetch(`${base}/demo/product`)).text();
  return new URLSearchParams([...html.matchAll(/<input[^>]*name="(\w+)"[^>]*value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

describe('npm start', () => {
  it('prints both routes, the mode, the token and a ready line', () => {
    const out = local.output();
    expect(out).toContain(`${local.url}/clicks`);
    expect(out).toContain(`${local.url}/postbacks`);
    expect(out).toMatch(/mode:\s+live/);
    expect(out).toContain(TOKEN);
    expect(out).toMatch(/Ready: listening on http:\/\/127\.0\.0\.1:\d+/);
  });

  it('prints hints that work on the port it really listens on (not 3000)', () => {
    const out = local.output();
    expect(local.url).not.toBe('http://127.0.0.1:3000');
    expect(out).toContain(`PZ_LOCAL_URL=${local.url}`);
    expect(out).toContain(`npm run pz -- lookup <orderId> --local ${local.url}`);
    expect(out).not.toContain(':3000');
  });

  it('click then postback: 204, 202 sent, and Partnerize receives the exact clickref', async () => {
    expect((await post('/clicks', { sessionId: 'e2e-session-0001', clickref: 'AbC123xYz' }, { 'user-agent': IPHONE_UA })).status).toBe(204);
    const r = await post(
      '/postbacks',
      {
        event: 'purchase',
        orderId: 'E2E-1',
        sessionId: 'e2e-session-0001',
        currency: 'GBP',
        consent: true,
        items: [{ sku: 'A', category: 'c', value: '10.00', quantity: 1 }],
      },
      auth,
    );
    expect(r.status).toBe(202);
    expect(await r.json()).toEqual({ conversionRef: 'E2E-1', outcome: 'sent' });
    const [req] = await partnerize.waitForRequests(1);
    expect(req!.url).toMatch(
      /^\/conversion\/tracking_mode:api\/campaign:1011l270\/clickref:AbC123xYz\/conversionref:E2E-1\/currency:GBP\//,
    );
    expect(req!.url).toContain('/device:mobile/');
  });

  it('GET /clicks and GET /postbacks?data= work as the contract says', async () => {
    const c = await fetch(`${local.url}/clicks?sessionId=e2e-session-0002&clickref=GeT_Ref-2`);
    expect(c.status).toBe(204);
    const data = encodeURIComponent(
      JSON.stringify({ orderId: 'E2E-2', sessionId: 'e2e-session-0002', currency: 'EUR', consent: true, items: [{ value: 5 }] }),
    );
    const p = await fetch(`${local.url}/postbacks?data=${data}`, { headers: auth });
    expect(await p.json()).toEqual({ conversionRef: 'E2E-2', outcome: 'sent' });
    expect(partnerize.requests.some((r) => r.url.includes('/clickref:GeT_Ref-2/conversionref:E2E-2/'))).toBe(true);
  });

  it('Tealium events through the webhook shapes', async () => {
    const before = partnerize.requests.length;
    const visitor = 'e2etealiumvisitor000000000000001';
    expect((await post('/clicks', tealiumPageView({ tealium_visitor_id: visitor }))).status).toBe(204);
    const r = await post('/postbacks', tealiumPurchase({ udo: { tealium_visitor_id: visitor, order_id: 'E2E-T1' } }), {
      authorization: `Basic ${Buffer.from(`tealium:${TOKEN}`).toString('base64')}`,
    });
    expect(await r.json()).toEqual({ conversionRef: 'E2E-T1', outcome: 'sent' });
    await partnerize.waitForRequests(before + 1);
    expect(partnerize.requests.at(-1)!.url).toContain('/clickref:AbC123xYz/conversionref:E2E-T1/');
  });

  it('answers 400 with the field, 401 without the token, 404 elsewhere', async () => {
    const bad = await post('/clicks', { sessionId: 'e2e-session-0003', clickref: '' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: unknown }).error).toMatchObject({ field: 'clickref' });
    expect((await post('/postbacks', { orderId: 'X' })).status).toBe(401);
    expect((await fetch(`${local.url}/nope`)).status).toBe(404);
  });

  it('answers CORS preflights for /clicks', async () => {
    const r = await fetch(`${local.url}/clicks`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
    });
    expect(r.status).toBe(204);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('hostile input through the local server: never a 5xx', async () => {
    const huge = await fetch(`${local.url}/postbacks`, { method: 'POST', headers: auth, body: 'x'.repeat(11 * 1024 * 1024) }).catch(
      () => undefined,
    );
    if (huge) expect(huge.status).toBe(413);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect((await post('/postbacks', deep, auth)).status).toBe(400); // 200 KB of nesting: parsed, refused
    expect((await post('/postbacks', '['.repeat(5000) + ']'.repeat(5000), auth)).status).toBe(400);
    const proto = await post(
      '/postbacks',
      '{"orderId":"P1","currency":"GBP","clickref":"X1","consent":true,"items":[{"value":1}],"metadata":{"__proto__":"x"}}',
      auth,
    );
    expect(proto.status).toBe(400);
    const binary = await fetch(`${local.url}/clicks`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from([0xff, 0xfe, 0x00, 0x7b]),
    });
    expect(binary.status).toBe(400);
    const bad = await fetch(`${local.url}/postbacks?data=%E0%A4%A`, { headers: auth });
    expect(bad.status).toBe(400);
  });

  it('decodes strictly: bytes that are not UTF-8 are a 400 (never one order id for two), a BOM or gzip body is read', async () => {
    const order = (id: string) => ({ orderId: id, currency: 'GBP', clickref: 'StRiCt1', consent: true, items: [{ value: '5.00' }] });
    const withBytes = (id: Buffer) =>
      Buffer.concat([Buffer.from('{"orderId":"U8-'), id, Buffer.from('","currency":"GBP","clickref":"X1","items":[{"value":1}]}')]);
    for (const id of [Buffer.from([0xff]), Buffer.from([0xfe])]) {
      const r = await fetch(`${local.url}/postbacks`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: withBytes(id),
      });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: unknown }).error).toMatchObject({ code: 'invalid_utf8', field: 'body' });
    }
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(order('BOM-1')))]);
    const r1 = await fetch(`${local.url}/postbacks`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: bom,
    });
    expect(r1.status).toBe(202);
    const zipped = gzipSync(JSON.stringify(order('GZIP-1')));
    const r2 = await fetch(`${local.url}/postbacks`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: zipped,
    });
    expect(r2.status).toBe(202);
    expect(await r2.json()).toMatchObject({ conversionRef: 'GZIP-1' });
    const latin1 = await post('/postbacks', order('L1'), { ...auth, 'content-type': 'application/json; charset=iso-8859-1' });
    expect(latin1.status).toBe(415);
    expect(((await latin1.json()) as { error: unknown }).error).toMatchObject({ code: 'unsupported_charset', field: 'content-type' });
  });

  it('a retryable failure is retried by the local sweep', async () => {
    partnerize.respondWith({ status: 500, body: 'down' });
    const r = await post(
      '/postbacks',
      { orderId: 'E2E-R1', clickref: 'Retry1', currency: 'GBP', consent: true, items: [{ value: 1 }] },
      auth,
    );
    expect(await r.json()).toEqual({ conversionRef: 'E2E-R1', outcome: 'queued' });
    const deadline = Date.now() + 10_000;
    while (partnerize.requests.filter((q) => q.url.includes('conversionref:E2E-R1/')).length < 2) {
      if (Date.now() > deadline) throw new Error('not retried');
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(partnerize.requests.filter((q) => q.url.includes('conversionref:E2E-R1/'))).toHaveLength(2);
  });
});

describe('local-only routes are for this machine only', () => {
  const port = () => new URL(local.url).port;

  it('/_local/info answers only to Host 127.0.0.1:<port> or localhost:<port> (DNS rebinding)', async () => {
    for (const host of ['evil.example', `evil.example:${port()}`, `127.0.0.1.nip.io:${port()}`, '127.0.0.1:1', 'localhost']) {
      const r = await raw(`${local.url}/_local/info`, { headers: { host } });
      expect(r.status, host).toBe(421);
      expect(r.body, host).not.toContain(TOKEN);
    }
    for (const host of [`127.0.0.1:${port()}`, `localhost:${port()}`, `LOCALHOST:${port()}`]) {
      const r = await raw(`${local.url}/_local/info`, { headers: { host } });
      expect(r.status, host).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ token: TOKEN });
    }
    expect((await raw(`${local.url}/demo/product`, { headers: { host: 'evil.example' } })).status).toBe(421);
  });

  it('refuses a cross-site Origin on /_local/* and /demo/*', async () => {
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1:1', `http://evil.example:${port()}`]) {
      const info = await raw(`${local.url}/_local/info`, { headers: { origin } });
      expect(info.status, origin).toBe(403);
      expect(info.body, origin).not.toContain(TOKEN);
      expect((await raw(`${local.url}/demo/product`, { headers: { origin } })).status, origin).toBe(403);
    }
    for (const origin of [local.url, `http://localhost:${port()}`]) {
      expect((await raw(`${local.url}/_local/info`, { headers: { origin } })).status, origin).toBe(200);
    }
  });

  it('a cross-site form cannot make the demo checkout send a conversion', async () => {
    const before = partnerize.requests.length;
    const form = (await productForm(local.url)).toString();
    const r = await raw(`${local.url}/demo/checkout`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    expect(r.status).toBe(403);
    await new Promise((res) => setTimeout(res, 300));
    expect(partnerize.requests.length).toBe(before);
  });

  it('the demo checkout requires the postback token in live mode (the product page carries it)', async () => {
    const before = partnerize.requests.length;
    const noToken = await raw(`${local.url}/demo/checkout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'sku=TR2-42&price=89.00&quantity=1',
    });
    expect(noToken.status).toBe(403);
    const wrong = await raw(`${local.url}/demo/checkout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'sku=TR2-42&price=89.00&quantity=1&token=guess',
    });
    expect(wrong.status).toBe(403);
    await new Promise((res) => setTimeout(res, 300));
    expect(partnerize.requests.length).toBe(before);

    const form = await productForm(local.url);
    expect(form.get('token')).toBe(TOKEN);
    const ok = await raw(`${local.url}/demo/checkout`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: local.url,
        cookie: 'demo_consent=yes',
        'user-agent': IPHONE_UA,
      },
      body: form.toString(),
    });
    expect(ok.status).toBe(200);
    // No click for this anonymous session: stored, not sent — but accepted, and the hint uses the real URL.
    expect(ok.body).toMatch(/id="outcome">unattributed</);
    expect(ok.body).toMatch(new RegExp(`npm run pz -- lookup DEMO-[\\w-]+ --local ${local.url.replace(/[.]/g, '\\.')}`));
  });
});

describe('connection cap', () => {
  it('holds at most MAX_CONNECTIONS connections at once; others are refused, and it recovers', async () => {
    const p = await startLocalProcess({ MAX_CONNECTIONS: '3' });
    const { port } = new URL(p.url);
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = connect(Number(port), '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
    const answers = (s: Socket): Promise<boolean> =>
      new Promise((resolve) => {
        let got = '';
        s.on('data', (d: Buffer) => (got += d.toString()));
        s.on('error', () => undefined);
        s.on('close', () => resolve(got.startsWith('HTTP/1.1 ')));
        s.write(`GET /_local/info HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      });
    try {
      const held = await Promise.all([open(), open(), open()]);
      await new Promise((res) => setTimeout(res, 200));
      expect(await answers(await open())).toBe(false); // the fourth is dropped
      for (const s of held) s.destroy();
      await new Promise((res) => setTimeout(res, 200));
      expect(await answers(await open())).toBe(true);
      expect(p.output()).toMatch(/MAX_CONNECTIONS/);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('refuses a MAX_CONNECTIONS that is not a positive integer', async () => {
    const started = await startLocalProcess({ MAX_CONNECTIONS: 'lots' }).catch((err: Error) => err);
    if (!(started instanceof Error)) await started.stop();
    expect(started).toBeInstanceOf(Error);
    expect((started as Error).message).toMatch(/exited \(1\)[\s\S]*MAX_CONNECTIONS/);
  });
});

describe('npm start defaults', () => {
  it('generates and prints a token, and runs in dry-run mode unless told otherwise', async () => {
    const p = await startLocalProcess({});
    try {
      const out = p.output();
      expect(out).toMatch(/mode:\s+dryrun/);
      const token = /token:\s+(\S+)\s+\(generated/.exec(out)?.[1];
      expect(token).toBeTruthy();
      const r = await fetch(`${p.url}/postbacks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ orderId: 'D-1', clickref: 'Dry', currency: 'GBP', consent: true, items: [{ value: 1 }] }),
      });
      expect(await r.json()).toEqual({ conversionRef: 'D-1', outcome: 'dry_run' });

      // The demo shop works in dry run too: a click for the session, then the product page's form.
      await fetch(`${p.url}/clicks`, {
        method: 'POST',
        headers: { 'user-agent': IPHONE_UA },
        body: JSON.stringify({ sessionId: 'demo-dry-session-01', clickref: 'DryDemo1' }),
      });
      const checkout = await raw(`${p.url}/demo/checkout`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: p.url,
          cookie: 'demo_consent=yes; pz_session=demo-dry-session-01',
        },
        body: (await productForm(p.url)).toString(),
      });
      expect(checkout.status).toBe(200);
      expect(checkout.body).toMatch(/id="outcome">dry_run</);
      expect(checkout.body).toContain('clickref:DryDemo1');
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });
});
