/**
 * What to do next with a conversion's updates — pure, so every rule is unit-tested apart from I/O.
 *
 * Updates of one conversion are applied one at a time, in the order they arrived: the next one waits
 * while an earlier one is in a bulk job that has not finished, so Partnerize never sees them out of
 * order. An update is sent only once its conversion was delivered (or, for an order the tracker never
 * accepted, after a grace period, by reference). Precedence, decided here:
 *
 * - A whole-order cancel, return, refund or operator reject rejects the conversion; once rejected, a
 *   later approve is `superseded` — only an operator's `pz approve --force` re-approves it — and a
 *   later reject or partial refund has nothing left to do (`superseded`).
 * - The automatic approval never approves a conversion rejected (wholly) or already approved.
 * - A partial refund or return rejects the refunded items, or lowers an item's value when only some
 *   of its units went back; when every unit of every line has gone back, it rejects the whole
 *   conversion by reference instead (no item ids needed).
 * - An approve after items were rejected approves the remaining items one by one: a status set by
 *   reference would apply to every item, including the refunded ones.
 */
import { bulkItemValue, type BulkForm, type BulkStatus, type ConversionUpdate, type ItemUpdate } from './partnerize-bulk.js';
import type {
  ConversionRecord,
  OrderUpdatesRecord,
  PartnerizeItem,
  RefundLine,
  SentUpdate,
  UpdateEntry,
  UpdateKind,
  UpdateState,
} from './model.js';
import type { ConversionItem } from './partnerize-url.js';
import { HOUR_MS } from './time.js';

/** States an update never leaves. */
export const FINAL_STATES: ReadonlySet<UpdateState> = new Set(['applied', 'failed', 'rejected', 'superseded', 'not_applicable']);

/** How long an update may sit in a job before it is taken for lost and sent again (jobs are polled long before). */
export const SUBMITTED_TIMEOUT_MS = 12 * HOUR_MS;
/** How often an update waiting for a conversion that failed to send looks again (an operator may requeue it). */
export const FAILED_CONVERSION_RECHECK_MS = HOUR_MS;

const DEFAULT_REASONS: Record<UpdateKind, string> = {
  cancel: 'order cancelled',
  return: 'order returned',
  refund: 'order refunded',
  approve: 'order approved',
  reject: 'rejected by an operator',
  auto_approve: 'approved automatically: not cancelled in time',
};

/** One update's part of a bulk request. */
export interface Sendable {
  entry: UpdateEntry;
  form: BulkForm;
  campaignId: string;
  effect: SentUpdate['effect'];
  updates: Array<[string, ConversionUpdate | ItemUpdate]>;
  unknownOrder: boolean;
}

export interface Plan {
  /** Updates whose state this decision changed (held, superseded, not applicable, failed). */
  changed: UpdateEntry[];
  /** The update to send now. */
  send?: Sendable | undefined;
  /** Partnerize's item ids are needed first: read the conversion report, then plan again. */
  needsItems?: boolean;
  /** When to look at the record again; undefined when nothing is left to do (or `send` decides). */
  dueAt?: number | undefined;
}

export interface PlanContext {
  now: number;
  /** The first retry delay: how soon a held update looks again at what it waits for. */
  recheckMs: number;
  unknownOrderGraceMs: number;
  /** The configured campaign (for an order the tracker never accepted). */
  campaignId: string;
  autoApproveAfterDays: number;
}

export const byArrival = (a: UpdateEntry, b: UpdateEntry): number => a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Partnerize's items of the conversion with the item updates already applied folded in. */
export function currentItems(record: Pick<OrderUpdatesRecord, 'items' | 'entries'>): PartnerizeItem[] {
  const items = new Map((record.items ?? []).map((i) => [i.id, { ...i }]));
  for (const e of Object.values(record.entries).sort(byArrival)) {
    if (e.state !== 'applied' || e.sent?.form !== 'conversion_items') continue;
    for (const [id, u] of Object.entries(e.sent.updates)) {
      const it = items.get(id);
      if (!it) continue;
      if (u.status) it.status = u.status;
      if (u.item_value !== undefined) it.value = u.item_value;
    }
  }
  return [...items.values()];
}

/**
 * The order's lines as sent to Partnerize: `sku → quantity` (summed per SKU), from the stored order
 * when the record keeps it, else from the exact call. Undefined when some line has no SKU (the
 * tracker cannot tell then whether everything went back).
 */
export function orderQuantities(conversion: Pick<ConversionRecord, 'call' | 'request'> | undefined): Map<string, number> | undefined {
  const items: ReadonlyArray<Pick<ConversionItem, 'sku' | 'quantity'>> | undefined =
    conversion?.call?.items ?? (conversion?.request ? itemsOfCall(conversion.request.url) : undefined);
  if (!items || items.length === 0 || items.some((i) => i.sku === undefined)) return undefined;
  const out = new Map<string, number>();
  for (const i of items) out.set(i.sku!, (out.get(i.sku!) ?? 0) + i.quantity);
  return out;
}

/**
 * The items of an S2S call the tracker built (core/partnerize-url.ts): `[key:value/…]` blocks whose
 * values are percent-encoded once, so a literal `[`, `]`, `/` or `:` is always structure.
 */
export function itemsOfCall(url: string): Array<Pick<ConversionItem, 'sku' | 'quantity'>> {
  const out: Array<Pick<ConversionItem, 'sku' | 'quantity'>> = [];
  for (const m of url.matchAll(/\[([^\]]*)\]/g)) {
    let sku: string | undefined;
    let quantity = 1;
    for (const seg of (m[1] ?? '').split('/')) {
      const colon = seg.indexOf(':');
      if (colon < 0) continue;
      const key = seg.slice(0, colon);
      let value: string;
      try {
        value = decodeURIComponent(seg.slice(colon + 1));
      } catch {
        continue;
      }
      if (key === 'sku') sku = value;
      else if (key === 'quantity' && /^\d+$/.test(value)) quantity = Number(value);
    }
    out.push({ sku, quantity });
  }
  return out;
}

/** Quantities per SKU refunded by the given (applied or in-flight) partial updates. */
function refundedBy(entries: readonly UpdateEntry[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of entries) for (const l of e.items ?? []) out.set(l.sku, (out.get(l.sku) ?? 0) + l.quantity);
  return out;
}

export interface ItemPlan {
  updates: Array<[string, ItemUpdate]>;
  /** SKUs of the update that match no live item of the conversion at Partnerize. */
  unmatched: string[];
}

/**
 * The item updates of a partial refund. Per refunded line: if Partnerize holds several live items of
 * the SKU (one per unit), as many are rejected as units went back; if it holds one, it is rejected
 * when every remaining unit went back, else its value is lowered — by the refunded value when the
 * line says it (`value` per unit × quantity), else in proportion to the units left. Whether
 * Partnerize's `item_value` is a line's total or its unit value is not documented: the proportional
 * rule is right either way; the refunded-value rule assumes the line's total (the report's example
 * sums item values to the conversion's value). Without enough to compute a value, the item is
 * rejected: the brand never pays commission on goods it took back.
 */
export function itemUpdatesFor(
  lines: readonly RefundLine[],
  items: readonly PartnerizeItem[],
  ordered: Map<string, number> | undefined,
  refundedBefore: Map<string, number>,
  reason: string,
): ItemPlan {
  const updates: Array<[string, ItemUpdate]> = [];
  const unmatched: string[] = [];
  for (const line of lines) {
    const live = items.filter((i) => i.sku === line.sku && i.status !== 'rejected').sort((a, b) => (a.id < b.id ? -1 : 1));
    if (live.length === 0) {
      unmatched.push(line.sku);
      continue;
    }
    if (live.length > 1) {
      for (const it of live.slice(-Math.min(line.quantity, live.length))) updates.push([it.id, { status: 'rejected', reason }]);
      continue;
    }
    const it = live[0]!;
    const total = ordered?.get(line.sku);
    const left = total === undefined ? undefined : total - (refundedBefore.get(line.sku) ?? 0);
    if (left !== undefined && line.quantity >= left) {
      updates.push([it.id, { status: 'rejected', reason }]);
      continue;
    }
    let value: number | undefined;
    if (it.value !== undefined && line.value !== undefined) value = it.value - Number(line.value) * line.quantity;
    else if (it.value !== undefined && left !== undefined) value = (it.value * (left - line.quantity)) / left;
    if (value === undefined || bulkItemValue(value) <= 0) updates.push([it.id, { status: 'rejected', reason }]);
    else updates.push([it.id, { itemValue: bulkItemValue(value), reason }]);
  }
  return { updates, unmatched };
}

/** What a planning pass reads and writes: the record, its conversion, and the decisions so far. */
interface Planning {
  record: OrderUpdatesRecord;
  conversion: ConversionRecord | undefined;
  ctx: PlanContext;
  /** The record's updates, by arrival. */
  entries: UpdateEntry[];
  changed: UpdateEntry[];
  /** An applied update rejected the whole conversion. */
  rejectedWhole: boolean;
  /** An applied update approved the conversion. */
  approved: boolean;
}

/**
 * The next step for a conversion's updates. `conversion` is its record now (undefined: the tracker
 * has none); `record.items` Partnerize's items when they were read.
 */
export function planUpdates(record: OrderUpdatesRecord, conversion: ConversionRecord | undefined, ctx: PlanContext): Plan {
  const entries = Object.values(record.entries).sort(byArrival);
  const applied = entries.filter((e) => e.state === 'applied');
  const p: Planning = {
    record,
    conversion,
    ctx,
    entries,
    changed: [],
    rejectedWhole: applied.some((e) => e.sent?.effect === 'reject'),
    approved: applied.some((e) => e.sent?.effect === 'approve'),
  };
  for (const e of entries) {
    if (FINAL_STATES.has(e.state)) continue;
    const plan = planEntry(e, p);
    if (plan) return plan;
  }
  return { changed: p.changed };
}

/** Records a new state (and note) of an update, if it changed. */
function change(p: Planning, e: UpdateEntry, state: UpdateState, note?: string): void {
  const next: UpdateEntry = { ...e, state, note, updatedAt: new Date(p.ctx.now).toISOString() };
  if (note === undefined) delete next.note;
  if (e.state !== state || e.note !== note) p.changed.push(next);
}

/** The plan for the first update still open; undefined when it is settled here and the next one is up. */
function planEntry(e: UpdateEntry, p: Planning): Plan | undefined {
  const { now } = p.ctx;
  if (e.state === 'submitted') {
    const since = Date.parse(e.updatedAt);
    if (now - since < SUBMITTED_TIMEOUT_MS) return { changed: p.changed, dueAt: since + SUBMITTED_TIMEOUT_MS };
    // Its job was never polled to the end (its record lost): send it again (harmless twice).
  }
  if (e.notBefore !== undefined && e.notBefore > now) return { changed: p.changed, dueAt: e.notBefore };
  const waiting = waitForConversion(e, p);
  if (waiting) return waiting;
  const status = p.conversion?.status;
  if (status !== undefined && status !== 'sent') {
    change(p, e, 'not_applicable', `the conversion was never sent to Partnerize (${status})`);
    return undefined;
  }
  const o = outgoing(e, p);
  if (e.kind === 'approve' || e.kind === 'auto_approve') return planApproval(o, p);
  if (p.rejectedWhole) {
    change(p, e, 'superseded', 'the conversion was rejected by an earlier update');
    return undefined;
  }
  if (e.items === undefined) return byReference(o, p, 'rejected', 'reject');
  return planPartialRefund(o, e.items, p);
}

/** Its conversion first: an update never overtakes it. A plan to hold the update, or undefined once the conversion was delivered (or never will be). */
function waitForConversion(e: UpdateEntry, p: Planning): Plan | undefined {
  const { conversion, ctx } = p;
  const status = conversion?.status;
  if (conversion === undefined && ctx.now < Date.parse(e.acceptedAt) + ctx.unknownOrderGraceMs) {
    change(p, e, 'held', 'the tracker has no conversion for this order yet: waiting for its postback');
    return { changed: p.changed, dueAt: ctx.now + ctx.recheckMs };
  }
  if (status === 'pending' || status === 'queued') {
    change(p, e, 'held', `waiting for its conversion to be sent (${status})`);
    return { changed: p.changed, dueAt: Math.max(ctx.now + ctx.recheckMs, conversion?.dueAt ?? 0) };
  }
  if (status === 'failed') {
    change(p, e, 'held', 'its conversion failed to send: waiting for it to be requeued or replayed');
    return { changed: p.changed, dueAt: ctx.now + FAILED_CONVERSION_RECHECK_MS };
  }
  if (status === 'unconfirmed') {
    // Partnerize may hold it: the update waits for an operator's confirm (or replay), never dropped.
    change(p, e, 'held', 'its conversion is unconfirmed (the call was cut): waiting for it to be confirmed or replayed');
    return { changed: p.changed, dueAt: ctx.now + FAILED_CONVERSION_RECHECK_MS };
  }
  return undefined;
}

/** An update about to be sent: where, why, and whether the tracker knows its order. */
interface Outgoing {
  entry: UpdateEntry;
  campaignId: string;
  reason: string;
  unknownOrder: boolean;
}

function outgoing(e: UpdateEntry, p: Planning): Outgoing {
  const { conversion, record, ctx } = p;
  return {
    entry: e,
    campaignId: conversion?.campaignId ?? record.campaignId ?? ctx.campaignId,
    reason:
      e.reason ?? (e.kind === 'auto_approve' ? `approved automatically after ${ctx.autoApproveAfterDays} days` : DEFAULT_REASONS[e.kind]),
    unknownOrder: conversion === undefined,
  };
}

/** Sends a status for the whole conversion, by its reference. */
const byReference = (o: Outgoing, p: Planning, statusTo: BulkStatus, effect: SentUpdate['effect']): Plan => ({
  changed: p.changed,
  send: {
    entry: o.entry,
    form: 'conversion_references',
    campaignId: o.campaignId,
    effect,
    updates: [[p.record.ref, { status: statusTo, reason: o.reason }]],
    unknownOrder: o.unknownOrder,
  },
});

/** Sends item updates (by Partnerize's item ids). */
const byItems = (o: Outgoing, p: Planning, effect: SentUpdate['effect'], updates: Array<[string, ItemUpdate]>, entry = o.entry): Plan => ({
  changed: p.changed,
  send: { entry, form: 'conversion_items', campaignId: o.campaignId, effect, updates, unknownOrder: o.unknownOrder },
});

/** An approve (an operator's, the brand's or the automatic one), unless an earlier update settled the matter. */
function planApproval(o: Outgoing, p: Planning): Plan | undefined {
  const e = o.entry;
  if (p.rejectedWhole && !e.force) {
    change(p, e, 'superseded', 'the conversion was rejected by an earlier update (an operator may `pz approve --force`)');
    return undefined;
  }
  if (e.kind === 'auto_approve' && p.approved) {
    change(p, e, 'superseded', 'the conversion was approved already');
    return undefined;
  }
  const items = currentItems(p.record);
  if (!items.some((i) => i.status === 'rejected') || p.rejectedWhole) return byReference(o, p, 'approved', 'approve');
  // A status by reference would approve the refunded items too: the remaining items are approved one by one.
  const live = items.filter((i) => i.status !== 'rejected');
  if (live.length === 0) {
    change(p, e, 'superseded', 'every item of the conversion was rejected by earlier updates');
    return undefined;
  }
  return byItems(
    o,
    p,
    'approve',
    live.map((i) => [i.id, { status: 'approved', reason: o.reason }]),
  );
}

/** A partial refund or return: the whole conversion once every unit went back, else its items (their ids read first). */
function planPartialRefund(o: Outgoing, lines: RefundLine[], p: Planning): Plan | undefined {
  const e = o.entry;
  const ordered = orderQuantities(p.conversion);
  const earlier = p.entries.filter((x) => x !== e && x.seq <= e.seq && x.items !== undefined && x.state === 'applied');
  const before = refundedBy(earlier);
  const after = refundedBy([...earlier, e]);
  if (ordered && [...ordered].every(([sku, q]) => (after.get(sku) ?? 0) >= q)) return byReference(o, p, 'rejected', 'reject');
  if (p.record.items === undefined) return { changed: p.changed, needsItems: true };
  const plan = itemUpdatesFor(lines, currentItems(p.record), ordered, before, o.reason);
  if (plan.updates.length === 0) {
    change(p, e, 'failed', `none of its SKUs (${plan.unmatched.join(', ').slice(0, 200)}) is a live item of the conversion at Partnerize`);
    return undefined;
  }
  const sendEntry =
    plan.unmatched.length > 0 ? { ...e, note: `SKUs not found at Partnerize: ${plan.unmatched.join(', ').slice(0, 200)}` } : e;
  return byItems(o, p, 'items', plan.updates, sendEntry);
}
