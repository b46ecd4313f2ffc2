/**
 * The metrics the tracker emits (CloudWatch EMF in Lambda). One name per fact, so
 * alarms and dashboards read them directly.
 */
export const METRICS = {
  clicksRecorded: 'ClicksRecorded',
  clicksNotRecorded: 'ClicksNotRecorded',
  /** Clicks that did not replace the session's click: it is locked (core/clicks.ts), or a newer one came first. */
  clicksLocked: 'ClicksLocked',
  postbackOutcome: {
    sent: 'PostbacksSent',
    queued: 'PostbacksQueued',
    rejected: 'PostbacksRejected',
    duplicate: 'PostbacksDuplicate',
    unattributed: 'PostbacksUnattributed',
    no_consent: 'PostbacksNoConsent',
    ignored: 'PostbacksIgnored',
    dry_run: 'PostbacksDryRun',
    update_queued: 'UpdatesQueued',
    update_queued_unknown_order: 'UpdatesQueuedUnknownOrder',
    update_held: 'UpdatesHeld',
    update_duplicate: 'UpdatesDuplicate',
    update_not_applicable: 'UpdatesNotApplicable',
    update_dry_run: 'UpdatesDryRun',
  },
  /**
   * Postbacks refused that carried no credential at all: no Authorization header (401), or, with
   * the WAF, no origin-verify header (403). Junk from the internet, not a caller whose setup broke:
   * counted on the dashboard and taken out of the share of 4xx that pages.
   */
  postbacksAnonymous: 'PostbacksAnonymous',
  /** Purchase postbacks accepted (the denominator of the unattributed share). */
  purchases: 'Purchases',
  partnerizeAnswer: {
    sent: 'PartnerizeSent',
    retryable: 'PartnerizeRetryable',
    rejected: 'PartnerizeRejected',
  },
  partnerizeLatency: 'PartnerizeLatency',
  /** Calls that may have reached Partnerize although no answer came (timeouts, cut connections). */
  partnerizeUncertain: 'PartnerizeUncertain',
  /** Attempts Partnerize refused as duplicates of an earlier uncertain attempt that had landed. */
  deliveredEarlier: 'DeliveredEarlier',
  conversionsFailed: 'ConversionsFailed',
  /** Sends held after Partnerize cut the connection without answering (status `unconfirmed`). */
  conversionsUnconfirmed: 'ConversionsUnconfirmed',
  /** Baskets whose call was condensed to fit the URL limit (core/partnerize-request.ts). */
  basketsCondensed: 'BasketsCondensed',
  retryHeartbeat: 'RetryHeartbeat',
  owedDue: 'OwedSendsDue',
  oldestOwedAge: 'OldestOwedSendAge',
  /** Order updates (core/order-update-sweep.ts): what the API answered a bulk request or a job poll. */
  partnerizeApiAnswer: {
    sent: 'PartnerizeApiAccepted',
    retryable: 'PartnerizeApiRetryable',
    rejected: 'PartnerizeApiRejected',
  },
  /** Partnerize refused the API keys (401/403): every update waits until they are fixed. */
  partnerizeApiAuthFailed: 'PartnerizeApiAuthFailed',
  /** Bulk update requests sent (one per campaign and kind per run, not one per update). */
  bulkUpdateRequests: 'BulkUpdateRequests',
  updatesApplied: 'UpdatesApplied',
  /** Updates a job reported failed, or whose retry schedule ran out. */
  updatesFailed: 'UpdatesFailed',
  /** Updates Partnerize refused with a 4xx. */
  updatesRejected: 'UpdatesRejected',
  /** Order updates records due, and how overdue the most overdue is. */
  updatesDue: 'OwedUpdatesDue',
  oldestUpdateAge: 'OldestOwedUpdateAge',
  /** Due updates that cannot be sent because the API keys are not set. */
  updatesAwaitingKeys: 'UpdatesAwaitingKeys',
} as const;

/**
 * The daily reconciliation's (core/reconcile-run.ts), apart from {@link METRICS} so the other
 * functions' bundles do not carry them: one count per class of difference, what was judged on each
 * side (the shares' wholes), and the two shares the alarms read.
 */
export const RECONCILE_METRICS = {
  missing: 'ReconcileMissing',
  unexpected: 'ReconcileUnexpected',
  value: 'ReconcileValueDiffers',
  items: 'ReconcileItemsDiffer',
  status: 'ReconcileStatusDrift',
  /** Delivered conversions judged (past the grace period). */
  checked: 'ReconcileChecked',
  /** Partnerize's conversions in the window. */
  held: 'ReconcileHeld',
  /** Delivered (or updated) within the grace period: judged by a later run. */
  notJudged: 'ReconcileNotJudged',
  /** Percent of `checked` missing, and of `held` unexpected (0 when the whole is 0). */
  missingShare: 'ReconcileMissingShare',
  unexpectedShare: 'ReconcileUnexpectedShare',
  /** Campaigns that could not be reconciled (the report unreadable, the keys refused). */
  failed: 'ReconcileFailed',
  /** Runs that compared nothing: a dry run, or the API keys not set. */
  skipped: 'ReconcileSkipped',
} as const;

export type MetricUnit = 'Count' | 'Milliseconds' | 'Seconds' | 'Percent';

export interface Metrics {
  add(name: string, value: number, unit?: MetricUnit): void;
  /** Writes what was added (once per invocation). */
  flush?(): void;
}

export const noMetrics: Metrics = { add: () => {} };
