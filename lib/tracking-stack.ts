import { Annotations, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { trackerConfigToEnv } from '../lambdas/commons/env-config.js';
import { configWarnings, type TrackingConfig } from './config.js';
import { TrackingApi } from './constructs/tracking-api.js';
import { TrackingFunction } from './constructs/tracking-function.js';
import { TrackingTables } from './constructs/tracking-tables.js';
import { CONVERSIONS } from '../lambdas/adapters/tables.js';
import { acknowledgeNagFindings } from './nag-acknowledgements.js';
import { OnCall } from './constructs/on-call.js';
import { TrackingAlarms } from './constructs/tracking-alarms.js';
import { TrackingDashboard } from './constructs/tracking-dashboard.js';
import { EdgeDistribution, TrackingWebAcl, webAclPropsOf } from './constructs/edge-protection.js';

export interface TrackingStackProps extends StackProps {
  config: TrackingConfig;
  /**
   * With `enableWaf`: the CLOUDFRONT-scope web ACL to attach (from the us-east-1 WAF stack or
   * `wafWebAclArn`). Absent: the web ACL is created in this stack, which must then be in us-east-1.
   */
  webAclArn?: string | undefined;
}

/** Lease on a record being sent; longer than any send plus its bookkeeping. */
export const LEASE_S = 30;

/**
 * The whole tracker: HTTP API → clicks / postbacks functions → DynamoDB, the Partnerize call, and
 * the scheduled retry function that drains owed sends.
 */
export class TrackingStack extends Stack {
  readonly tables: TrackingTables;
  readonly api: TrackingApi;
  readonly functions: { clicks: TrackingFunction; postbacks: TrackingFunction; retry: TrackingFunction };
  readonly tokenSecret: Secret;
  readonly onCall: OnCall;
  readonly alarms: TrackingAlarms;
  readonly dashboard: TrackingDashboard;
  edge: EdgeDistribution | undefined;

  constructor(scope: Construct, id: string, props: TrackingStackProps) {
    super(scope, id, props);
    const { config } = props;
    for (const w of configWarnings(config)) Annotations.of(this).addWarningV2(w.id, w.message);

    this.tables = new TrackingTables(this, 'Tables', { retain: config.tableRemovalPolicy === 'retain' });
    const { clicks, conversions } = this.tables;

    this.tokenSecret = new Secret(this, 'PostbackToken', {
      description: 'Bearer token Tealium (or any caller) presents to POST /postbacks',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
    });

    const environment = {
      ...trackerConfigToEnv({
        mode: config.partnerizeMode,
        baseUrl: config.partnerizeBaseUrl,
        campaignId: config.partnerizeCampaignId,
        method: config.partnerizeMethod,
        conversionRefPrefix: config.conversionRefPrefix,
        attributionWindowDays: config.attributionWindowDays,
        conversionRetentionDays: config.conversionRetentionDays,
        consentPolicy: config.consentPolicy,
        consentCategories: config.consentCategories,
        purchaseEvents: config.purchaseEvents,
        tealiumMapping: config.tealiumMapping,
        inlineTimeoutMs: config.inlineTimeoutMs,
        retryTimeoutMs: config.retryTimeoutMs,
        retryDelaysS: config.retryDelaysS,
        leaseS: LEASE_S,
        minSessionIdLength: config.minSessionIdLength,
      }),
      CLICKS_TABLE: clicks.tableName,
      CONVERSIONS_TABLE: conversions.tableName,
      MAX_BODY_BYTES: String(config.maxBodyBytes),
    };
    const common = { logRetentionDays: config.logRetentionDays };
    // With the optional WAF, the functions only answer requests that came through CloudFront.
    const originVerifySecret = config.enableWaf
      ? new Secret(this, 'OriginVerify', {
          description: 'Header value CloudFront adds so the functions can refuse requests that bypass the WAF',
          generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
        })
      : undefined;
    const guarded: Record<string, string> = originVerifySecret ? { ORIGIN_VERIFY: originVerifySecret.secretValue.unsafeUnwrap() } : {};

    const clicksFn = new TrackingFunction(this, 'ClicksFunction', {
      ...common,
      entry: 'clicks',
      memorySize: config.clicksMemoryMb,
      description: 'Records the latest Partnerize clickref of a session',
      environment: { ...environment, ...guarded, TOKEN_CACHE_S: String(config.tokenCacheSeconds) },
      timeout: Duration.seconds(5),
    });
    const postbacksFn = new TrackingFunction(this, 'PostbacksFunction', {
      ...common,
      entry: 'postbacks',
      memorySize: config.postbacksMemoryMb,
      description: 'Accepts order postbacks and fires the Partnerize S2S conversion call',
      environment: { ...environment, ...guarded, TOKEN_SECRET_ARN: this.tokenSecret.secretArn, TOKEN_CACHE_S: String(config.tokenCacheSeconds) },
      timeout: Duration.seconds(10),
    });
    const retryFn = new TrackingFunction(this, 'RetryFunction', {
      ...common,
      entry: 'retry',
      memorySize: config.retryMemoryMb,
      description: 'Sends the owed Partnerize conversion calls that are due (every minute)',
      environment: {
        ...environment,
        SWEEP_LIMIT: String(config.sweepLimit),
        SWEEP_CONCURRENCY: String(config.sweepConcurrency),
        SWEEP_BUDGET_MS: String(config.sweepBudgetMs),
      },
      timeout: Duration.seconds(60),
    });
    this.functions = { clicks: clicksFn, postbacks: postbacksFn, retry: retryFn };

    // Least privilege: each function gets exactly the calls its adapters make, on exactly its
    // tables (and the one index it queries); no wildcards.
    const allow = (fn: TrackingFunction, actions: string[], resources: string[]) =>
      fn.addToRolePolicy(new PolicyStatement({ actions, resources }));
    allow(clicksFn, ['dynamodb:PutItem'], [clicks.tableArn]);
    allow(postbacksFn, ['dynamodb:GetItem'], [clicks.tableArn]);
    allow(postbacksFn, ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'], [conversions.tableArn]);
    allow(retryFn, ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [conversions.tableArn]);
    allow(retryFn, ['dynamodb:Query'], [`${conversions.tableArn}/index/${CONVERSIONS.dueIndex}`]);
    allow(postbacksFn, ['secretsmanager:GetSecretValue'], [this.tokenSecret.secretArn]);

    new Rule(this, 'RetrySchedule', {
      description: 'Runs the retry function every minute',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(retryFn, { retryAttempts: 0 })],
    });

    this.api = new TrackingApi(this, 'Api', {
      clicksFunction: clicksFn,
      postbacksFunction: postbacksFn,
      allowedClickOrigins: config.allowedClickOrigins,
      throttle: { rateLimit: config.apiThrottleRateLimit, burstLimit: config.apiThrottleBurstLimit },
      routeThrottle: {
        clicks: { rateLimit: config.clicksThrottleRateLimit, burstLimit: config.clicksThrottleBurstLimit },
        postbacks: { rateLimit: config.postbacksThrottleRateLimit, burstLimit: config.postbacksThrottleBurstLimit },
      },
      logRetentionDays: config.logRetentionDays,
    });

    let publicUrl = this.api.url;
    if (originVerifySecret) {
      const webAclArn = props.webAclArn ?? new TrackingWebAcl(this, 'Waf', webAclPropsOf(config)).webAcl.attrArn;
      this.edge = new EdgeDistribution(this, 'Edge', { api: this.api.api, webAclArn, originVerifySecret });
      publicUrl = this.edge.url;
      new CfnOutput(this, 'EdgeUrl', { value: publicUrl, description: 'The WAF-protected entry point: give this URL to Tealium and the landing pages' });
    }

    this.onCall = new OnCall(this, 'OnCall', {
      emails: config.alarmEmails,
      httpsEndpoints: config.alarmHttpsEndpoints,
      existingTopicArn: config.alarmTopicArn || undefined,
    });
    const functions = { Clicks: clicksFn, Postbacks: postbacksFn, Retry: retryFn };
    this.alarms = new TrackingAlarms(this, 'Alarms', {
      api: this.api.api,
      functions,
      serviceName: this.stackName,
      topic: this.onCall.topic,
      runbookUrl: config.runbookUrl,
      thresholds: {
        periodMinutes: config.alarmPeriodMinutes,
        api4xxRatePercent: config.alarmApi4xxRatePercent,
        api4xxMinRequests: config.alarmApi4xxMinRequests,
        retryableRatePercent: config.alarmRetryableRatePercent,
        retryableEvaluationPeriods: config.alarmRetryableEvaluationPeriods,
        oldestOwedMinutes: config.alarmOldestOwedMinutes,
        unattributedRatePercent: config.alarmUnattributedRatePercent,
        unattributedMinPurchases: config.alarmUnattributedMinPurchases,
        unattributedPeriodMinutes: config.alarmUnattributedPeriodMinutes,
        ignoredRatePercent: config.alarmIgnoredRatePercent,
        ignoredMinPostbacks: config.alarmIgnoredMinPostbacks,
        ignoredPeriodMinutes: config.alarmIgnoredPeriodMinutes,
      },
    });
    this.dashboard = new TrackingDashboard(this, 'Dashboard', {
      api: this.api.api,
      functions,
      serviceName: this.stackName,
      alarms: this.alarms.alarms,
    });
    acknowledgeNagFindings(this, { waf: Boolean(originVerifySecret) });

    new CfnOutput(this, 'ApiUrl', { value: publicUrl, description: 'Base URL of the tracker API (the CloudFront URL with the WAF)' });
    new CfnOutput(this, 'ClicksUrl', { value: `${publicUrl}/clicks`, description: 'Report clicks here (landing page or tag manager)' });
    new CfnOutput(this, 'PostbacksUrl', { value: `${publicUrl}/postbacks`, description: 'Point the Tealium webhook connector here' });
    new CfnOutput(this, 'ClicksTableName', { value: clicks.tableName });
    new CfnOutput(this, 'ConversionsTableName', { value: conversions.tableName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.onCall.topic.topicArn, description: 'Every alarm notifies this topic (ALARM and OK)' });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboard.dashboardName });
    new CfnOutput(this, 'ClicksLogGroupName', { value: clicksFn.logGroupName });
    new CfnOutput(this, 'PostbacksLogGroupName', { value: postbacksFn.logGroupName });
    new CfnOutput(this, 'RetryLogGroupName', { value: retryFn.logGroupName });
    new CfnOutput(this, 'ApiAccessLogGroupName', { value: this.api.accessLogGroupName });
    if (config.conversionRefPrefix !== '') {
      new CfnOutput(this, 'ConversionRefPrefix', { value: config.conversionRefPrefix, description: 'Prepended to order ids (the CLI adds it for you)' });
    }
    new CfnOutput(this, 'PostbackTokenSecretArn', {
      value: this.tokenSecret.secretArn,
      description: 'aws secretsmanager get-secret-value --secret-id <this> --query SecretString --output text',
    });
  }
}
