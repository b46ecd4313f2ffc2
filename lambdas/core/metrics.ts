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
  /** Baskets whose call was condensed to fit the URL limit (core/partnerize-request.ts). */
  basketsCondensed: 'BasketsCondensed',
  retryHeartbeat: 'RetryHeartbeat',
  owedDue: 'OwedSendsDue',
  oldestOwedAge: 'OldestOwedSendAge',
} as const;

export type MetricUnit = 'Count' | 'Milliseconds' | 'Seconds';

export interface Metrics {
  add(name: string, value: number, unit?: MetricUnit): void;
  /** Writes what was added (once per invocation). */
  flush?(): void;
}

export const noMetrics: Metrics = { add: () => {} };
