/**
 * Partnerize's v3 bulk conversion update (`POST /v3/brand/campaigns/{id}/conversions/bulk`): the
 * request bodies the tracker builds, and how a finished job's tasks are read back.
 *
 * The published schema (test/fixtures/partnerize-bulk-update.schema.json, copied from Partnerize's
 * OpenAPI document) has `additionalProperties: false` at every level: any property it does not list
 * is a 400 (support question Q8). So bodies are built here from a closed set of fields, never by
 * copying an object through, and every value is brought inside the schema's bounds first.
 * `test/unit/partnerize-bulk.test.ts` checks every body this module can build against that schema.
 */

/** The statuses a bulk update may set. */
export type BulkStatus = 'approved' | 'rejected' | 'pending' | 'fraudulent';

/** An update of a whole conversion (by reference or id): the fields the tracker uses. */
export interface ConversionUpdate {
  status: BulkStatus;
  reason?: string | undefined;
}

/** An update of one conversion item (by Partnerize's conversion item id). */
export interface ItemUpdate {
  status?: BulkStatus | undefined;
  /** The item's new value (a partial refund lowers it). */
  itemValue?: number | undefined;
  reason?: string | undefined;
}

/** Which identifiers a body's keys are: exactly one per request. */
export type BulkForm = 'conversion_references' | 'conversion_items';

/** One id's entry in a body, as sent (the schema's names). */
export interface BulkEntry {
  status?: BulkStatus;
  item_value?: number;
  reason?: string;
}

export type BulkBody =
  | { conversion_references: Record<string, { status: BulkStatus; reason?: string }> }
  | { conversion_items: Record<string, BulkEntry> };

/** "each allowing a maximum of 100,000 items" (the endpoint's description). */
export const MAX_BULK_IDS = 100_000;

/** The schema's pattern and length for `reason` (and every reference field). */
export const REASON_PATTERN = /^[a-zA-Z0-9 :\-_.,;#]+$/;
export const REASON_MAX = 255;

/** `item_value`'s bounds in the schema. */
export const ITEM_VALUE_MAX = 99_999_999.9999;

/**
 * A reason Partnerize accepts, from whatever text the brand sent: accents dropped (é → e), every
 * other character outside the schema's set turned into a space, spaces collapsed, cut to 255.
 * Undefined when nothing is left (the reason is optional; an empty one would be a 400).
 */
export function bulkReason(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const cleaned = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-zA-Z0-9 :\-_.,;#]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim()
    .slice(0, REASON_MAX)
    .trim();
  return cleaned === '' ? undefined : cleaned;
}

/** An item value inside the schema's bounds, to 4 decimal places (Partnerize's precision). */
export function bulkItemValue(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Math.min(ITEM_VALUE_MAX, Math.round(value * 10_000) / 10_000);
}

export class BulkBodyError extends Error {
  override name = 'BulkBodyError';
}

/**
 * The entries of a body, from the updates: only the schema's fields, each inside its bounds. Keys
 * become own properties (`Object.fromEntries`), so a reference such as `__proto__` is sent as it is
 * rather than lost to the prototype.
 */
export function bulkEntries(
  form: BulkForm,
  updates: ReadonlyArray<readonly [string, ConversionUpdate | ItemUpdate]>,
): Record<string, BulkEntry> {
  return Object.fromEntries(
    updates.map(([key, u]) => {
      const reason = bulkReason(u.reason);
      if (form === 'conversion_references') return [key, { status: (u as ConversionUpdate).status, ...(reason ? { reason } : {}) }];
      const { status, itemValue } = u as ItemUpdate;
      if (status === undefined && itemValue === undefined) throw new BulkBodyError(`item ${key}: nothing to update`);
      return [
        key,
        {
          ...(status ? { status } : {}),
          ...(itemValue === undefined ? {} : { item_value: bulkItemValue(itemValue) }),
          ...(reason ? { reason } : {}),
        },
      ];
    }),
  );
}

/** A body from the entries of several updates (their keys are distinct: one conversion, or one item, each). */
export function joinBody(form: BulkForm, parts: ReadonlyArray<Record<string, BulkEntry>>): BulkBody {
  const entries = Object.fromEntries(parts.flatMap((p) => Object.entries(p)));
  const n = Object.keys(entries).length;
  if (n === 0) throw new BulkBodyError('a bulk update needs at least one id');
  if (n > MAX_BULK_IDS) throw new BulkBodyError(`a bulk update takes at most ${MAX_BULK_IDS} ids, got ${n}`);
  return form === 'conversion_references'
    ? { conversion_references: entries as Record<string, { status: BulkStatus; reason?: string }> }
    : { conversion_items: entries };
}

/** The body of one bulk request. */
export function bulkBody(form: BulkForm, updates: ReadonlyArray<readonly [string, ConversionUpdate | ItemUpdate]>): BulkBody {
  return joinBody(form, [bulkEntries(form, updates)]);
}

/** The ids (map keys) of a body. */
export const bodyKeys = (body: BulkBody): string[] =>
  Object.keys('conversion_references' in body ? body.conversion_references : body.conversion_items);

/** A v3 job, as `GET /v3/jobs/{id}` (and the bulk endpoint's 202) describe it. */
export interface BulkJob {
  id: string;
  /** `created | active | complete | failed`; other values are kept as they come. */
  status: string;
  percentageComplete?: number | undefined;
  itemSuccessCount?: number | undefined;
  itemErrorCount?: number | undefined;
  itemTotalCount?: number | undefined;
}

/** One task of a job (`GET /v3/jobs/{id}/tasks`, with `result_data` from the task itself). */
export interface JobTask {
  id: string;
  status: string;
  itemErrorCount?: number | undefined;
  /** Partnerize documents it only as a string "generated by the completion of the job". */
  resultData?: string | undefined;
}

export const jobFinished = (job: Pick<BulkJob, 'status'>): boolean => job.status === 'complete' || job.status === 'failed';

/** A finished job has failures when it says so, or when its status is `failed`. */
export const jobHasErrors = (job: BulkJob, tasks: readonly JobTask[]): boolean =>
  job.status === 'failed' || (job.itemErrorCount ?? 0) > 0 || tasks.some((t) => t.status === 'failed' || (t.itemErrorCount ?? 0) > 0);

const MESSAGE_FIELDS = ['message', 'error', 'reason', 'detail', 'description'];
/** A container whose contents are failures: `errors`, `failed`, `failures`, `rejected_items` … */
const FAILURE_CONTAINER = /error|fail|invalid/i;
/** A bare string that reports success rather than a failure. */
const SUCCESS_WORD = /^(ok|success(ful)?|succeeded|complete(d)?|done|applied|updated|approved|rejected|pending|fraudulent)$/i;

function messageOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  for (const f of MESSAGE_FIELDS) {
    const m = messageOf(o[f]);
    if (m) return m;
  }
  if (Array.isArray(o['errors'])) return messageOf(o['errors'][0]);
  return undefined;
}

/** An object that carries an error (an `error`/`errors` field, or a message that is not a success word). */
function reportsError(v: unknown): boolean {
  if (typeof v === 'string') return !SUCCESS_WORD.test(v.trim());
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  if (o['error'] !== undefined && o['error'] !== null && o['error'] !== false) return true;
  if (Array.isArray(o['errors']) && o['errors'].length > 0) return true;
  const m = o['message'];
  return typeof m === 'string' && !SUCCESS_WORD.test(m.trim()) && !/^(success|ok)/i.test(String(o['status'] ?? ''));
}

/**
 * Which of `keys` the failed tasks name as failed, and why. `result_data`'s content is undocumented
 * (only "a string generated by the completion of the job"), so it is read tolerantly: parsed as JSON
 * when it is JSON; an id counts as failed when it appears (as an object key or a whole string value)
 * inside a failure container (`errors`, `failed` …) or beside an error message. Failures a task
 * reports without naming ids stay unattributed: the caller then splits the job to find them
 * (core/order-update-sweep.ts).
 */
export function failuresNamed(tasks: readonly JobTask[], keys: readonly string[]): Map<string, string> {
  const wanted = new Set(keys);
  const found = new Map<string, string>();
  const note = (key: string, failed: boolean, context: unknown) => {
    if (failed && !found.has(key)) found.set(key, (messageOf(context) ?? 'failed').slice(0, 256));
  };
  const visit = (v: unknown, inFailures: boolean, context: unknown): void => {
    if (typeof v === 'string') {
      if (wanted.has(v)) note(v, inFailures || reportsError(context), context);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const e of v) visit(e, inFailures, typeof e === 'object' && e !== null ? e : context);
      return;
    }
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      if (wanted.has(k)) note(k, inFailures || reportsError(child), child);
      const nested = inFailures || FAILURE_CONTAINER.test(k);
      visit(child, nested, typeof child === 'object' && child !== null ? child : v);
    }
  };
  for (const t of tasks) {
    if (t.status !== 'failed' && (t.itemErrorCount ?? 0) === 0) continue;
    if (t.resultData === undefined || t.resultData === '') continue;
    try {
      visit(JSON.parse(t.resultData) as unknown, false, undefined);
    } catch {
      // Not JSON: nothing can be attributed from it.
    }
  }
  return found;
}
