/**
 * Accepting an order update on the postbacks route (README "Order lifecycle"): a cancellation,
 * return, refund or approval of an order. The update is made durable — one conditional write to
 * the conversion's order updates record, deduped there — before the 202; the retry function sends
 * it to Partnerize in bulk once its conversion was delivered (core/order-update-sweep.ts). Nothing
 * is sent from here: this path stays as small as the postbacks function's budget asks.
 */
import { createHash } from 'node:crypto';
import { InputError } from './errors.js';
import type { ConversionRecord, Deps, RefundLine, UpdateEntry, UpdateKind, UpdateOutcome, UpdateSource } from './model.js';
import { normaliseEventName, type OrderEvent } from './order-events.js';
import { OrderUpdateSchema, parseWith } from './schema.js';
import type { TrackerConfig } from './settings.js';
import { expiresAfterDays, iso } from './time.js';

/** The update kinds an event can carry (the others come from operators and the schedule). */
export type EventUpdateKind = Extract<UpdateKind, 'cancel' | 'refund' | 'return' | 'approve'>;

/** The native shape's event names (contract): always recognised, whatever the configured lists say. */
const NATIVE_KINDS: readonly EventUpdateKind[] = ['cancel', 'refund', 'return', 'approve'];

const LISTS = { cancel: 'cancelEvents', refund: 'refundEvents', return: 'returnEvents', approve: 'approveEvents' } as const;

/** Which update an event is, if it is one: by the source's own meaning, the native names, or the configured lists. */
export function updateKindOf(
  event: Pick<OrderEvent, 'name' | 'source' | 'intent'>,
  config: Pick<TrackerConfig, (typeof LISTS)[EventUpdateKind]>,
): EventUpdateKind | undefined {
  if (event.intent !== undefined)
    return (NATIVE_KINDS as readonly string[]).includes(event.intent) ? (event.intent as EventUpdateKind) : undefined;
  if (typeof event.name !== 'string') return undefined;
  const name = normaliseEventName(event.name);
  if (event.source === 'native' && (NATIVE_KINDS as readonly string[]).includes(name)) return name as EventUpdateKind;
  return NATIVE_KINDS.find((k) => config[LISTS[k]].some((e) => normaliseEventName(e) === name));
}

/**
 * An update's identity: the sender's id, or a digest of what it asks (kind and lines), so a repeat
 * of the same update — a Tealium retry, a double tag — is one update. Two identical partial
 * refunds of one order are one too unless the sender gives each an `updateId`.
 */
export function updateIdOf(kind: UpdateKind, lines: readonly RefundLine[] | undefined, updateId: string | undefined): string {
  if (updateId !== undefined) return `id:${updateId}`;
  const canonical = (lines ?? [])
    .map((l) => [l.sku, l.quantity, l.value ?? ''])
    .sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0));
  return `${kind}:${createHash('sha256').update(JSON.stringify(canonical)).digest('base64url').slice(0, 16)}`;
}

/** What a conversion's status means for an update of it. */
export function updateOutcomeFor(
  conversion: Pick<ConversionRecord, 'status'> | undefined,
  mode: TrackerConfig['partnerizeMode'],
): UpdateOutcome {
  const status = conversion?.status;
  if (status === 'unattributed' || status === 'no_consent' || status === 'dry_run' || status === 'rejected') return 'update_not_applicable';
  if (mode === 'dryrun') return 'update_dry_run';
  if (status === undefined) return 'update_queued_unknown_order';
  return status === 'sent' ? 'update_queued' : 'update_held';
}

export interface NewUpdate {
  kind: UpdateKind;
  source: UpdateSource;
  reason?: string | undefined;
  items?: RefundLine[] | undefined;
  force?: boolean | undefined;
  /** Identity (see {@link updateIdOf}). */
  id: string;
}

export interface RecordedUpdate {
  conversionRef: string;
  outcome: UpdateOutcome;
  /** Why there is nothing to update, for `update_not_applicable`. */
  reason?: string;
}

/**
 * Stores an update of the order `orderId` (the postbacks route, `pz approve`/`pz reject`, the
 * automatic approval). Durable on return; due at once unless there is nothing to update.
 */
export async function recordUpdate(
  orderRef: { conversionRef: string; orderId?: string | undefined },
  update: NewUpdate,
  deps: Pick<Deps, 'config' | 'clock' | 'conversions' | 'updates' | 'log'>,
): Promise<RecordedUpdate> {
  const { config } = deps;
  const now = deps.clock.now();
  const ref = orderRef.conversionRef;
  const conversion = await deps.conversions.get(ref);
  const outcome = updateOutcomeFor(conversion, config.partnerizeMode);
  const applicable = outcome !== 'update_not_applicable';
  const entry: UpdateEntry = {
    id: update.id,
    seq: now,
    kind: update.kind,
    source: update.source,
    acceptedAt: iso(now),
    updatedAt: iso(now),
    reason: update.reason,
    items: update.items,
    force: update.force,
    state: applicable ? 'owed' : 'not_applicable',
    note: applicable ? undefined : `the conversion was never sent to Partnerize (${conversion?.status})`,
    retries: 0,
  };
  const base = {
    ref,
    orderId: orderRef.orderId ?? conversion?.orderId ?? ref,
    campaignId: conversion?.campaignId ?? config.partnerizeCampaignId,
    expiresAt: expiresAfterDays(now, config.conversionRetentionDays),
  };
  const added = await deps.updates.add(base, entry, applicable ? now : undefined, now);
  if (added === 'duplicate') {
    deps.log.info('duplicate order update', { conversionRef: ref, kind: update.kind });
    return { conversionRef: ref, outcome: 'update_duplicate' };
  }
  deps.log.info('order update recorded', {
    conversionRef: ref,
    kind: update.kind,
    source: update.source,
    outcome,
    lines: update.items?.length,
  });
  return applicable ? { conversionRef: ref, outcome } : { conversionRef: ref, outcome, reason: entry.note! };
}

/** An update event from the postbacks route: validated (a 400 names the sender's field), then recorded. */
export async function acceptUpdate(
  event: OrderEvent,
  kind: EventUpdateKind,
  deps: Pick<Deps, 'config' | 'clock' | 'conversions' | 'updates' | 'log'>,
): Promise<RecordedUpdate> {
  const u = parseWith(OrderUpdateSchema, event.native, event.rename);
  // A cancellation or an approval is of the whole order; only a refund or return can name lines.
  const lines = (kind === 'refund' || kind === 'return') && u.items && u.items.length > 0 ? u.items : undefined;
  if (lines) checkLines(lines, event);
  return recordUpdate(
    { conversionRef: deps.config.conversionRefPrefix + u.orderId, orderId: u.orderId },
    { kind, source: event.source, reason: u.reason, items: lines, id: updateIdOf(kind, lines, u.updateId) },
    deps,
  );
}

/** A SKU named twice in one update would be refunded twice: refused, naming the second. */
function checkLines(lines: readonly RefundLine[], event: OrderEvent): void {
  const seen = new Set<string>();
  lines.forEach((l, i) => {
    if (seen.has(l.sku)) {
      const field = event.rename(['items', i, 'sku']);
      throw new InputError('invalid_field', `${field} names SKU '${l.sku.slice(0, 64)}' a second time: send one line per SKU`, field);
    }
    seen.add(l.sku);
  });
}
