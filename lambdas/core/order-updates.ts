/**
 * Accepting an order update on the postbacks route (README "Order lifecycle"): a cancellation,
 * return, refund or approval of an order. The update is made durable — one conditional write to
 * the conversion's order updates record, deduped there — before the 202; the retry function sends
 * it to Partnerize in bulk once its conversion was delivered (core/order-update-sweep.ts). Nothing
 * is sent from here: this path stays as small as the postbacks function's budget asks.
 */
import { createHash } from 'node:crypto';
import { refPrefixesOf, routeOrder } from './campaigns.js';
import { InputError, renamed } from './errors.js';
import type { Deps, RefundLine, UpdateKind } from './model.js';
import { recordUpdate, type RecordedUpdate } from './order-update-record.js';
import { normaliseEventName } from './order-events.js';
import type { OrderEvent } from './order-source.js';
import { OrderUpdateSchema, parseWith } from './schema.js';
import type { TrackerConfig } from './settings.js';

/** The update kinds an event can carry (the others come from operators and the schedule). */
export type EventUpdateKind = Extract<UpdateKind, 'cancel' | 'refund' | 'return' | 'approve'>;

/** The native shape's event names (README "Order lifecycle"), always recognised; each also names its configured list (`cancelEvents` …). */
const KINDS: readonly EventUpdateKind[] = ['cancel', 'refund', 'return', 'approve'];

/** Which update an event is, if it is one: by the source's own meaning, the native names, or the configured lists. */
export function updateKindOf(
  event: Pick<OrderEvent, 'name' | 'source' | 'intent'>,
  config: Pick<TrackerConfig, `${EventUpdateKind}Events`>,
): EventUpdateKind | undefined {
  const { intent } = event;
  if (intent !== undefined) return KINDS.find((k) => k === intent);
  if (typeof event.name !== 'string') return undefined;
  const name = normaliseEventName(event.name);
  return KINDS.find((k) => (event.source === 'native' && k === name) || config[`${k}Events`].some((e) => normaliseEventName(e) === name));
}

/**
 * An update's identity: the sender's id, or a digest of what it asks (kind and lines, in any
 * order), so a repeat of the same update — a Tealium retry, a double tag — is one update. Two
 * identical partial refunds of one order are one too unless the sender gives each an `updateId`.
 */
export function updateIdOf(kind: UpdateKind, lines: readonly RefundLine[] | undefined, updateId: string | undefined): string {
  if (updateId !== undefined) return `id:${updateId}`;
  const canonical = (lines ?? []).map((l) => [l.sku, l.quantity, l.value ?? '']).sort();
  return `${kind}:${createHash('sha256').update(JSON.stringify(canonical)).digest('base64url').slice(0, 16)}`;
}

/**
 * The conversionRef an update is for. With one prefix (most deployments), the prefix and the order
 * id. With campaigns of different prefixes, the ref under which the order is held; for an order not
 * (yet) held, the ref of the campaign the update names (`campaign`), else the default campaign's.
 */
async function updateRefOf(
  orderId: string,
  campaign: string | undefined,
  event: OrderEvent,
  deps: Pick<Deps, 'config' | 'conversions'>,
): Promise<{ conversionRef: string; campaignId?: string }> {
  const prefixes = refPrefixesOf(deps.config);
  if (prefixes.length > 1) {
    for (const prefix of prefixes) if (await deps.conversions.get(prefix + orderId)) return { conversionRef: prefix + orderId };
  }
  if (campaign === undefined) return { conversionRef: deps.config.conversionRefPrefix + orderId };
  try {
    const route = routeOrder({ campaign }, deps.config);
    return { conversionRef: route.conversionRefPrefix + orderId, campaignId: route.campaignId };
  } catch (err) {
    throw renamed(err, event);
  }
}

/** An update event from the postbacks route: validated (a 400 names the sender's field), then recorded. */
export async function acceptUpdate(
  event: OrderEvent,
  kind: EventUpdateKind,
  deps: Pick<Deps, 'config' | 'clock' | 'conversions' | 'updates' | 'log'>,
): Promise<RecordedUpdate> {
  const u = parseWith(OrderUpdateSchema, event.native, event.rename);
  // A cancellation or an approval is of the whole order; only a refund or return can name lines.
  const lines = (kind === 'refund' || kind === 'return') && u.items?.length ? u.items : undefined;
  // A SKU named twice in one update would be refunded twice.
  const twice = lines?.findIndex((l, i) => lines.findIndex((m) => m.sku === l.sku) < i) ?? -1;
  if (twice >= 0) {
    const field = event.rename(['items', twice, 'sku']);
    throw new InputError('invalid_field', `${field} names a SKU a second time: send one line per SKU`, field);
  }
  return recordUpdate(
    { ...(await updateRefOf(u.orderId, u.campaign, event, deps)), orderId: u.orderId },
    { kind, source: event.source, reason: u.reason, items: lines, id: updateIdOf(kind, lines, u.updateId) },
    deps,
  );
}
