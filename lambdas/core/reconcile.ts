/**
 * The reconciliation's comparison (README "Reconciliation"): the tracker's conversions of a window
 * against Partnerize's brand conversion report for the same window, order by order. Pure: the
 * records and the report come in, the differences go out, so every rule is property-tested.
 *
 * Both sides are read by the order's time: Partnerize's `conversion_time` is the `conversion_time:`
 * segment the tracker sends (the order time, UTC, to the second), so a window is the same window on
 * both sides. Orders are matched by conversionRef (= Partnerize's `conversion_reference`).
 *
 * The classes:
 * - `missing`: delivered (Partnerize answered 2xx), not in the report once the grace period after
 *   the delivery is over;
 * - `unexpected`: in the report, not delivered by the tracker — no record at all, a record never
 *   sent (no consent, dry run, unattributed: the legacy pixel sent it), one still owed or given up
 *   (an attempt that timed out landed), or a second conversion with the same reference;
 * - `value`: the value or the currency differs from the call's;
 * - `items`: the items differ, per SKU (their value, and their count where the report can say it);
 * - `status`: an update the tracker applied (cancel, return, refund, approve) is not reflected.
 */
import { abs, agree, amountOf, amountOfNumber, formatAmount, sum, times, tolerance, type Amount } from './reconcile-amounts.js';
import { sentCallOf, type SentCall, type SentItem } from './reconcile-call.js';
import type {
  ClassTotals,
  ConversionRecord,
  ConversionStatus,
  Difference,
  DifferenceClass,
  FixAction,
  ItemDifference,
  OrderUpdatesRecord,
  PartnerizeItem,
  ReconcileSummary,
  ReportConversion,
  UpdateEntry,
} from './model.js';
import { byArrival } from './order-update-plan.js';
import { iso } from './time.js';

/** The result's types are records' content (model.ts, beside the run record that keeps them); the CLI's renderer reads them here. */

/** The classes, in the order reports list them (every {@link DifferenceClass}, model.ts). */
export const DIFFERENCE_CLASSES = ['missing', 'unexpected', 'value', 'items', 'status'] as const satisfies readonly DifferenceClass[];

/** How each class is called for people, and the runbook section that says what to do. */
export const CLASS_INFO: Record<DifferenceClass, { title: string; anchor: string }> = {
  missing: { title: 'missing', anchor: 'reconcile-missing' },
  unexpected: { title: 'unexpected', anchor: 'reconcile-unexpected' },
  value: { title: 'value or currency differs', anchor: 'reconcile-value' },
  items: { title: 'items differ', anchor: 'reconcile-items' },
  status: { title: 'status drift', anchor: 'reconcile-status' },
};

export interface Reconciliation {
  summary: ReconcileSummary;
  rows: Difference[];
}

export interface CompareInput {
  campaignId: string;
  /** The conversionRef prefixes of this campaign id (`TEST-` in a parallel run; '' for none). */
  prefixes: readonly string[];
  window: { from: number; to: number };
  now: number;
  graceMs: number;
  /** The tracker's records of the campaign with the order time in the window. */
  ours: readonly ConversionRecord[];
  /** Records found by key for references the report holds that `ours` does not (another window, or not indexed). */
  others: ReadonlyMap<string, ConversionRecord>;
  /** Order updates records, by the conversionRef of their conversion. */
  updates: ReadonlyMap<string, OrderUpdatesRecord>;
  /** The report's conversions, as read (pages may overlap: deduped by conversion id). */
  partnerize: readonly ReportConversion[];
}

export const emptyTotals = (): ClassTotals => ({ count: 0, value: {} });

export function emptySummary(): ReconcileSummary {
  return {
    missing: emptyTotals(),
    unexpected: emptyTotals(),
    value: emptyTotals(),
    items: emptyTotals(),
    status: emptyTotals(),
    checked: 0,
    held: 0,
    recent: 0,
    twins: 0,
    notSent: {},
    rejectedAtPartnerize: 0,
    converted: 0,
  };
}

/** Whether anything differs (the CLI's exit code, the alarm's metrics). */
export const differs = (s: ReconcileSummary): boolean => DIFFERENCE_CLASSES.some((c) => s[c].count > 0);

/** `YYYY-MM-DD HH:MM:SS` (UTC, as asked) or ISO, to epoch ms. */
export function reportTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]00:?00)?$/.exec(text.trim());
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(t) ? undefined : t;
}

/** Did a call of this record reach Partnerize, or may one have (no answer came back)? */
export function mayHaveReached(r: Pick<ConversionRecord, 'status' | 'attempts' | 'attemptStarted'>): boolean {
  return (
    r.status === 'sent' ||
    r.attemptStarted !== undefined ||
    r.attempts.some((a) => a.result === 'sent' || a.uncertain === true || a.deliveredEarlier === true)
  );
}

/** The attempt that delivered a sent record: its last 2xx (or the duplicate answer that proved an earlier one landed). */
export function deliveringAttempt(r: Pick<ConversionRecord, 'attempts'>): ConversionRecord['attempts'][number] | undefined {
  return [...r.attempts].reverse().find((a) => a.result === 'sent' || a.deliveredEarlier === true);
}

/** When the record was delivered (the delivering attempt's start; else its last change). */
export const deliveredAt = (r: Pick<ConversionRecord, 'attempts' | 'updatedAt'>): number =>
  Date.parse(deliveringAttempt(r)?.at ?? r.updatedAt);

interface SentOrder {
  call: SentCall;
  currency: string;
  total: Amount;
  tol: Amount;
  items: SentItem[];
}

/** What the tracker told Partnerize: the exact call's order (else the record's own totals). */
function sentOrderOf(r: ConversionRecord): SentOrder {
  const call = r.request ? sentCallOf(r.request.url) : { items: [] };
  const items = call.items.length > 0 ? call.items : (r.call?.items ?? []).map((i) => ({ ...i }));
  const currency = (call.currency ?? r.currency).toUpperCase();
  const total = items.length > 0 ? sum(items.map((i) => times(amountOf(i.value) ?? 0n, i.quantity))) : (amountOf(r.orderValue) ?? 0n);
  return { call, currency, total, tol: tolerance(items, currency), items };
}

const itemKey = (i: { sku?: string | undefined; category?: string | undefined }): string =>
  i.sku !== undefined && i.sku !== '' ? i.sku : `category:${i.category ?? ''}`;

/** Partnerize's items per SKU: rows, quantity (when reported) and value. */
function theirItems(items: readonly PartnerizeItem[]) {
  const out = new Map<string, { rows: number; quantity?: number; value: Amount; valueTimesQuantity: Amount; live: Amount }>();
  for (const i of items) {
    const k = itemKey(i);
    const v = i.value === undefined ? 0n : (amountOfNumber(i.value) ?? 0n);
    const e = out.get(k) ?? { rows: 0, value: 0n, valueTimesQuantity: 0n, live: 0n };
    e.rows += 1;
    e.value += v;
    e.valueTimesQuantity += times(v, i.quantity ?? 1);
    if (i.status !== 'rejected') e.live += v;
    if (i.quantity !== undefined) e.quantity = (e.quantity ?? 0) + i.quantity;
    out.set(k, e);
  }
  return out;
}

/**
 * Items per SKU. Partnerize's report has no item quantity in its schema and does not say whether it
 * keeps one item per unit or per line (docs/order-lifecycle.md), so a SKU matches when its value
 * agrees and its rows are either one per unit or one per line (or, where the report carries a
 * quantity, that quantity agrees). `basket`: a SKU is missing, extra, or its count differs — the
 * basket is not the one sent, as opposed to the same basket at other prices.
 */
function compareItems(order: SentOrder, items: readonly PartnerizeItem[]): { diffs: ItemDifference[]; basket: boolean } {
  const ours = new Map<string, { quantity: number; lines: number; value: Amount; sent: SentItem[] }>();
  for (const i of order.items) {
    const k = itemKey(i);
    const e = ours.get(k) ?? { quantity: 0, lines: 0, value: 0n, sent: [] };
    e.quantity += i.quantity;
    e.lines += 1;
    e.value += times(amountOf(i.value) ?? 0n, i.quantity);
    e.sent.push(i);
    ours.set(k, e);
  }
  const theirs = theirItems(items);
  const out: ItemDifference[] = [];
  let basket = false;
  for (const key of [...new Set([...ours.keys(), ...theirs.keys()])].sort()) {
    const o = ours.get(key);
    const t = theirs.get(key);
    const diff: ItemDifference = {
      key,
      ours: o && { quantity: o.quantity, lines: o.lines, value: formatAmount(o.value) },
      partnerize: t && { rows: t.rows, quantity: t.quantity, value: formatAmount(t.value) },
    };
    if (!o || !t) {
      basket = true;
      out.push(diff);
      continue;
    }
    const tol = tolerance(o.sent, order.currency);
    const count = t.quantity !== undefined ? t.quantity === o.quantity : t.rows === o.quantity || t.rows === o.lines;
    const value = agree(t.value, o.value, tol) || (t.quantity !== undefined && agree(t.valueTimesQuantity, o.value, tol));
    if (!count) basket = true;
    if (!count || !value) out.push(diff);
  }
  return { diffs: out, basket };
}

const itemsLine = (d: ItemDifference): string => {
  if (!d.partnerize) return `${d.key}: sent ${d.ours!.quantity} × worth ${d.ours!.value}, not at Partnerize`;
  if (!d.ours) return `${d.key}: at Partnerize (${d.partnerize.rows} item(s) worth ${d.partnerize.value}), never sent`;
  const q = d.partnerize.quantity === undefined ? `${d.partnerize.rows} item(s)` : `quantity ${d.partnerize.quantity}`;
  return `${d.key}: sent quantity ${d.ours.quantity} worth ${d.ours.value}, Partnerize ${q} worth ${d.partnerize.value}`;
};

/** What the tracker's applied updates say the conversion's status should be, and since when. */
interface Expected {
  /** For every item (and the conversion) without an item-level expectation. */
  whole?: { status: 'rejected' | 'approved'; entry: UpdateEntry } | undefined;
  items: Map<string, { status?: string | undefined; value?: number | undefined; entry: UpdateEntry }>;
  /** An applied update changed some items (a partial refund): the order is no longer the call. */
  itemLevel: boolean;
  /** The latest applied update's time (epoch ms). */
  lastAppliedAt: number;
}

function expectedOf(updates: OrderUpdatesRecord | undefined): Expected {
  const e: Expected = { items: new Map(), itemLevel: false, lastAppliedAt: 0 };
  for (const entry of Object.values(updates?.entries ?? {}).sort(byArrival)) {
    if (entry.state !== 'applied' || !entry.sent) continue;
    e.lastAppliedAt = Math.max(e.lastAppliedAt, Date.parse(entry.updatedAt));
    if (entry.sent.form === 'conversion_references') {
      if (entry.sent.effect === 'reject' || entry.sent.effect === 'approve') {
        e.whole = { status: entry.sent.effect === 'reject' ? 'rejected' : 'approved', entry };
        e.items.clear();
      }
      continue;
    }
    for (const [id, u] of Object.entries(entry.sent.updates)) {
      const before = e.items.get(id);
      e.items.set(id, {
        status: u.status ?? before?.status,
        value: u.item_value ?? before?.value,
        entry,
      });
      if (u.status === 'rejected' || u.item_value !== undefined) e.itemLevel = true;
    }
  }
  return e;
}

/** The first way Partnerize's state falls short of the applied updates, or undefined. */
function statusDrift(c: ReportConversion, exp: Expected): { detail: string; entry: UpdateEntry; expected: string } | undefined {
  if (c.items.length === 0) {
    if (exp.whole && c.status !== exp.whole.status)
      return {
        detail: `${exp.whole.entry.kind} applied, Partnerize says ${c.status} (expected ${exp.whole.status})`,
        entry: exp.whole.entry,
        expected: exp.whole.status,
      };
    const first = [...exp.items.entries()][0];
    if (first) return { detail: `item ${first[0]} updated, not in Partnerize's report`, entry: first[1].entry, expected: 'the item' };
    return undefined;
  }
  const byId = new Map(c.items.map((i) => [i.id, i]));
  for (const [id, want] of exp.items) {
    const it = byId.get(id);
    if (!it) return { detail: `item ${id} was updated, it is not in Partnerize's report`, entry: want.entry, expected: 'the item' };
    if (want.status !== undefined && it.status !== want.status)
      return {
        detail: `${want.entry.kind} applied to item ${id} (${it.sku ?? 'no SKU'}): Partnerize says ${it.status ?? 'nothing'}, expected ${want.status}`,
        entry: want.entry,
        expected: want.status,
      };
    if (want.value !== undefined && (it.value === undefined || !agree(amountOfNumber(it.value) ?? 0n, amountOfNumber(want.value) ?? 0n)))
      return {
        detail: `${want.entry.kind} set item ${id} (${it.sku ?? 'no SKU'}) to ${want.value}: Partnerize says ${it.value ?? 'nothing'}`,
        entry: want.entry,
        expected: `item value ${want.value}`,
      };
  }
  if (exp.whole) {
    const off = c.items.find((i) => !exp.items.has(i.id) && i.status !== exp.whole!.status);
    if (off)
      return {
        detail: `${exp.whole.entry.kind} applied, Partnerize says ${c.status}${c.items.length > 1 ? ` (item ${off.id} ${off.status ?? 'without a status'})` : ''}, expected ${exp.whole.status}`,
        entry: exp.whole.entry,
        expected: exp.whole.status,
      };
  }
  return undefined;
}

interface Builder {
  rows: Difference[];
  summary: ReconcileSummary;
}

function add(b: Builder, d: Difference): void {
  b.rows.push(d);
  const t = b.summary[d.class];
  t.count += 1;
  if (d.amount) {
    const prev = amountOf(t.value[d.amount.currency] ?? '0') ?? 0n;
    t.value[d.amount.currency] = formatAmount(prev + (amountOf(d.amount.value) ?? 0n));
  }
}

const oursOf = (r: ConversionRecord, order: SentOrder): NonNullable<Difference['ours']> => {
  const a = deliveringAttempt(r);
  return {
    status: r.status,
    currency: order.currency,
    value: formatAmount(order.total),
    call: r.request,
    deliveredAt: a?.at,
    answer: a ? { status: a.status, body: a.body } : undefined,
  };
};

const theirsOf = (c: ReportConversion): NonNullable<Difference['partnerize']> => ({
  status: c.status,
  currency: c.currency,
  value: c.value === undefined ? undefined : formatAmount(amountOfNumber(c.value) ?? 0n),
  conversionTime: c.conversionTime,
});

const NEVER_SENT: Partial<Record<ConversionStatus, string>> = {
  no_consent: 'no consent',
  dry_run: 'a dry run',
  unattributed: 'no clickref',
};

/** Why a record Partnerize holds was not delivered by the tracker, for the row. */
function notDeliveredWhy(r: ConversionRecord): string {
  const never = NEVER_SENT[r.status];
  if (never) return `the tracker holds it as ${r.status} (${never}: never sent by the tracker) — another source sent it: the legacy pixel?`;
  if (r.status === 'pending' || r.status === 'queued')
    return `the tracker still owes it (${r.status}): an attempt that got no answer landed; the next retry may send it twice`;
  return `the tracker's record is ${r.status}: an attempt that got no answer landed; do not requeue it`;
}

/** What the comparison looks records up by: the window, the campaign's prefixes, our records by reference. */
interface Scope {
  input: CompareInput;
  inWindow: (t: number | undefined) => boolean;
  /** The campaign's conversionRef prefixes, longest first. */
  prefixes: string[];
  hasPrefix: (ref: string) => boolean;
  oursByRef: ReadonlyMap<string, ConversionRecord>;
  /** Our record of a reference: from the window, else found by key. */
  recordOf: (ref: string) => ConversionRecord | undefined;
}

function scopeOf(input: CompareInput): Scope {
  const { window } = input;
  const prefixes = [...new Set(input.prefixes)].sort((x, y) => y.length - x.length);
  const oursByRef = new Map(input.ours.map((r) => [r.conversionRef, r]));
  return {
    input,
    inWindow: (t) => t === undefined || (t >= window.from && t < window.to),
    prefixes,
    hasPrefix: (ref) => prefixes.some((p) => ref.startsWith(p)),
    oursByRef,
    recordOf: (ref) => oursByRef.get(ref) ?? input.others.get(ref),
  };
}

/** The comparison, per order (see the module's comment for the classes). */
export function compare(input: CompareInput): Reconciliation {
  const scope = scopeOf(input);
  const b: Builder = { rows: [], summary: emptySummary() };
  const matched = new Set<string>();
  for (const [ref, held] of heldByReference(input.partnerize)) if (judgeReference(b, scope, ref, held)) matched.add(ref);
  for (const r of input.ours) if (!matched.has(r.conversionRef) && scope.inWindow(r.orderTime)) judgeNotHeld(b, input, r);
  b.rows.sort((x, y) => DIFFERENCE_CLASSES.indexOf(x.class) - DIFFERENCE_CLASSES.indexOf(y.class) || cmp(x.conversionRef, y.conversionRef));
  return b;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Partnerize's conversions by reference, in reference order, each conversion once (offset pages of
 * live data may repeat one). Two conversions of one reference come earliest id first: that is the
 * one the tracker's call made.
 */
function heldByReference(partnerize: readonly ReportConversion[]): Array<[string, ReportConversion[]]> {
  const byRef = new Map<string, ReportConversion[]>();
  const seen = new Set<string>();
  for (const c of partnerize) {
    if (seen.has(c.conversionId)) continue;
    seen.add(c.conversionId);
    byRef.set(c.conversionReference, [...(byRef.get(c.conversionReference) ?? []), c]);
  }
  return [...byRef.entries()]
    .sort(([a], [c]) => cmp(a, c))
    .map(([ref, held]) => [ref, held.sort((x, y) => cmp(x.conversionId, y.conversionId))]);
}

/**
 * The conversions Partnerize holds under one reference, when they concern the window (their time is
 * in it, or our record of the window is): unexpected, a twin, or a delivered order to compare. True
 * when the reference is one of ours (the missing check then passes it over).
 */
function judgeReference(b: Builder, scope: Scope, ref: string, held: ReportConversion[]): boolean {
  const { campaignId } = scope.input;
  const first = held[0]!;
  const own = scope.recordOf(ref);
  const concerned =
    scope.inWindow(reportTime(first.conversionTime)) || (own !== undefined && scope.oursByRef.has(ref) && scope.inWindow(own.orderTime));
  if (!concerned) return false;
  b.summary.held += held.length;
  if (!scope.hasPrefix(ref)) {
    judgeUnprefixed(b, scope, ref, held);
    return false;
  }
  if (!own) {
    for (const c of held)
      addUnexpected(b, campaignId, ref, c, 'the tracker has no record of this conversion: another source sent it (the legacy pixel?)');
    return false;
  }
  judgeOurs(b, scope.input, own, held);
  return true;
}

/** A reference without this campaign's prefix: the legacy pixel (or another source) in a parallel run. */
function judgeUnprefixed(b: Builder, scope: Scope, ref: string, held: readonly ReportConversion[]): void {
  const { prefixes } = scope;
  const twin = prefixes.map((p) => scope.recordOf(p + ref)).find((r) => r !== undefined);
  if (twin && twin.status === 'sent') {
    b.summary.twins += held.length;
    return;
  }
  const why = twin
    ? `held without the ${prefixes.filter(Boolean).join(' / ')} prefix, and the tracker's record ${twin.conversionRef} is ${twin.status}: another source sent it`
    : `held without the ${prefixes.filter(Boolean).join(' / ')} prefix, and the tracker has no record of the order: another source sent it (the legacy pixel?)`;
  for (const c of held) addUnexpected(b, scope.input.campaignId, ref, c, why, twin?.orderId);
}

/**
 * Conversions Partnerize holds for a record of ours: unexpected unless the record was delivered (one
 * call's conversion only: a second is one too many), then compared with what was sent.
 */
function judgeOurs(b: Builder, input: CompareInput, own: ConversionRecord, held: readonly ReportConversion[]): void {
  const { campaignId } = input;
  const ref = own.conversionRef;
  const first = held[0]!;
  if (!mayHaveReached(own)) {
    for (const c of held) addUnexpected(b, campaignId, ref, c, notDeliveredWhy(own), own.orderId);
    return;
  }
  if (own.status === 'unconfirmed') {
    // The cut call landed: Partnerize's report is the confirmation the record waits for.
    const why =
      'the tracker holds it as unconfirmed (the connection was cut after the call went out): it landed — --fix records it as sent, no call';
    addUnexpected(b, campaignId, ref, first, why, own.orderId, 'confirm');
    return;
  }
  if (own.status !== 'sent') {
    addUnexpected(b, campaignId, ref, first, notDeliveredWhy(own), own.orderId);
    return;
  }
  const tooMany = `Partnerize holds ${held.length} conversions with this reference: one too many (a double tag?)`;
  for (const extra of held.slice(1)) addUnexpected(b, campaignId, ref, extra, tooMany, own.orderId);
  compareHeld(b, input, own, first);
}

/** A record of the window Partnerize does not hold: never sent (counted), delivered too recently to judge, or missing. */
function judgeNotHeld(b: Builder, input: CompareInput, r: ConversionRecord): void {
  if (r.status === 'unconfirmed') {
    cutAndNotHeld(b, input, r);
    return;
  }
  if (r.status !== 'sent') {
    b.summary.notSent[r.status] = (b.summary.notSent[r.status] ?? 0) + 1;
    return;
  }
  if (input.now - deliveredAt(r) < input.graceMs) {
    b.summary.recent += 1;
    return;
  }
  const a = deliveringAttempt(r);
  const empty = a?.status !== undefined && (a.body ?? '').trim() === '';
  addMissing(
    b,
    input,
    r,
    `delivered ${a?.at ?? r.updatedAt} (HTTP ${a?.status ?? '?'}${empty ? ', empty answer: Partnerize may have created nothing' : ''}), not in Partnerize's report`,
  );
}

/** A record of the window past its grace that Partnerize does not hold: `--fix` sends it again. */
function addMissing(b: Builder, input: CompareInput, r: ConversionRecord, detail: string): void {
  b.summary.checked += 1;
  const order = sentOrderOf(r);
  add(b, {
    class: 'missing',
    campaignId: input.campaignId,
    conversionRef: r.conversionRef,
    orderId: r.orderId,
    orderTime: iso(r.orderTime),
    detail,
    ours: oursOf(r, order),
    fix: 'replay',
    amount: { currency: order.currency, value: formatAmount(order.total) },
  });
}

/**
 * An unconfirmed record (its call was cut after it went out) that Partnerize's report does not hold
 * once the grace after the cut is over: the call never landed, and sending it again is safe.
 */
function cutAndNotHeld(b: Builder, input: CompareInput, r: ConversionRecord): void {
  const cutAt = r.attempts.at(-1)?.at ?? r.updatedAt;
  if (input.now - Date.parse(cutAt) < input.graceMs) {
    b.summary.recent += 1;
    return;
  }
  addMissing(
    b,
    input,
    r,
    `unconfirmed: the connection was cut after the call went out (${cutAt}), and Partnerize does not hold it — --fix sends it again`,
  );
}

function addUnexpected(
  b: Builder,
  campaignId: string,
  ref: string,
  c: ReportConversion,
  why: string,
  orderId?: string,
  fix?: FixAction,
): void {
  const value = c.value === undefined ? undefined : amountOfNumber(c.value);
  const t = reportTime(c.conversionTime);
  add(b, {
    class: 'unexpected',
    campaignId,
    conversionRef: ref,
    orderId,
    conversionId: c.conversionId,
    orderTime: t === undefined ? undefined : iso(t),
    detail: why,
    fix,
    partnerize: theirsOf(c),
    amount: value === undefined || !c.currency ? undefined : { currency: c.currency.toUpperCase(), value: formatAmount(value) },
  });
}

/** A delivered conversion Partnerize holds, as every row about it starts; `money` is the order as sent. */
interface HeldRow {
  base: Pick<Difference, 'campaignId' | 'conversionRef' | 'orderId' | 'conversionId' | 'orderTime' | 'ours' | 'partnerize'>;
  money: NonNullable<Difference['amount']>;
}

/** A delivered conversion Partnerize holds: its value and currency, its items, the effect of its updates. */
function compareHeld(b: Builder, input: CompareInput, own: ConversionRecord, c: ReportConversion): void {
  const order = sentOrderOf(own);
  if (input.now - deliveredAt(own) >= input.graceMs) b.summary.checked += 1;
  const row: HeldRow = {
    base: {
      campaignId: input.campaignId,
      conversionRef: own.conversionRef,
      orderId: own.orderId,
      conversionId: c.conversionId,
      orderTime: iso(own.orderTime),
      ours: oursOf(own, order),
      partnerize: theirsOf(c),
    },
    money: { currency: order.currency, value: formatAmount(order.total) },
  };
  const exp = expectedOf(input.updates.get(own.conversionRef));
  // Partnerize converted the currency sent: its values are in another currency, not compared.
  const theirCurrency = c.currency?.toUpperCase();
  const converted = theirCurrency !== undefined && theirCurrency !== order.currency && c.currencyOriginal?.toUpperCase() === order.currency;
  if (converted) b.summary.converted += 1;
  // After an item-level update the order is no longer the call: its status says what happened.
  if (!exp.itemLevel && !converted) compareOrder(b, row, order, c);
  compareStatus(b, input, row, c, exp);
}

/**
 * The order as sent against the one Partnerize holds. One order is in one of `value` and `items` at
 * most: a basket that differs (a SKU missing, extra or of another count) is `items`, whatever it
 * does to the total; the same basket at another total (or in another currency) is `value`; the same
 * basket and total with the money spread otherwise over the SKUs is `items`.
 */
function compareOrder(b: Builder, row: HeldRow, order: SentOrder, c: ReportConversion): void {
  const theirCurrency = c.currency?.toUpperCase();
  const items = order.items.length > 0 && c.items.length > 0 ? compareItems(order, c.items) : { diffs: [], basket: false };
  const theirs = c.value === undefined ? undefined : (amountOfNumber(c.value) ?? 0n);
  const valueDetail = valueDifference(order, c, theirCurrency, theirs);
  if (items.diffs.length > 0 && (items.basket || valueDetail === undefined))
    add(b, {
      ...row.base,
      class: 'items',
      detail: [...(valueDetail ? [valueDetail] : []), ...items.diffs.map(itemsLine)].join('; '),
      items: items.diffs,
      amount: row.money,
    });
  else if (valueDetail !== undefined)
    add(b, {
      ...row.base,
      class: 'value',
      detail: [valueDetail, ...items.diffs.map(itemsLine)].join('; '),
      items: items.diffs.length > 0 ? items.diffs : undefined,
      amount:
        theirCurrency !== order.currency || theirs === undefined
          ? row.money
          : { currency: order.currency, value: formatAmount(abs(theirs - order.total)) },
    });
}

/** How the currency or the value Partnerize holds differs from the call's, or undefined when they agree. */
function valueDifference(
  order: SentOrder,
  c: ReportConversion,
  theirCurrency: string | undefined,
  theirs: Amount | undefined,
): string | undefined {
  if (theirCurrency !== undefined && theirCurrency !== order.currency)
    return `currency: sent ${order.currency}, Partnerize holds ${theirCurrency}`;
  if (theirs === undefined) return undefined;
  const all = sum(c.items.map((i) => amountOfNumber(i.value ?? 0) ?? 0n));
  const live = sum(c.items.filter((i) => i.status !== 'rejected').map((i) => amountOfNumber(i.value ?? 0) ?? 0n));
  // Partnerize may leave rejected items out of a conversion's value: the value then is its live items'.
  const same = agree(theirs, order.total, order.tol) || (c.items.length > 0 && agree(all, order.total, order.tol) && agree(theirs, live));
  return same ? undefined : `value: sent ${formatAmount(order.total)} ${order.currency}, Partnerize holds ${formatAmount(theirs)}`;
}

/**
 * Whether Partnerize reflects the updates the tracker applied (within the grace period after the
 * last one, not judged yet); a rejection no update of ours explains is told, not a difference.
 */
function compareStatus(b: Builder, input: CompareInput, row: HeldRow, c: ReportConversion, exp: Expected): void {
  const drift = statusDrift(c, exp);
  if (drift) {
    if (input.now - exp.lastAppliedAt < input.graceMs) b.summary.recent += 1;
    else
      add(b, {
        ...row.base,
        class: 'status',
        detail: drift.detail,
        update: { entryId: drift.entry.id, kind: drift.entry.kind, appliedAt: drift.entry.updatedAt, expected: drift.expected },
        fix: 'requeue_update',
        amount: row.money,
      });
  } else if (!exp.whole && (c.status === 'rejected' || c.items.some((i) => i.status === 'rejected' && !exp.items.has(i.id)))) {
    b.summary.rejectedAtPartnerize += 1;
  }
}
