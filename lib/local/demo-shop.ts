/**
 * A tiny demo shop served by the local mode, to click through the whole flow in a browser:
 * an affiliate landing page (with a consent banner and the capture snippet), a product, and a
 * checkout whose server side posts the order to /postbacks — as a brand's backend or Tealium would —
 * and shows the resulting Partnerize call.
 *
 * The checkout posts with the postback token, so it must not become a way around it: it takes the
 * order only with the token in the form. The product page (same origin, so only this machine's
 * browser can read it) carries it in a hidden field; a form on another site cannot know it. This
 * keeps the demo working in both modes (a forced dry run would hide what live mode does).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readCookie } from '../snippet/capture.js';
import type { SnippetBuild } from '../snippet/build.js';
import type { ConversionRecord } from '#lambdas/core/model.js';
import { matchesAny } from '#lambdas/core/auth.js';
import { pzCommand } from './cli-hint.js';

export interface DemoShopOptions {
  /** The local API base URL (for the server-side postback). */
  apiUrl: () => string;
  /** The postback token: the checkout posts with it, and takes an order only when the form has it. */
  token: string;
  snippet: SnippetBuild;
  /** Reads a conversion record (to show the exact call on the confirmation page). */
  conversion: (ref: string) => Promise<ConversionRecord | undefined>;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title: string, body: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Acme Running (demo)</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}
header{display:flex;justify-content:space-between;align-items:baseline;border-bottom:1px solid #ddd;margin-bottom:1rem}
.banner{position:fixed;left:0;right:0;bottom:0;background:#113;color:#fff;padding:1rem;display:flex;gap:1rem;align-items:center;justify-content:center}
button{font:inherit;padding:.4rem 1rem;cursor:pointer}
code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px;word-break:break-all;white-space:pre-wrap}
.muted{color:#666;font-size:.9rem}
</style></head><body>
<header><h1><a href="/demo/">Acme Running</a></h1><span class="muted">a demo shop of the Partnerize S2S tracker</span></header>
${body}
</body></html>`;

const landing = (): string =>
  page(
    'Welcome',
    `<h2>Trail shoes, straight from our partners</h2>
<p>You arrived through an affiliate link. The capture snippet reads <code>clickref</code> from this
page's URL, keeps it in a first-party cookie and reports it to <code>/clicks</code> — once you
allow affiliate tracking.</p>
<p id="status" class="muted">Waiting for your consent choice…</p>
<p><a id="to-product" href="/demo/product">See the Trail Runner 2 →</a></p>
<div class="banner" id="consent-banner" hidden>
  <span>Allow affiliate tracking (Partnerize)?</span>
  <button id="consent-accept">Accept</button><button id="consent-refuse">Refuse</button>
</div>
<script src="/demo/pz-capture.js"></script>
<script>
function consentChoice() {
  var m = /(?:^|; )demo_consent=(yes|no)/.exec(document.cookie);
  if (m) return Promise.resolve(m[1] === 'yes');
  var banner = document.getElementById('consent-banner');
  banner.hidden = false;
  return new Promise(function (resolve) {
    function choose(yes) {
      document.cookie = 'demo_consent=' + (yes ? 'yes' : 'no') + '; Path=/; Max-Age=2592000; SameSite=Lax';
      banner.hidden = true;
      resolve(yes);
    }
    document.getElementById('consent-accept').onclick = function () { choose(true); };
    document.getElementById('consent-refuse').onclick = function () { choose(false); };
  });
}
PzCapture.capture({ endpoint: '/clicks', consent: consentChoice }).then(function (r) {
  var s = document.getElementById('status');
  s.textContent = r.sent ? 'Click recorded for clickref ' + r.clickref + ' (session ' + r.sessionId + ').'
    : r.skipped === 'no-consent' ? 'Affiliate tracking refused: nothing stored, nothing sent.'
    : r.skipped === 'no-clickref' ? 'No clickref in this URL: add ?clickref=AbC123xYz.'
    : 'Not recorded (' + (r.skipped || 'no transport') + ').';
  document.body.dataset.capture = r.sent ? 'recorded' : (r.skipped || 'none');
});
</script>`,
  );

const product = (token: string): string =>
  page(
    'Trail Runner 2',
    `<h2>Trail Runner 2</h2>
<p>Light, grippy, and exactly £89.00.</p>
<form method="post" action="/demo/checkout">
  <label>Quantity <input name="quantity" type="number" min="1" value="1"></label>
  <input type="hidden" name="sku" value="TR2-42"><input type="hidden" name="price" value="89.00">
  <input type="hidden" name="token" value="${esc(token)}">
  <button id="buy" type="submit">Buy now</button>
</form>`,
  );

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) {
    body += chunk as string;
    if (body.length > 10_000) break;
  }
  return new URLSearchParams(body);
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

const HTML = 'text/html; charset=utf-8';
const SCRIPT = 'text/javascript; charset=utf-8';

const notFromThisShop = (): string =>
  page(
    'Not from this shop',
    `<h2>This checkout only takes orders from the shop's own product page</h2>
<p>The form did not carry the postback token. <a href="/demo/product">Back to the product</a></p>`,
  );

/** The order the brand's backend posts: the product form, with the shopper's session and consent. */
function orderOf(form: URLSearchParams, req: IncomingMessage) {
  const cookies = req.headers.cookie ?? '';
  const consentCookie = readCookie(cookies, 'demo_consent');
  const quantity = Math.max(1, Math.min(99, Number(form.get('quantity')) || 1));
  return {
    event: 'purchase',
    orderId: `DEMO-${Date.now().toString(36).toUpperCase()}-${randomBytes(2).toString('hex').toUpperCase()}`,
    sessionId: readCookie(cookies, 'pz_session') ?? `demo-anonymous-${randomBytes(8).toString('hex')}`,
    currency: 'GBP',
    country: 'GB',
    customerType: 'new',
    ...(consentCookie ? { consent: consentCookie === 'yes' } : {}),
    userAgent: req.headers['user-agent'],
    items: [{ sku: form.get('sku') ?? 'TR2-42', category: 'shoes', value: form.get('price') ?? '89.00', quantity }],
    metadata: { store: 'demo' },
  };
}

interface PostbackAnswer {
  conversionRef?: string;
  outcome?: string;
  error?: { message: string };
}

/** The confirmation: the tracker's answer, the clickref it found, the exact Partnerize call. */
const thankYou = (o: DemoShopOptions, orderId: string, status: number, result: PostbackAnswer, record: ConversionRecord | undefined) =>
  page(
    'Thank you',
    `<h2>Thank you for your order</h2>
<p>Order <code id="order-id">${esc(orderId)}</code> — the tracker answered
<code id="outcome">${esc(result.outcome ?? `HTTP ${status}`)}</code>${result.error ? ` (${esc(result.error.message)})` : ''}.</p>
<p>Clickref: <code id="clickref">${esc(record?.clickref ?? '—')}</code> (${esc(record?.clickrefSource ?? 'none')})</p>
<p>Partnerize call:</p><pre id="call">${esc(record?.request ? `${record.request.method} ${record.request.url}` : '— (nothing to send)')}</pre>
<p class="muted">The whole story: <code>${esc(pzCommand(o.apiUrl(), `lookup ${orderId}`))}</code></p>
<p><a href="/demo/">Back to the shop</a></p>`,
  );

/** The checkout: takes the order only with the token in the form, posts it as the brand's backend would, shows the outcome. */
async function checkout(o: DemoShopOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const form = await readForm(req);
  if (!matchesAny(form.get('token') ?? undefined, [o.token])) return send(res, 403, HTML, notFromThisShop());
  const order = orderOf(form, req);
  const answer = await fetch(`${o.apiUrl()}/postbacks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(order),
  });
  const result = (await answer.json()) as PostbackAnswer;
  const record = result.conversionRef ? await o.conversion(result.conversionRef) : undefined;
  send(res, 200, HTML, thankYou(o, order.orderId, answer.status, result, record));
}

/** One page of the shop: the answer to one request. */
type DemoPage = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface DemoShop {
  /** Whether a request is the shop's: `GET /` (sent on to the landing page) and every path under /demo. */
  takes(method: string, path: string): boolean;
  /** Answers one of its requests (`path` without trailing slashes); a path under /demo it has no page for is a 404. */
  answer(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

export function demoShop(o: DemoShopOptions): DemoShop {
  // The shop's pages by `METHOD path` (`*`: any method).
  const pages = new Map<string, DemoPage>([
    ['GET /', (_req, res) => send(res, 302, 'text/plain', 'see /demo/', { location: '/demo/?clickref=AbC123xYz' })],
    ['* /demo/pz-capture.js', (_req, res) => send(res, 200, SCRIPT, o.snippet.classic)],
    ['* /demo/pz-capture.mjs', (_req, res) => send(res, 200, SCRIPT, o.snippet.esm)],
    ['GET /demo', (_req, res) => send(res, 200, HTML, landing())],
    ['GET /demo/product', (_req, res) => send(res, 200, HTML, product(o.token))],
    ['POST /demo/checkout', (req, res) => checkout(o, req, res)],
  ]);
  const pageFor = (method: string, path: string) => pages.get(`${method} ${path}`) ?? pages.get(`* ${path}`);
  return {
    takes: (method, path) => pageFor(method, path) !== undefined || path.startsWith('/demo'),
    answer: async (req, res, path) => {
      const page = pageFor(req.method ?? 'GET', path);
      if (page) await page(req, res);
      else send(res, 404, 'text/plain; charset=utf-8', 'no such demo page');
    },
  };
}
