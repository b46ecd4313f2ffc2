/**
 * Table layout, shared by the CDK stack and the local mode's embedded DynamoDB so they cannot drift.
 */
export const CLICKS = {
  partitionKey: 'sessionId',
  ttlAttribute: 'expiresAt',
} as const;

export const CONVERSIONS = {
  partitionKey: 'conversionRef',
  ttlAttribute: 'expiresAt',
  /** Sparse index of owed sends: only records with `dueShard` set appear in it. */
  dueIndex: 'due',
  dueIndexPartitionKey: 'dueShard',
  dueIndexSortKey: 'dueAt',
} as const;

/**
 * The conversions of a campaign by order time (the reconciliation: core/reconcile-run.ts), KEYS_ONLY,
 * on attributes every conversion record already has: written once per conversion, when it is
 * created (docs/capacity.md), and filled by DynamoDB from the existing records when it is added.
 * Order updates, jobs and reconciliation results have no `orderTime`: they are not in it. Apart from
 * {@link CONVERSIONS} so the postbacks bundle, which carries that object whole, does not grow.
 */
export const CAMPAIGN_TIME_INDEX = {
  name: 'campaignTime',
  partitionKey: 'campaignId',
  sortKey: 'orderTime',
} as const;
