/**
 * Partnerize's API (api.partnerize.com) over fetch: the v3 bulk conversion update, its jobs and
 * tasks, and the brand conversion report. HTTP Basic with the user application key and the user API
 * key (from Secrets Manager in AWS, from the environment locally); every call has a hard timeout
 * and ends as an `ApiOutcome`, classified as conversions' calls are (2xx, then 408/429/5xx/timeout/
 * connection retryable, other 4xx refused). A 429's `X-RateLimit-Retry-After` says how long to wait.
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
  return { id, sku: str(i['sku']), category: str(i['category']), value: num(i['item_value']), status: str(i['item_status']) };
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
    items: items.map(itemOf).filter((i): i is PartnerizeItem => i !== undefined),
  };
};

/** `YYYY-MM-DD HH:MM:SS`, UTC: the report's date format. */
const reportDate = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

export interface PartnerizeApiOptions {
  baseUrl: string;
  credentials: CredentialSource;
  userAgent?: string;
  fetchImpl?: typeof fetch;
  now?: () => number;
}

export function createPartnerizeApi(opts: PartnerizeApiOptions): PartnerizeApi {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetchImpl ?? fetch;
  const clock = opts.now ?? (() => performance.now());

  async function call<T>(
    method: 'GET' | 'POST',
    path: string,
    timeoutMs: number,
    read: (body: unknown) => T | undefined,
    payload?: unknown,
  ): Promise<ApiOutcome<T>> {
    const started = clock();
    const latencyMs = () => Math.round(clock() - started);
    const creds = await opts.credentials();
    if (!creds) return { ok: false, result: 'rejected', status: 401, message: 'Partnerize API keys are not set', latencyMs: 0 };
    const auth = Buffer.from(`${creds.applicationKey}:${creds.userApiKey}`).toString('base64');
    try {
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
      const text = await readText(res);
      let body: unknown;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        body = undefined;
      }
      const result = classifyStatus(res.status);
      if (result === 'sent') {
        const value = read(body);
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
      const retryAfter =
        parseRetryAfter(res.headers.get('x-ratelimit-retry-after'), Date.now()) ??
        parseRetryAfter(res.headers.get('retry-after'), Date.now()) ??
        (res.status === 429 ? parseRetryAfter(res.headers.get('x-ratelimit-reset'), Date.now()) : undefined);
      return {
        ok: false,
        result,
        status: res.status,
        retryAfterS: result === 'retryable' ? retryAfter : undefined,
        message: errorMessage(body) ?? (text.slice(0, 256) || undefined),
        latencyMs: latencyMs(),
      };
    } catch (err) {
      return { ok: false, result: 'retryable', ...causeOf(err), latencyMs: latencyMs() };
    }
  }

  const enc = encodeURIComponent;

  return {
    hasCredentials: async () => (await opts.credentials()) !== undefined,

    bulkUpdate: (campaignId: string, body: BulkBody, timeoutMs: number) =>
      call('POST', `/v3/brand/campaigns/${enc(campaignId)}/conversions/bulk`, timeoutMs, jobOf, body),

    job: (jobId: string, timeoutMs: number) => call('GET', `/v3/jobs/${enc(jobId)}`, timeoutMs, jobOf),

    async tasks(jobId: string, timeoutMs: number): Promise<ApiOutcome<JobTask[]>> {
      const out: JobTask[] = [];
      let latency = 0;
      for (let offset = 0; offset < 100_000; offset += TASK_PAGE_LIMIT) {
        const page = await call('GET', `/v3/jobs/${enc(jobId)}/tasks?offset=${offset}&limit=${TASK_PAGE_LIMIT}`, timeoutMs, (b) => {
          const data = obj(b)['data'];
          return Array.isArray(data) ? data.map(taskOf).filter((t): t is JobTask => t !== undefined) : undefined;
        });
        if (!page.ok) return page;
        latency += page.latencyMs;
        out.push(...page.value);
        if (page.value.length < TASK_PAGE_LIMIT) break;
      }
      // Which updates failed is only in each task's own record (`result_data`; the list's summaries
      // carry no counts), so every task is read: callers ask only for jobs that report failures.
      for (const [i, t] of out.entries()) {
        const detail = await call('GET', `/v3/jobs/${enc(jobId)}/tasks/${enc(t.id)}`, timeoutMs, (b) => taskOf(obj(b)['data']));
        if (!detail.ok) return detail;
        latency += detail.latencyMs;
        out[i] = { ...t, ...detail.value, status: detail.value.status || t.status };
      }
      return { ok: true, value: out, status: 200, latencyMs: latency };
    },

    conversions: (campaignId: string, q: ReportQuery, timeoutMs: number) => {
      const path =
        q.next ??
        `/reporting/report_advertiser/campaign/${enc(campaignId)}/conversion.json?${new URLSearchParams({
          start_date: reportDate(q.from),
          end_date: reportDate(q.to),
          timezone: 'UTC',
          limit: String(REPORT_PAGE_LIMIT),
          ...(q.conversionReference === undefined ? {} : { conversion_reference: q.conversionReference }),
        }).toString()}`;
      return call('GET', path.startsWith('/') ? path : `/${path}`, timeoutMs, (b): ReportPage | undefined => {
        const o = obj(b);
        if (!Array.isArray(o['conversions'])) return undefined;
        const conversions = o['conversions'].map(reportConversionOf).filter((c): c is ReportConversion => c !== undefined);
        const pagination = obj(obj(o['hypermedia'])['pagination']);
        const nextPage = str(pagination['next_page']);
        const cursor = str(o['cursor_id']);
        const next =
          nextPage ??
          (cursor && conversions.length > 0 ? `${path.replace(/[?&]cursor_id=[^&]*/, '')}&cursor_id=${enc(cursor)}` : undefined);
        return { conversions, next: next && next !== path ? next : undefined };
      });
    },
  };
}

async function readText(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
