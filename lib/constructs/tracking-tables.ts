import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, Billing, ProjectionType, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { CLICKS, CAMPAIGN_TIME_INDEX, CONVERSIONS } from '#lambdas/adapters/tables.js';

export interface TrackingTablesProps {
  /** Keep the tables (and their data) when the stack is deleted. */
  retain: boolean;
}

/**
 * The two tables. Clicks: the latest clickref per session, expiring by TTL at the end of the
 * attribution window (also checked in code: TTL deletion lags). Conversions: the outbox and audit
 * trail, one record per conversionRef, with a sparse KEYS_ONLY index of the sends still owed and a
 * KEYS_ONLY index of each campaign's conversions by order time (the reconciliation).
 */
export class TrackingTables extends Construct {
  readonly clicks: TableV2;
  readonly conversions: TableV2;

  constructor(scope: Construct, id: string, props: TrackingTablesProps) {
    super(scope, id);
    const common = {
      billing: Billing.onDemand(),
      encryption: TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.retain,
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    };
    this.clicks = new TableV2(this, 'Clicks', {
      ...common,
      partitionKey: { name: CLICKS.partitionKey, type: AttributeType.STRING },
      timeToLiveAttribute: CLICKS.ttlAttribute,
    });
    this.conversions = new TableV2(this, 'Conversions', {
      ...common,
      partitionKey: { name: CONVERSIONS.partitionKey, type: AttributeType.STRING },
      timeToLiveAttribute: CONVERSIONS.ttlAttribute,
      globalSecondaryIndexes: [
        {
          indexName: CONVERSIONS.dueIndex,
          partitionKey: { name: CONVERSIONS.dueIndexPartitionKey, type: AttributeType.STRING },
          sortKey: { name: CONVERSIONS.dueIndexSortKey, type: AttributeType.NUMBER },
          projectionType: ProjectionType.KEYS_ONLY,
        },
        {
          indexName: CAMPAIGN_TIME_INDEX.name,
          partitionKey: { name: CAMPAIGN_TIME_INDEX.partitionKey, type: AttributeType.STRING },
          sortKey: { name: CAMPAIGN_TIME_INDEX.sortKey, type: AttributeType.NUMBER },
          projectionType: ProjectionType.KEYS_ONLY,
        },
      ],
    });
  }
}
