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
