/**
 * A strict fake of Partnerize's API (api.partnerize.com) on 127.0.0.1, for the order lifecycle:
 *
 * - `POST /v3/brand/campaigns/{id}/conversions/bulk` validates the body with ajv against the schema
 *   copied from Partnerize's OpenAPI document (test/fixtures/partnerize-bulk-update.schema.json):
 *   any property the schema does not allow is a 400 in Partnerize's v3 error shape, with its
 *   constraint codes; more than 100,000 ids, or non-standard ids for `conversion_items`, too.
 *   HTTP Basic with the configured keys, else 401 (Partnerize's message and code). A valid body is
 *   a 202 with a v3 job.
 * - Jobs progress over polls (`created` → `active` → `complete`); the updates are applied when the
 *   job completes; unknown references or items, and ids the test marks, fail in their task, whose
 *   `result_data` names them (or, in `opaque` mode, says nothing usable).
 * - `GET /v3/jobs/{id}`, `/tasks` (offset/limit, the examples' flat shape), `/tasks/{taskId}`.
 * - `GET /reporting/report_advertiser/campaign/{id}/conversion.json`: the brand conversion report
 *   with its real field names, by conversion time or (`date_type=last_modified`) by last change,
 *   `statuses[]`, pages of at most 300 by `offset` (the documented parameter; `count` the total, or
 *   as some answers have it the page's size; `hypermedia.pagination` with or without `next_page`)
 *   or by cursor (`cursor_id` and `next_page`), the `conversion_reference` filter (honoured or, to
 *   test the fallback, ignored).
 * - On demand: 429 with `X-RateLimit-*` headers, 5xx, hangs, dropped connections; every answer
 *   carries the rate-limit headers. With `tokens`, a token bucket per window: a request beyond it
 *   is a 429 whose `X-RateLimit-Reset` says when the window resets, and the answer that spends the
 *   last token says `X-RateLimit-Remaining: 0`.
 *
 * Conversions are registered by the test, or learnt from the S2S fake (`linkTo`): each call it
 * recorded becomes a pending conversion with one item per line (or per unit). A test may then alter
 * what Partnerize holds (values, items, statuses), `forget` a conversion it recorded (Partnerize
 * answered 200 and kept nothing) or add conversions the tracker never sent.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { PROJECT_ROOT } from '../../lib/paths.js';
import type { FakePartnerize } from './fake-partnerize.js';

export const BULK_SCHEMA = JSON.parse(readFileSync(`${PROJECT_ROOT}/test/fixtures/partnerize-bulk-update.schema.json`, 'utf8')) as object;

/** The request body validator, exactly as the fake applies it (also used by property tests). */
export function bulkValidator() {
  const ajv = new Ajv({ allErrors: true });
  // The OpenAPI copy carries `example`s inside `oneOf`: documentation, not a constraint.
  ajv.addKeyword('example');
  return ajv.compile(BULK_SCHEMA);
}

export interface FakeItem {
  id: string;
  sku: string;
  category?: string | undefined;
  value: number;
  /** Units of the line (reported only with `itemQuantity`). */
  quantity?: number | undefined;
  status: 'pending' | 'approved' | 'rejected';
  rejectReason?: string | undefined;
}

export interface FakeConversion {
  conversionId: string;
  campaignId: string;
  reference: string;
  /** `YYYY-MM-DD HH:MM:SS`, UTC. */
  time: string;
  /** `YYYY-MM-DD HH:MM:SS`, UTC: the last change (creation, or an update applied). */
  lastModified?: string | undefined;
  currency: string;
  clickref: string;
  items: FakeItem[];
  /** Every status change, in order (what Partnerize did). */
  history: Array<{ at: number; status?: string; item?: string; value?: number; reason?: string; job: string }>;
}

interface FakeJob {
  id: string;
  campaignId: string;
  form: 'conversions' | 'conversion_items' | 'conversion_references';
  updates: Record<string, Record<string, unknown>>;
  createdAt: number;
  polls: number;
  status: 'created' | 'active' | 'complete' | 'failed';
  /** id → error message (after completion). */
  errors: Map<string, string>;
  tasks: Array<{ id: string; keys: string[] }>;
}

export interface RecordedApiRequest {
  method: string;
  path: string;
  body?: unknown;
  status?: number;
  authorized: boolean;
  at: number;
}

export type Outage = { status: number } | { hang: true } | { drop: true };

const V3_CODES = {
  unexpected: '7703c766-b5d5-4cef-ace7-ae0dd82304e9',
  choice: '8e179f1b-97aa-4560-a02f-2a8b42e49df7',
  regex: 'de1e3db3-5ed4-4941-aae4-59f3667cc3a3',
  tooLong: 'd94b19cc-114f-4f44-9cc4-4138e80a87b9',
  tooHigh: '2d28afcb-e32e-45fb-a815-01c431a86a69',
  tooLow: '76454e69-502c-46c5-9643-f447d837c4d5',
  type: 'ba785a8c-82cb-4283-967c-3cf342181b40',
  tooFew: 'bef8e338-6ae5-4caf-b8e2-50e7b0579e69',
  tooMany: '756b1212-697c-468d-a9ad-50dd783bb169',
  notSupplied: '2fa2158c-2a7f-484b-98aa-975522539ff8',
  ids: '99B4BC14-8401-4A45-9AF5-CB79E4989C2E',
  json: '0789c8ad-2d2b-49a4-8356-e2ce63998504',
  unauthorised: '39b4b7c2-e5b9-41b1-83d4-db3b23b5ebfa',
  notFound: '0d528fb3-569c-45fa-b2b5-309b360bf9fa',
  tooManyRequests: '3b22ff00-96a5-4fa4-96cc-f36e68dbd2e2',
  server: 'a72717b1-0ecb-4d74-a77f-3e3702a2c8d5',
} as const;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const v3Error = (status: number, errors: Array<{ property: string; message: string; code: string; type: string }>) => ({
  error: { errors, code: String(status), message: STATUS_TEXT[status] ?? 'Error' },
});

/** `/conversion_references/A B/status` → `[conversion_references][A B][status]` (Partnerize's property paths). */
const propertyOf = (instancePath: string, extra?: string): string =>
  [...instancePath.split('/').slice(1), ...(extra ? [extra] : [])].map((p) => `[${p.replace(/~1/g, '/').replace(/~0/g, '~')}]`).join('');

function v3ValidationErrors(errors: readonly ErrorObject[]): Array<{ property: string; message: string; code: string; type: string }> {
  const out: Array<{ property: string; message: string; code: string; type: string }> = [];
  for (const e of errors) {
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'additionalProperties':
        out.push({
          property: propertyOf(e.instancePath, String(p['additionalProperty'])),
          message: 'This field was not expected.',
          code: V3_CODES.unexpected,
          type: 'validation_error',
        });
        break;
      case 'enum':
        out.push({
          property: propertyOf(e.instancePath),
          message: 'The value you selected is not a valid choice.',
          code: V3_CODES.choice,
          type: 'validation_error',
        });
        break;
      case 'pattern':
        out.push({
          property: propertyOf(e.instancePath),
          message: 'This value is not valid.',
          code: V3_CODES.regex,
          type: 'validation_error',
        });
        break;
      case 'maxLength':
        out.push({
          property: propertyOf(e.instancePath),
          message: `This value is too long. It should have ${p['limit']} characters or less.`,
          code: V3_CODES.tooLong,
          type: 'validation_error',
        });
        break;
      case 'maximum':
        out.push({
          property: propertyOf(e.instancePath),
          message: `This value should be ${p['limit']} or less.`,
          code: V3_CODES.tooHigh,
          type: 'validation_error',
        });
        break;
      case 'minimum':
        out.push({
          property: propertyOf(e.instancePath),
          message: `This value should be ${p['limit']} or more.`,
          code: V3_CODES.tooLow,
          type: 'validation_error',
        });
        break;
      case 'type':
        out.push({
          property: propertyOf(e.instancePath),
          message: `The attribute expected to be of type '${p['type']}'.`,
          code: V3_CODES.type,
          type: 'validation_error',
        });
        break;
      case 'minProperties':
        out.push({
          property: propertyOf(e.instancePath),
          message: 'This collection should contain 1 element or more.',
          code: V3_CODES.tooFew,
          type: 'validation_error',
        });
        break;
      case 'required':
      case 'maxProperties':
      case 'oneOf':
        // Reported once below: exactly one of the three maps is required.
        break;
      default:
        out.push({ property: propertyOf(e.instancePath), message: e.message ?? 'invalid', code: V3_CODES.type, type: 'validation_error' });
    }
  }
  if (out.length === 0 || errors.some((e) => e.keyword === 'oneOf' && e.instancePath === '')) {
    out.push({
      property: '',
      message: 'Exactly one of conversions, conversion_items or conversion_references must be supplied.',
      code: V3_CODES.ids,
      type: 'validation_error',
    });
  }
  return out;
}

const reportTime = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const isPartnerizeId = (id: string): boolean => /^\d+l\d+$/.test(id);

export interface FakeApiOptions {
  applicationKey?: string;
  userApiKey?: string;
  /** GETs of a job before it is `complete` (the first says `active`). */
  pollsToComplete?: number;
  /** Ids per task. */
  taskSize?: number;
  /** `result_data` names failed ids (`named`) or says nothing usable (`opaque`). */
  resultData?: 'named' | 'opaque';
  /** Whether the report honours `conversion_reference` (the older docs list it; the current ones do not). */
  honourReferenceFilter?: boolean;
  /** One conversion item per unit (`quantity` of them) instead of one per line. */
  itemPerUnit?: boolean;
  /** Items carry a `quantity` (some accounts' reports do; the schema has none). */
  itemQuantity?: boolean;
  /** How the report pages: by `offset` (default) or by cursor. */
  paging?: 'offset' | 'cursor';
  /** In offset paging, whether `count` is the result's total (Partnerize's standard pagination) or the page's size. */
  count?: 'total' | 'page';
  /** In offset paging, whether answers carry `hypermedia.pagination` links. */
  hypermedia?: boolean;
  /** The largest page the report serves (Partnerize: 300). */
  maxPage?: number;
  /** A token bucket for the report: `perWindow` requests every `windowS` seconds, then 429 until the window resets. */
  tokens?: { perWindow: number; windowS: number } | undefined;
}

export class FakePartnerizeApi {
  readonly requests: RecordedApiRequest[] = [];
  readonly conversions = new Map<string, FakeConversion>();
  readonly jobs = new Map<string, FakeJob>();
  /** Ids (references or item ids) whose update fails in its task, with the message. */
  readonly failIds = new Map<string, string>();
  /** Ids (references or item ids) whose update a job reports done without applying it: what reconciliation calls status drift. */
  readonly ignoreIds = new Set<string>();
  readonly opts: Required<Omit<FakeApiOptions, 'tokens'>> & Pick<FakeApiOptions, 'tokens'>;
  private readonly sockets = new Set<Socket>();
  private outages: Outage[] = [];
  private outageDefault: Outage | undefined;
  private rateLimited = 0;
  private retryAfterS = 1;
  private bucket: { start: number; used: number } | undefined;
  /** References whose next recorded S2S call Partnerize keeps nothing of (`forget` before the send). */
  private readonly forgotten = new Set<string>();
  /** How many of the S2S fake's requests have been learnt from (each is read once). */
  private learnt = 0;
  private nextId = 1000;
  private linked: FakePartnerize | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    opts: FakeApiOptions,
  ) {
    this.opts = {
      applicationKey: 'test-application-key',
      userApiKey: 'test-user-api-key',
      pollsToComplete: 2,
      taskSize: 100,
      resultData: 'named',
      honourReferenceFilter: true,
      itemPerUnit: false,
      itemQuantity: false,
      paging: 'offset',
      count: 'total',
      hypermedia: true,
      maxPage: 300,
      ...opts,
    };
  }

  static async start(opts: FakeApiOptions = {}): Promise<FakePartnerizeApi> {
    let fake: FakePartnerizeApi | undefined;
    const server = createServer((req, res) => void fake?.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (typeof addr !== 'object' || !addr) throw new Error('fake Partnerize API did not bind');
    fake = new FakePartnerizeApi(server, `http://127.0.0.1:${addr.port}`, opts);
    server.on('connection', (s: Socket) => {
      fake?.sockets.add(s);
      s.on('close', () => fake?.sockets.delete(s));
    });
    return fake;
  }

  /** The environment a tracker needs to use this fake. */
  get env(): Record<string, string> {
    return {
      PARTNERIZE_API_BASE_URL: this.url,
      PARTNERIZE_APPLICATION_KEY: this.opts.applicationKey,
      PARTNERIZE_USER_API_KEY: this.opts.userApiKey,
    };
  }

  /** Conversions the S2S fake records become conversions here (pending, one item per line). */
  linkTo(s2s: FakePartnerize): this {
    this.linked = s2s;
    return this;
  }

  addConversion(
    c: Partial<Omit<FakeConversion, 'items'>> & { reference: string; items?: Array<Partial<FakeItem> & { sku: string; value: number }> },
  ): FakeConversion {
    const { items, ...rest } = c;
    const conversion: FakeConversion = {
      conversionId: `${this.nextId++}l${this.nextId++}`,
      campaignId: '1011l270',
      time: reportTime(Date.now()),
      currency: 'GBP',
      clickref: 'AbC123',
      history: [],
      ...rest,
      items: (items ?? [{ sku: 'SKU', value: 10 }]).map((i) => ({
        id: `${this.nextId++}l${this.nextId++}`,
        status: 'pending' as const,
        ...i,
      })),
    };
    this.conversions.set(c.reference, conversion);
    return conversion;
  }

  /**
   * Partnerize keeps nothing of this conversion (now, or of the S2S fake's next call for it when it
   * holds none yet): the tracker will call it missing. A later call (a replay) is recorded again.
   */
  forget(reference: string): this {
    this.learnFromS2S();
    if (!this.conversions.delete(reference)) this.forgotten.add(reference);
    return this;
  }

  /** Report requests received. */
  get reportRequests(): RecordedApiRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/reporting/'));
  }

  /** The next `n` requests answer 429 with rate-limit headers advising `retryAfterS`. */
  rateLimit(n: number, retryAfterS = 1): this {
    this.rateLimited = n;
    this.retryAfterS = retryAfterS;
    return this;
  }

  /** The next requests answer like this, in order (then normally, or `setOutage`'s). */
  fail(...outages: Outage[]): this {
    this.outages.push(...outages);
    return this;
  }

  /** Every request answers like this until cleared (undefined): the API is down. */
  setOutage(o: Outage | undefined): this {
    this.outageDefault = o;
    return this;
  }

  /** Bulk update requests received (whatever the answer). */
  get bulkRequests(): RecordedApiRequest[] {
    return this.requests.filter((r) => r.method === 'POST' && r.path.includes('/conversions/bulk'));
  }

  /** A conversion's status as Partnerize would report it (`mixed` when its items differ). */
  statusOf(reference: string): string | undefined {
    const c = this.conversion(reference);
    if (!c) return undefined;
    const statuses = new Set(c.items.map((i) => i.status));
    return statuses.size === 1 ? [...statuses][0] : 'mixed';
  }

  conversion(reference: string): FakeConversion | undefined {
    this.learnFromS2S();
    return this.conversions.get(reference);
  }

  private learnFromS2S(): void {
    const requests = this.linked?.requests ?? [];
    // The S2S fake decides `recorded` as it takes a request: each request is read once, in order.
    for (; this.learnt < requests.length; this.learnt++) {
      const r = requests[this.learnt]!;
      if (!r.recorded) continue;
      const seg = (k: string, s: string) => {
        const m = new RegExp(`(?:^|/)${k}:([^/\\]]*)`).exec(s);
        return m ? decodeURIComponent(m[1]!) : undefined;
      };
      const head = r.url.split('[')[0]!;
      const reference = seg('conversionref', head);
      if (!reference || this.conversions.has(reference)) continue;
      if (this.forgotten.delete(reference)) continue;
      const time = seg('conversion_time', head);
      const lines = [...r.url.matchAll(/\[([^\]]*)\]/g)].map((m) => ({
        sku: seg('sku', m[1]!) ?? '',
        category: seg('category', m[1]!),
        value: Number(seg('value', m[1]!) ?? 0),
        quantity: Number(seg('quantity', m[1]!) ?? 1),
      }));
      const items = lines.flatMap((l) =>
        this.opts.itemPerUnit
          ? Array.from({ length: l.quantity }, () => ({ sku: l.sku, category: l.category, value: l.value, quantity: 1 }))
          : [{ sku: l.sku, category: l.category, value: Math.round(l.value * l.quantity * 10_000) / 10_000, quantity: l.quantity }],
      );
      this.addConversion({
        reference,
        campaignId: seg('campaign', head) ?? '1011l270',
        currency: seg('currency', head) ?? 'GBP',
        clickref: seg('clickref', head) ?? '',
        time: time ?? reportTime(r.at),
        items,
      });
    }
  }

  private rateHeaders(): Record<string, string> {
    const t = this.opts.tokens;
    if (t && this.bucket) {
      const resetS = Math.max(0, Math.ceil((this.bucket.start + t.windowS * 1000 - Date.now()) / 1000));
      return {
        'x-ratelimit-limit': String(t.perWindow),
        'x-ratelimit-remaining': String(Math.max(0, t.perWindow - this.bucket.used)),
        'x-ratelimit-reset': String(resetS),
      };
    }
    return {
      'x-ratelimit-limit': '100',
      'x-ratelimit-remaining': this.rateLimited > 0 ? '0' : '99',
      'x-ratelimit-reset': String(this.retryAfterS),
      ...(this.rateLimited > 0 ? { 'x-ratelimit-retry-after': String(this.retryAfterS) } : {}),
    };
  }

  /** Spends a token of the report's bucket: false when none is left in this window. */
  private spendToken(): boolean {
    const t = this.opts.tokens;
    if (!t) return true;
    const now = Date.now();
    if (!this.bucket || now >= this.bucket.start + t.windowS * 1000) this.bucket = { start: now, used: 0 };
    if (this.bucket.used >= t.perWindow) return false;
    this.bucket.used += 1;
    return true;
  }

  private send(res: ServerResponse, rec: RecordedApiRequest, status: number, body: unknown): undefined {
    rec.status = status;
    res.writeHead(status, { 'content-type': 'application/json', ...this.rateHeaders() });
    res.end(JSON.stringify(body));
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<undefined> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const auth = req.headers.authorization ?? '';
    const expected = `Basic ${Buffer.from(`${this.opts.applicationKey}:${this.opts.userApiKey}`).toString('base64')}`;
    const rec: RecordedApiRequest = {
      method: req.method ?? 'GET',
      path: url.pathname + url.search,
      authorized: auth === expected,
      at: Date.now(),
    };
    if (raw !== '') {
      try {
        rec.body = JSON.parse(raw);
      } catch {
        rec.body = raw;
      }
    }
    this.requests.push(rec);
    const outage = this.outages.shift() ?? this.outageDefault;
    if (outage) {
      if ('hang' in outage) return undefined;
      if ('drop' in outage) {
        req.socket.destroy();
        return undefined;
      }
      return this.send(
        res,
        rec,
        outage.status,
        v3Error(outage.status, [
          { property: '', message: 'The service is temporarily unavailable', code: V3_CODES.server, type: 'server_error' },
        ]),
      );
    }
    if (this.rateLimited > 0) {
      this.send(
        res,
        rec,
        429,
        v3Error(429, [
          {
            property: '',
            message: 'You have made too many requests recently, please try again later.',
            code: V3_CODES.tooManyRequests,
            type: 'too_many_requests',
          },
        ]),
      );
      this.rateLimited--;
      return undefined;
    }
    if (!rec.authorized) {
      const message = auth
        ? "Your 'User application key' and 'User API key' combination is invalid."
        : "Your API credentials can be found in Account settings. 'Username' will be your 'User application key' and 'Password' will be your 'User API key'.";
      return this.send(res, rec, 401, v3Error(401, [{ property: '', message, code: V3_CODES.unauthorised, type: 'unauthorised' }]));
    }
    this.learnFromS2S();
    if (url.pathname.startsWith('/reporting/') && !this.spendToken())
      return this.send(res, rec, 429, { error: { message: 'Too Many Requests', type: '429' } });
    const routes: Array<[string, RegExp, (m: string[]) => undefined]> = [
      ['POST', /^\/v3\/brand\/campaigns\/([^/]+)\/conversions\/bulk$/, ([c]) => this.bulk(res, rec, c!, raw)],
      ['GET', /^\/v3\/jobs\/([^/]+)$/, ([j]) => this.getJob(res, rec, j!)],
      ['GET', /^\/v3\/jobs\/([^/]+)\/tasks$/, ([j]) => this.getTasks(res, rec, j!, url)],
      ['GET', /^\/v3\/jobs\/([^/]+)\/tasks\/([^/]+)$/, ([j, t]) => this.getTask(res, rec, j!, t!)],
      ['GET', /^\/reporting\/report_advertiser\/campaign\/([^/]+)\/conversion\.json$/, ([c]) => this.report(res, rec, c!, url)],
    ];
    for (const [method, pattern, route] of routes) {
      const m = req.method === method ? pattern.exec(url.pathname) : null;
      if (m) return route(m.slice(1).map(decodeURIComponent));
    }
    return this.send(
      res,
      rec,
      404,
      v3Error(404, [
        { property: '', message: `No route found for "${req.method} ${url.pathname}"`, code: V3_CODES.notFound, type: 'not_found' },
      ]),
    );
  }

  private readonly validate = bulkValidator();

  private bulk(res: ServerResponse, rec: RecordedApiRequest, campaignId: string, raw: string): undefined {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return this.send(
        res,
        rec,
        400,
        v3Error(400, [
          { property: '', message: 'The JSON value contains invalid JSON syntax.', code: V3_CODES.json, type: 'validation_error' },
        ]),
      );
    }
    if (!this.validate(body)) return this.send(res, rec, 400, v3Error(400, v3ValidationErrors(this.validate.errors ?? [])));
    const form = Object.keys(body as object)[0] as FakeJob['form'];
    const updates = (body as Record<string, Record<string, Record<string, unknown>>>)[form]!;
    const ids = Object.keys(updates);
    if (ids.length > 100_000)
      return this.send(
        res,
        rec,
        400,
        v3Error(400, [
          {
            property: `[${form}]`,
            message: 'This collection should contain 100000 elements or less.',
            code: V3_CODES.tooMany,
            type: 'validation_error',
          },
        ]),
      );
    if (form !== 'conversion_references' && ids.some((id) => !isPartnerizeId(id)))
      return this.send(
        res,
        rec,
        400,
        v3Error(400, [{ property: `[${form}]`, message: 'Non-standard ids were supplied.', code: V3_CODES.ids, type: 'validation_error' }]),
      );
    const id = `${this.nextId++}l${this.nextId++}`;
    const size = this.opts.taskSize;
    const job: FakeJob = {
      id,
      campaignId,
      form,
      updates,
      createdAt: Date.now(),
      polls: 0,
      status: 'created',
      errors: new Map(),
      tasks: Array.from({ length: Math.ceil(ids.length / size) }, (_, i) => ({
        id: `${id}t${i + 1}`,
        keys: ids.slice(i * size, (i + 1) * size),
      })),
    };
    this.jobs.set(id, job);
    this.send(res, rec, 202, this.jobBody(job));
  }

  private jobBody(job: FakeJob) {
    const total = Object.keys(job.updates).length;
    const done = job.status === 'complete' || job.status === 'failed';
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
    return {
      data: {
        id: job.id,
        created_at: iso(job.createdAt),
        ...(job.status === 'created' ? {} : { started_at: iso(job.createdAt) }),
        ...(done ? { completed_at: iso(Date.now()) } : {}),
        created_by: '1111l111',
        created_by_username: 'API User',
        created_by_uri: `${this.url}/v3/brand/campaigns/${job.campaignId}/conversions/bulk`,
        status: job.status,
        percentage_complete: done ? 100 : job.status === 'active' ? 50 : 0,
        item_success_count: done ? total - job.errors.size : 0,
        item_error_count: done ? job.errors.size : 0,
        item_total_count: total,
        type: 'conversion_bulk_update',
      },
      hypermedia: { links: { self: `/v3/jobs/${job.id}`, tasks: `/v3/jobs/${job.id}/tasks` } },
    };
  }

  /** Applies a job's updates (when it completes): what Partnerize would do to its conversions. */
  private apply(job: FakeJob): void {
    const at = Date.now();
    for (const [key, u] of Object.entries(job.updates)) {
      const failure = this.failIds.get(key);
      if (failure) {
        job.errors.set(key, failure);
        continue;
      }
      if (this.ignoreIds.has(key)) continue;
      const status = u['status'] as FakeItem['status'] | 'fraudulent' | undefined;
      const reason = u['reason'] as string | undefined;
      if (job.form === 'conversion_references') {
        const c = this.conversions.get(key);
        if (!c || c.campaignId !== job.campaignId) {
          job.errors.set(key, `Conversion with reference ${key} not found`);
          continue;
        }
        if (status === 'fraudulent') continue;
        for (const it of c.items) if (status) it.status = status;
        c.history.push({ at, status, reason, job: job.id });
        c.lastModified = reportTime(at);
        continue;
      }
      const owner = [...this.conversions.values()].find((c) => c.items.some((i) => i.id === key));
      const item = owner?.items.find((i) => i.id === key);
      if (!owner || !item) {
        job.errors.set(key, `Conversion item ${key} not found`);
        continue;
      }
      if (status && status !== 'fraudulent') item.status = status;
      const value = u['item_value'] as number | undefined;
      if (value !== undefined) item.value = value;
      owner.history.push({ at, item: key, status, value, reason, job: job.id });
      owner.lastModified = reportTime(at);
    }
  }

  private getJob(res: ServerResponse, rec: RecordedApiRequest, id: string): undefined {
    const job = this.jobs.get(id);
    if (!job)
      return this.send(
        res,
        rec,
        404,
        v3Error(404, [{ property: '', message: `Job ${id} not found`, code: V3_CODES.notFound, type: 'not_found' }]),
      );
    job.polls++;
    if (job.status === 'created' || job.status === 'active') {
      if (job.polls >= this.opts.pollsToComplete) {
        this.apply(job);
        job.status = 'complete';
      } else job.status = 'active';
    }
    this.send(res, rec, 200, this.jobBody(job));
  }

  private taskSummary(job: FakeJob, t: FakeJob['tasks'][number]) {
    const failed = t.keys.filter((k) => job.errors.has(k));
    const done = job.status === 'complete';
    return {
      id: t.id,
      status: !done ? job.status : failed.length === t.keys.length ? 'failed' : 'complete',
      failed,
      hypermedia: { links: { self: `v3/jobs/${job.id}/tasks/${t.id}` } },
    };
  }

  private getTasks(res: ServerResponse, rec: RecordedApiRequest, id: string, url: URL): undefined {
    const job = this.jobs.get(id);
    if (!job)
      return this.send(
        res,
        rec,
        404,
        v3Error(404, [{ property: '', message: `Job ${id} not found`, code: V3_CODES.notFound, type: 'not_found' }]),
      );
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const limit = Number(url.searchParams.get('limit') ?? 20);
    const page = job.tasks.slice(offset, offset + limit).map((t) => {
      const { failed: _f, ...summary } = this.taskSummary(job, t);
      return summary;
    });
    const total = job.tasks.length;
    const link = (o: number) => `/jobs/${id}/tasks?offset=${o}&limit=${limit}`;
    this.send(res, rec, 200, {
      data: page,
      hypermedia: {
        pagination: {
          total_page_count: Math.ceil(total / limit),
          total_item_count: total,
          first_page: link(0),
          last_page: link(Math.max(0, (Math.ceil(total / limit) - 1) * limit)),
          next_page: offset + limit < total ? link(offset + limit) : null,
          previous_page: offset > 0 ? link(Math.max(0, offset - limit)) : null,
        },
      },
    });
  }

  private getTask(res: ServerResponse, rec: RecordedApiRequest, jobId: string, taskId: string): undefined {
    const job = this.jobs.get(jobId);
    const task = job?.tasks.find((t) => t.id === taskId);
    if (!job || !task)
      return this.send(
        res,
        rec,
        404,
        v3Error(404, [{ property: '', message: `Task ${taskId} not found`, code: V3_CODES.notFound, type: 'not_found' }]),
      );
    const s = this.taskSummary(job, task);
    const resultData =
      this.opts.resultData === 'opaque'
        ? s.failed.length > 0
          ? 'Processed with errors'
          : 'Processed'
        : JSON.stringify({
            updated: task.keys.length - s.failed.length,
            errors: s.failed.map((k) => ({ id: k, message: job.errors.get(k) })),
          });
    this.send(res, rec, 200, {
      data: {
        id: task.id,
        job_id: job.id,
        item_success_count: task.keys.length - s.failed.length,
        item_error_count: s.failed.length,
        item_total_count: task.keys.length,
        created_at: new Date(job.createdAt).toISOString(),
        status: s.status,
        result_data: resultData,
      },
    });
  }

  private report(res: ServerResponse, rec: RecordedApiRequest, campaignId: string, url: URL): undefined {
    // ISO 8601 as the schema's example (`2016-02-30T05:15:32Z`), or the space-separated form of
    // Partnerize's own hypermedia links; UTC unless an offset is given.
    const date = (name: string): number | undefined | null => {
      const v = url.searchParams.get(name);
      if (v === null) return undefined;
      const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(Z|[+-]\d{2}:\d{2})?$/.exec(v);
      const t = m ? Date.parse(`${m[1]}T${m[2]}${m[3] ?? 'Z'}`) : Number.NaN;
      return Number.isNaN(t) ? null : t;
    };
    const start = date('start_date');
    const end = date('end_date');
    if (start === undefined) return this.send(res, rec, 400, { error: { message: 'start_date is required', type: '400' } });
    if (start === null || end === null)
      return this.send(res, rec, 400, {
        error: { message: `${start === null ? 'start_date' : 'end_date'} is not an ISO 8601 date`, type: '400' },
      });
    const timeOf = (text: string) => Date.parse(`${text.replace(' ', 'T')}Z`);
    const limit = Math.min(this.opts.maxPage, Number(url.searchParams.get('limit') ?? this.opts.maxPage));
    const cursor = this.opts.paging === 'cursor';
    const from = Number(url.searchParams.get(cursor ? 'cursor_id' : 'offset') ?? 0);
    const ref = url.searchParams.get('conversion_reference');
    const statuses = url.searchParams.getAll('statuses[]');
    const byChange = url.searchParams.get('date_type') === 'last_modified';
    const all = [...this.conversions.values()]
      .filter((c) => {
        const t = timeOf(byChange ? (c.lastModified ?? c.time) : c.time);
        return c.campaignId === campaignId && t >= start && (end === undefined || t <= end);
      })
      .filter((c) => !this.opts.honourReferenceFilter || ref === null || c.reference === ref)
      .filter((c) => statuses.length === 0 || statuses.includes(this.statusOf(c.reference) ?? ''))
      .sort((a, b) => a.conversionId.localeCompare(b.conversionId));
    const page = all.slice(from, from + limit);
    const more = from + limit < all.length;
    const base = `${url.pathname}?${[...url.searchParams]
      .filter(([k]) => k !== 'cursor_id' && k !== 'offset')
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&')}`;
    const link = (at: number) => `${base}&${cursor ? 'cursor_id' : 'offset'}=${at}`;
    const sum = (f: (c: FakeConversion) => number) => ({ GBP: page.reduce((n, c) => n + f(c), 0) });
    const pagination = cursor
      ? { hypermedia: { pagination: { first_page: base, next_page: more ? link(from + limit) : null } } }
      : this.opts.hypermedia
        ? { hypermedia: { pagination: { first_page: link(0), next_page: more ? link(from + limit) : null } } }
        : {};
    this.send(res, rec, 200, {
      total_conversion_count: { GBP: page.length },
      total_commission_value: sum(() => 0),
      total_publisher_commission: sum(() => 0),
      total_value: sum((c) => c.items.reduce((n, i) => n + i.value, 0)),
      start_date_time_utc: reportTime(start),
      end_date_time_utc: end === undefined ? null : reportTime(end),
      start_date_time: reportTime(start),
      end_date_time: end === undefined ? null : reportTime(end),
      limit,
      meta_data: [],
      count: cursor || this.opts.count === 'page' ? page.length : all.length,
      execution_time: '0.01200 seconds',
      ...(cursor && more ? { cursor_id: from + limit } : {}),
      conversions: page.map((c) => this.conversionBody(c)),
      ...pagination,
    });
  }

  /** A conversion as the report writes it (`conversion_data`, Partnerize's field names). */
  private conversionBody(c: FakeConversion) {
    return {
      conversion_data: {
        conversion_id: c.conversionId,
        campaign_id: c.campaignId,
        publisher_id: '1100l5678',
        conversion_time: c.time,
        currency: c.currency,
        advertiser_reference: '',
        conversion_reference: c.reference,
        customer_type: null,
        last_modified: c.lastModified ?? c.time,
        conversion_value: {
          conversion_value_id: c.conversionId,
          conversion_status: this.statusOf(c.reference),
          value: Math.round(c.items.reduce((n, i) => n + (i.status === 'rejected' ? 0 : i.value), 0) * 10_000) / 10_000,
          commission: 0,
          publisher_commission: 0,
        },
        meta_data: [],
        conversion_items: c.items.map((i) => ({
          conversion_item_id: i.id,
          sku: i.sku,
          category: i.category ?? '',
          item_value: i.value,
          ...(this.opts.itemQuantity ? { quantity: i.quantity ?? 1 } : {}),
          item_commission: 0,
          item_publisher_commission: 0,
          item_status: i.status,
          invoice_id: null,
          last_update: c.lastModified ?? c.time,
          display_to_publisher: 1,
          approved_at: null,
          item_status_id: i.status === 'pending' ? 1 : i.status === 'approved' ? 2 : 3,
          reject_reason: i.status === 'rejected' ? (i.rejectReason ?? 'rejected') : null,
          voucher_codes: [],
          meta_data: [],
        })),
        was_disputed: false,
        currency_original: '',
        currency_conversion_rate: '',
        conversion_lag: 0,
        clickref: c.clickref,
      },
    };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
