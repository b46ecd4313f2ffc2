/**
 * Partnerize's API (api.partnerize.com) over fetch: the v3 bulk conversion update, its jobs and
 * tasks, and the brand conversion report. HTTP Basic with the user application key and the user API
 * key (from Secrets Manager in AWS, from the environment locally); every call has a hard timeout
 * and ends as an `ApiOutcome`, classified as conversions' calls are (2xx, then 408/429/5xx/timeout/
 * connection retryable, other 4xx refused). A 429's `X-RateLimit-Retry-After` says how long to wait.
 *
 * The report is paged as its answer says: Partnerize's own `hypermedia.pagination.next_page` when
 * it gives one (its documented cursor pages), else its `cursor_id`, else the next `offset` (the
 * endpoint's documented parameter), counted from the answer's `limit` and `count` — `count` is the
 * whole result's size in Partnerize's standard pagination and the page's in some answers, so both
 * readings are allowed for. Every page says what `X-RateLimit-Remaining` and `-Reset` it carried.
 *
 * Field names follow Partnerize's OpenAPI documents (research notes: docs/order-lifecycle.md); where
 * their schema and examples disagree (task lists), both shapes are read.
 */
import type {
  ApiCredentials,
  ApiOutcome,
  PartnerizeApi,
  PartnerizeItem,
  ReportConversion,
  ReportPage,
  ReportQuery,
} from '../core/model.js';
import type { BulkBody, BulkJob, JobTask } from '../core/partnerize-bulk.js';
import { classifyStatus, parseRetryAfter } from '../core/retry-policy.js';
import { causeOf } from './partnerize-sender.js';
import { readBody } from './read-body.js';

/** Where the API keys come from; undefined while they are not set (updates wait, nothing fails). */
export type CredentialSource = () => Promise<ApiCredentials | undefined>;

export const staticCredentials =
  (c: ApiCredentials | undefined): CredentialSource =>
  async () =>
    c;

/** Answers are read up to this size: a report page of 300 conversions is well under it. */
const BODY_LIMIT = 8 * 1024 * 1024;
/** Report pages (the endpoint's documented maximum). */
export const REPORT_PAGE_LIMIT = 300;
/** Tasks per page when listing a job's tasks. */
const TASK_PAGE_LIMIT = 100;

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
const num = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
};

/** v3: `error.errors[0].message` (with its code); v1: `error.message`. */
export function errorMessage(body: unknown): string | undefined {
  const e = obj(obj(body)['error']);
  const first = obj(Array.isArray(e['errors']) ? e['errors'][0] : undefined);
  const m = str(first['message']) ?? str(e['message']);
  if (m === undefined) return undefined;
  const where = str(first['property']);
  return `${where ? `${where}: ` : ''}${m}`.slice(0, 256);
}

export const jobOf = (body: unknown): BulkJob | undefined => {
  const d = obj(obj(body)['data']);
  const id = str(d['id']);
  if (!id) return undefined;
  return {
    id,
    status: str(d['status']) ?? 'created',
    percentageComplete: num(d['percentage_complete']),
    itemSuccessCount: num(d['item_success_count']),
    itemErrorCount: num(d['item_error_count']),
    itemTotalCount: num(d['item_total_count']),
  };
};

/** A task summary: the examples' flat shape, or the schema's `{data: {...}}`. */
const taskOf = (v: unknown): JobTask | undefined => {
  const o = obj(v);
  const t = o['id'] === undefined && o['data'] !== undefined ? obj(o['data']) : o;
  const id = str(t['id']);
  if (!id) return undefined;
  const resultData = t['result_data'];
  return {
    id,
    status: str(t['status']) ?? 'created',
    itemErrorCount: num(t['item_error_count']),
    resultData: typeof resultData === 'string' ? resultData : resultData === undefined ? undefined : JSON.stringify(resultData),
  };
};

const itemOf = (v: unknown): PartnerizeItem | undefined => {
  const i = obj(v);
  const id = str(i['conversion_item_id']);
  if (!id) return undefined;
  const item: PartnerizeItem = {
    id,
    sku: str(i['sku']),
    category: str(i['category']),
    value: num(i['item_value']),
    status: str(i['item_status']),
  };
  const quantity = num(i['quantity']);
  if (quantity !== undefined) item.quantity = quantity;
  const reason = str(i['reject_reason']);
  if (reason) item.rejectReason = reason;
  return item;
};

/** One conversion of the report: `{conversion_data: {...}}` (empty objects may come as `[]`). */
export const reportConversionOf = (v: unknown): ReportConversion | undefined => {
  const c = obj(obj(v)['conversion_data']);
  const conversionId = str(c['conversion_id']);
  const conversionReference = str(c['conversion_reference']);
  if (!conversionId || conversionReference === undefined) return undefined;
  const value = obj(c['conversion_value']);
  const items = Array.isArray(c['conversion_items']) ? c['conversion_items'] : [];
  return {
    conversionId,
    conversionReference,
    status: str(value['conversion_status']) ?? 'pending',
    conversionTime: str(c['conversion_time']),
    currency: str(c['currency']),
    value: num(value['value']),
    clickref: str(c['clickref']),
    currencyOriginal: str(c['currency_original']) || undefined,
    items: items.map(itemOf).filter((i): i is PartnerizeItem => i !== undefined),
  };
};

/** `X-RateLimit-Remaining` / `-Reset` of an answer (integers), when present. */
function rateLimitOf(headers: Headers): ReportPage['rateLimit'] {
  const int = (name: string) => {
    const v = headers.get(name);
    return v !== null && /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
  };
  const remaining = int('x-ratelimit-remaining');
  const resetS = int('x-ratelimit-reset');
  return remaining === undefined && resetS === undefined ? undefined : { remaining, resetS };
}

/** The same path and query with `key` set to `value` (added when absent). */
function withParam(path: string, key: string, value: string): string {
  const [p, q = ''] = path.split('?');
  const params = new URLSearchParams(q);
  params.set(key, value);
  return `${p}?${params.toString()}`;
}

/**
 * Where the page after `path` is, from its answer: Partnerize's `next_page` (null: the last page),
 * else its cursor, else the next offset — while the answer's `count` (a total) says more are left,
 * or, when `count` is only the page's size, while the page was full (or, with no `limit` either,
 * until an empty page).
 */
export function nextPageOf(path: string, body: Json, received: number): { offset: number; next: string | undefined } {
  const offset = Number(new URLSearchParams(path.split('?')[1] ?? '').get('offset') ?? 0) || 0;
  const pagination = obj(obj(body['hypermedia'])['pagination']);
  const limit = num(body['limit']);
  const count = num(body['count']);
  const checked = (next: string | undefined) => (next && next !== path ? next : undefined);
  if ('next_page' in pagination) {
    const nextPage = pagination['next_page'];
    if (typeof nextPage !== 'string' || nextPage === '') return { offset, next: undefined };
    const relative = /^https?:\/\//i.test(nextPage) ? `${new URL(nextPage).pathname}${new URL(nextPage).search}` : nextPage;
    return { offset, next: checked(relative.startsWith('/') ? relative : `/${relative}`) };
  }
  const cursor = str(body['cursor_id']);
  if (cursor && received > 0) return { offset, next: checked(withParam(path, 'cursor_id', cursor)) };
  if (received === 0) return { offset, next: undefined };
  const after = offset + received;
  // `count` a total: read up to it. Else a full page (of the answer's `limit`) may have a successor;
  // an answer that says neither is read on until a page comes back empty.
  const more = count !== undefined && count > received ? after < count : limit !== undefined ? received >= limit : true;
  return { offset, next: more ? checked(withParam(path, 'offset', String(after))) : undefined };
}

/** ISO 8601 to the second, UTC (`2026-11-30T00:00:00Z`): the form of the report's own `start_date` example. */
const reportDate = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

export interface PartnerizeApiOptions {
  baseUrl: string;
  credentials: CredentialSource;
  userAgent?: string;
  fetchImpl?: typeof fetch;
  now?: () => number;
}

export function createPartnerizeApi(opts: PartnerizeApiOptions): PartnerizeApi {
  const ctx: ApiContext = {
    opts,
    base: opts.baseUrl.replace(/\/+$/, ''),
    doFetch: opts.fetchImpl ?? fetch,
    clock: opts.now ?? (() => performance.now()),
  };
  return {
    hasCredentials: async () => (await opts.credentials()) !== undefined,
    bulkUpdate: (campaignId: string, body: BulkBody, timeoutMs: number) =>
      call(ctx, 'POST', `/v3/brand/campaigns/${enc(campaignId)}/conversions/bulk`, timeoutMs, jobOf, body),
    job: (jobId: string, timeoutMs: number) => call(ctx, 'GET', `/v3/jobs/${enc(jobId)}`, timeoutMs, jobOf),
    tasks: (jobId: string, timeoutMs: number) => jobTasks(ctx, jobId, timeoutMs),
    conversions: (campaignId: string, q: ReportQuery, timeoutMs: number) => reportPage(ctx, campaignId, q, timeoutMs),
  };
}

/** What every call of one API shares: its options, where it points, how it fetches, and its clock (fixed when made). */
interface ApiContext {
  readonly opts: PartnerizeApiOptions;
  readonly base: string;
  readonly doFetch: typeof fetch;
  readonly clock: () => number;
}

const enc = encodeURIComponent;

/** One request, ended as an `ApiOutcome`: `read` turns a 2xx answer into its value (undefined: unreadable). */
async function call<T>(
  ctx: ApiContext,
  method: 'GET' | 'POST',
  path: string,
  timeoutMs: number,
  read: (body: unknown, headers: Headers) => T | undefined,
  payload?: unknown,
): Promise<ApiOutcome<T>> {
  const { opts, base, doFetch, clock } = ctx;
  const started = clock();
  const latencyMs = () => Math.round(clock() - started);
  const creds = await opts.credentials();
  if (!creds) return { ok: false, result: 'rejected', status: 401, message: 'Partnerize API keys are not set', latencyMs: 0 };
  const auth = Buffer.from(`${creds.applicationKey}:${creds.userApiKey}`).toString('base64');
  try {
    // Built inside the try: a timeout AbortSignal refuses, or a payload JSON cannot hold, ends as a retryable outcome.
    const res = await doFetch(`${base}${path}`, {
      method,
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        authorization: `Basic ${auth}`,
        accept: 'application/json',
        'user-agent': opts.userAgent ?? 'partnerize-s2s-tracker',
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
    });
    const text = await readBody(res, BODY_LIMIT);
    return outcomeOf(res, text, read, latencyMs);
  } catch (err) {
    return { ok: false, result: 'retryable', ...causeOf(err), latencyMs: latencyMs() };
  }
}

/** The answer's JSON; undefined when it is empty or not JSON (its text still says what went wrong). */
function jsonOf(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** An answer classified as conversions' calls are: a readable 2xx is the value, anything else a failure. */
function outcomeOf<T>(
  res: Response,
  text: string,
  read: (body: unknown, headers: Headers) => T | undefined,
  latencyMs: () => number,
): ApiOutcome<T> {
  const body = jsonOf(text);
  const result = classifyStatus(res.status);
  if (result === 'sent') {
    const value = read(body, res.headers);
    if (value !== undefined) return { ok: true, value, status: res.status, latencyMs: latencyMs() };
    // A 2xx we cannot read is not a success we can act on; asking again is safe (reads, and
    // bulk updates that set a status twice do no harm).
    return {
      ok: false,
      result: 'retryable',
      status: res.status,
      message: `unreadable answer: ${text.slice(0, 200)}`,
      latencyMs: latencyMs(),
    };
  }
  const retryAfter = retryAfterOf(res.headers, res.status);
  return {
    ok: false,
    result,
    status: res.status,
    retryAfterS: result === 'retryable' ? retryAfter : undefined,
    message: errorMessage(body) ?? (text.slice(0, 256) || undefined),
    latencyMs: latencyMs(),
  };
}

/** How long to wait: Partnerize's `X-RateLimit-Retry-After`, else `Retry-After`, else (a 429) when the window resets. */
const retryAfterOf = (headers: Headers, status: number): number | undefined =>
  parseRetryAfter(headers.get('x-ratelimit-retry-after'), Date.now()) ??
  parseRetryAfter(headers.get('retry-after'), Date.now()) ??
  (status === 429 ? parseRetryAfter(headers.get('x-ratelimit-reset'), Date.now()) : undefined);

/** Every task of a job, each read in full. */
async function jobTasks(ctx: ApiContext, jobId: string, timeoutMs: number): Promise<ApiOutcome<JobTask[]>> {
  const listed = await taskSummaries(ctx, jobId, timeoutMs);
  if (!listed.ok) return listed;
  const out = listed.value;
  let latency = listed.latencyMs;
  // Which updates failed is only in each task's own record (`result_data`; the list's summaries
  // carry no counts), so every task is read: callers ask only for jobs that report failures.
  for (const [i, t] of out.entries()) {
    const detail = await call(ctx, 'GET', `/v3/jobs/${enc(jobId)}/tasks/${enc(t.id)}`, timeoutMs, (b) => taskOf(obj(b)['data']));
    if (!detail.ok) return detail;
    latency += detail.latencyMs;
    out[i] = { ...t, ...detail.value, status: detail.value.status || t.status };
  }
  return { ok: true, value: out, status: 200, latencyMs: latency };
}

/** A job's task list, page by page until a short page: summaries only. */
async function taskSummaries(ctx: ApiContext, jobId: string, timeoutMs: number): Promise<ApiOutcome<JobTask[]>> {
  const out: JobTask[] = [];
  let latency = 0;
  for (let offset = 0; offset < 100_000; offset += TASK_PAGE_LIMIT) {
    const page = await call(ctx, 'GET', `/v3/jobs/${enc(jobId)}/tasks?offset=${offset}&limit=${TASK_PAGE_LIMIT}`, timeoutMs, (b) => {
      const data = obj(b)['data'];
      return Array.isArray(data) ? data.map(taskOf).filter((t): t is JobTask => t !== undefined) : undefined;
    });
    if (!page.ok) return page;
    latency += page.latencyMs;
    out.push(...page.value);
    if (page.value.length < TASK_PAGE_LIMIT) break;
  }
  return { ok: true, value: out, status: 200, latencyMs: latency };
}

/** One page of the brand conversion report: the query's first, or the one its previous page pointed to. */
function reportPage(ctx: ApiContext, campaignId: string, q: ReportQuery, timeoutMs: number): Promise<ApiOutcome<ReportPage>> {
  const first = firstReportPath(campaignId, q);
  const path = q.next === undefined ? first : q.next.startsWith('/') ? q.next : `/${q.next}`;
  return call(ctx, 'GET', path, timeoutMs, (b, headers): ReportPage | undefined => {
    const o = obj(b);
    if (!Array.isArray(o['conversions'])) return undefined;
    const conversions = o['conversions'].map(reportConversionOf).filter((c): c is ReportConversion => c !== undefined);
    const { offset, next } = nextPageOf(path, o, o['conversions'].length);
    return { conversions, next, offset, limit: num(o['limit']), count: num(o['count']), rateLimit: rateLimitOf(headers) };
  });
}

/** The report's first page for a query: its window (UTC), date type, statuses and reference. */
function firstReportPath(campaignId: string, q: ReportQuery): string {
  const query = new URLSearchParams({
    start_date: reportDate(q.from),
    end_date: reportDate(q.to),
    timezone: 'UTC',
    limit: String(REPORT_PAGE_LIMIT),
    offset: '0',
  });
  if (q.dateType !== undefined) query.set('date_type', q.dateType);
  for (const status of q.statuses ?? []) query.append('statuses[]', status);
  if (q.conversionReference !== undefined) query.set('conversion_reference', q.conversionReference);
  return `/reporting/report_advertiser/campaign/${enc(campaignId)}/conversion.json?${query.toString()}`;
}
