/**
 * Storing an order update (the postbacks route, `pz approve`/`pz reject`, the automatic approval):
 * what the conversion's state means for it, and one conditional write that makes it durable and
 * deduped. Kept apart from the parsing of update events so the retry function does not carry it.
 */
import type { ConversionRecord, Deps, RefundLine, UpdateKind, UpdateOutcome, UpdateSource } from './model.js';
import type { TrackerConfig } from './settings.js';
import { expiresAfterDays, iso } from './time.js';

/** What a conversion's status means for an update of it (a never-sent conversion has nothing to update). */
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
  /** Identity (core/order-updates.ts `updateIdOf`). */
  id: string;
}

export interface RecordedUpdate {
  conversionRef: string;
  outcome: UpdateOutcome;
  /** Why there is nothing to update, for `update_not_applicable`. */
  reason?: string;
}

/** Stores an update of the conversion `conversionRef`: durable on return, due at once unless there is nothing to update. */
export async function recordUpdate(
  order: { conversionRef: string; orderId?: string | undefined; campaignId?: string | undefined },
  update: NewUpdate,
  deps: Pick<Deps, 'config' | 'clock' | 'conversions' | 'updates' | 'log'>,
): Promise<RecordedUpdate> {
  const { config } = deps;
  const now = deps.clock.now();
  const conversionRef = order.conversionRef;
  const conversion = await deps.conversions.get(conversionRef);
  const outcome = updateOutcomeFor(conversion, config.partnerizeMode);
  const reason = outcome === 'update_not_applicable' ? `the conversion was never sent to Partnerize (${conversion?.status})` : undefined;
  const added = await deps.updates.add(
    {
      ref: conversionRef,
      orderId: order.orderId ?? conversion?.orderId ?? conversionRef,
      campaignId: conversion?.campaignId ?? order.campaignId ?? config.partnerizeCampaignId,
      expiresAt: expiresAfterDays(now, config.conversionRetentionDays),
    },
    { ...update, seq: now, acceptedAt: iso(now), updatedAt: iso(now), state: reason ? 'not_applicable' : 'owed', note: reason, retries: 0 },
    reason ? undefined : now,
    now,
  );
  const answer = added === 'duplicate' ? 'update_duplicate' : outcome;
  deps.log.info('order update', { conversionRef, kind: update.kind, source: update.source, outcome: answer });
  return reason && added === 'added' ? { conversionRef, outcome, reason } : { conversionRef, outcome: answer };
}
