import { Annotations, CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Secret, type CfnSecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { operatorSettingsOf, settingsToEnv, type FunctionName } from '#lambdas/core/settings.js';
import { ENV } from '#lambdas/runtime/env.js';
import { configWarnings, type TrackingConfig } from './config.js';
import { FUNCTION_TIMEOUT_S } from './function-timeouts.js';
import { TrackingApi } from './constructs/tracking-api.js';
import { TrackingFunction } from './constructs/tracking-function.js';
import { TrackingTables } from './constructs/tracking-tables.js';
import { CAMPAIGN_TIME_INDEX, CONVERSIONS } from '#lambdas/adapters/tables.js';
import { acknowledgeNagFindings } from './nag-acknowledgements.js';
import { OnCall, onCallPropsOf } from './constructs/on-call.js';
import { TrackingAlarms } from './constructs/tracking-alarms.js';
import { TrackingDashboard } from './constructs/tracking-dashboard.js';
import { EdgeDistribution, TrackingWebAcl, webAclPropsOf } from './constructs/edge-protection.js';

/** Lambda's longest timeout: the daily reconciliation waits out Partnerize's rate limit. */
export const RECONCILE_TIMEOUT = Duration.seconds(FUNCTION_TIMEOUT_S.reconcile);

/** The keys of the reconciliation's run records (`\u001freconcile\u001f…`), as IAM can say them. */
export const RUN_RECORD_KEY_PATTERN = '?reconcile?*';

/** A secret whose value is generated at deploy time (48 letters and digits) and never in the template. */
const generatedSecret = (scope: Construct, id: string, description: string): Secret =>
  new Secret(scope, id, {
    description,
    generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
  });

/** What every function is given: its code, its log retention and the settings it reads. */
const functionBasics = (config: TrackingConfig, fn: FunctionName) => ({
  entry: fn,
  logRetentionDays: config.logRetentionDays,
  environment: settingsToEnv(config, fn),
});

export interface TrackingStackProps extends StackProps {
  config: TrackingConfig;
  /**
   * With `enableWaf`: the CLOUDFRONT-scope web ACL to attach (from the us-east-1 WAF stack or
   * `wafWebAclArn`). Absent: the web ACL is created in this stack, which must then be in us-east-1.
   */
  webAclArn?: string | undefined;
}

/** Where each function's environment and grants come from (the stack's resources). */
interface Functions {
  clicks: TrackingFunction;
  postbacks: TrackingFunction;
  retry: TrackingFunction;
  reconcile: TrackingFunction;
}

/**
 * The whole tracker: HTTP API → clicks / postbacks functions → DynamoDB, the Partnerize call, and
 * the scheduled retry function that drains owed sends, and the daily reconciliation against
 * Partnerize's conversion report.
 */
export class TrackingStack extends Stack {
  readonly tables: TrackingTables;
  readonly api: TrackingApi;
  readonly functions: Functions;
  readonly tokenSecret: Secret;
  /** Segment's webhook shared secret, with `enableSegmentSignatures`. */
  readonly segmentSecret: Secret | undefined;
  readonly apiKeysSecret: Secret;
  readonly onCall: OnCall;
  readonly alarms: TrackingAlarms;
  readonly dashboard: TrackingDashboard;
  /** The daily reconciliation's schedule; absent with an empty `reconcileSchedule`. */
  readonly reconcileSchedule: Rule | undefined;
  readonly edge: EdgeDistribution | undefined;

  constructor(scope: Construct, id: string, props: TrackingStackProps) {
    super(scope, id, props);
    const { config } = props;
    for (const w of configWarnings(config)) Annotations.of(this).addWarningV2(w.id, w.message);

    this.tables = new TrackingTables(this, 'Tables', { retain: config.tableRemovalPolicy === 'retain' });
    this.tokenSecret = generatedSecret(this, 'PostbackToken', 'Bearer token Tealium (or any caller) presents to POST /postbacks');
    this.segmentSecret = config.enableSegmentSignatures
      ? generatedSecret(this, 'SegmentSharedSecret', "Shared secret Segment's webhook destination signs postbacks with (X-Signature)")
      : undefined;
    this.apiKeysSecret = this.createApiKeysSecret();
    // With the optional WAF, the functions only answer requests that came through CloudFront.
    const originVerifySecret = config.enableWaf
      ? generatedSecret(this, 'OriginVerify', 'Header value CloudFront adds so the functions can refuse requests that bypass the WAF')
      : undefined;
    this.functions = this.createFunctions(config, originVerifySecret);
    this.createRetrySchedule();
    this.reconcileSchedule = this.createReconcileSchedule(config);
    this.api = this.createApi(config);
    this.onCall = new OnCall(this, 'OnCall', onCallPropsOf(config));
    this.edge = originVerifySecret ? this.createEdge(config, props.webAclArn, originVerifySecret) : undefined;
    this.alarms = this.createAlarms(config);
    this.dashboard = this.createDashboard(config);
    acknowledgeNagFindings(this, { waf: Boolean(originVerifySecret), segmentSecret: Boolean(this.segmentSecret) });
    this.createOutputs(config);
  }

  /** The functions the alarms and the dashboard watch for errors, by the name they show (reconcile has its own). */
  private get watchedFunctions() {
    return { Clicks: this.functions.clicks, Postbacks: this.functions.postbacks, Retry: this.functions.retry };
  }

  /**
   * The functions, each with the settings it reads (core/settings.ts) and exactly the tables,
   * index and secret its adapters use — each variable bound with its grant, so they cannot drift.
   */
  private createFunctions(config: TrackingConfig, originVerifySecret: Secret | undefined): Functions {
    // With the WAF, the HTTP functions read the origin-verify value from its secret at run time.
    const verifiesOrigin = (f: TrackingFunction) =>
      originVerifySecret ? f.bindTokenSecret(ENV.originVerifySecretArn, originVerifySecret) : f;
    return {
      clicks: verifiesOrigin(this.createClicksFunction(config)),
      postbacks: verifiesOrigin(this.createPostbacksFunction(config)),
      retry: this.createRetryFunction(config),
      reconcile: this.createReconcileFunction(config),
    };
  }

  private createClicksFunction(config: TrackingConfig): TrackingFunction {
    return new TrackingFunction(this, 'ClicksFunction', {
      ...functionBasics(config, 'clicks'),
      memorySize: config.clicksMemoryMb,
      description: 'Records the latest Partnerize clickref of a session',
      timeout: Duration.seconds(FUNCTION_TIMEOUT_S.clicks),
    }).bindTable(ENV.clicksTable, this.tables.clicks, ['dynamodb:PutItem']);
  }

  private createPostbacksFunction(config: TrackingConfig): TrackingFunction {
    const { clicks, conversions } = this.tables;
    const fn = new TrackingFunction(this, 'PostbacksFunction', {
      ...functionBasics(config, 'postbacks'),
      memorySize: config.postbacksMemoryMb,
      description: 'Accepts order postbacks and fires the Partnerize S2S conversion call',
      timeout: Duration.seconds(FUNCTION_TIMEOUT_S.postbacks),
    })
      .bindTable(ENV.clicksTable, clicks, ['dynamodb:GetItem'])
      .bindTable(ENV.conversionsTable, conversions, ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'])
      .bindTokenSecret(ENV.tokenSecretArn, this.tokenSecret);
    if (this.segmentSecret) fn.bindTokenSecret(ENV.segmentSecretArn, this.segmentSecret);
    return fn;
  }

  private createRetryFunction(config: TrackingConfig): TrackingFunction {
    return (
      new TrackingFunction(this, 'RetryFunction', {
        ...functionBasics(config, 'retry'),
        memorySize: config.retryMemoryMb,
        description: 'Sends the owed Partnerize conversion calls and order updates that are due (every minute)',
        timeout: Duration.seconds(FUNCTION_TIMEOUT_S.retry),
      })
        // PutItem: a bulk job's record, and the updates record of an automatic approval.
        .bindTable(ENV.conversionsTable, this.tables.conversions, ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], {
          name: CONVERSIONS.dueIndex,
          actions: ['dynamodb:Query'],
        })
        .bindSecret(ENV.partnerizeApiKeysSecretArn, this.apiKeysSecret)
    );
  }

  private createReconcileFunction(config: TrackingConfig): TrackingFunction {
    const { conversions } = this.tables;
    const fn = new TrackingFunction(this, 'ReconcileFunction', {
      ...functionBasics(config, 'reconcile'),
      memorySize: config.reconcileMemoryMb,
      description: "Compares each day's conversions with Partnerize's conversion report (daily)",
      // Lambda's longest: a 10,000-conversion window is 34 report pages, seconds each, but Partnerize's
      // 429s are waited out as it asks; the run is handed the deadline and stops in time.
      timeout: RECONCILE_TIMEOUT,
    })
      // Reads only: the index, then the records and their updates (BatchGetItem). No UpdateItem.
      .bindTable(ENV.conversionsTable, conversions, ['dynamodb:BatchGetItem'], {
        name: CAMPAIGN_TIME_INDEX.name,
        actions: ['dynamodb:Query'],
      })
      .bindSecret(ENV.partnerizeApiKeysSecretArn, this.apiKeysSecret);
    // Writes only its run records, whose keys are a separator, `reconcile`, a separator, … (core/model.ts
    // reconcileRunKey). IAM takes no control characters, so `?` stands for each separator: of the
    // orders' conversionRefs, the role could overwrite only one that is a character, then
    // `reconcile`, then another character — and it writes none.
    fn.addToRolePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['dynamodb:PutItem'],
        resources: [conversions.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [RUN_RECORD_KEY_PATTERN] } },
      }),
    );
    // A failed run pages; Lambda running it twice more would read the whole report twice more.
    fn.configureAsyncInvoke({ retryAttempts: 0 });
    return fn;
  }

  private createRetrySchedule(): void {
    new Rule(this, 'RetrySchedule', {
      description: 'Runs the retry function every minute',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(this.functions.retry, { retryAttempts: 0 })],
    });
  }

  /** Every morning (UTC) the previous days, as config says; none with an empty schedule. */
  private createReconcileSchedule(config: TrackingConfig): Rule | undefined {
    if (config.reconcileSchedule === '') return undefined;
    return new Rule(this, 'ReconcileSchedule', {
      description: "Reconciles the previous days' conversions with Partnerize's conversion report",
      schedule: Schedule.expression(config.reconcileSchedule),
      targets: [
        new LambdaFunction(this.functions.reconcile, {
          retryAttempts: 0,
          event: RuleTargetInput.fromObject({ lookbackDays: config.reconcileLookbackDays, graceHours: config.reconcileGraceHours }),
        }),
      ],
    });
  }

  /**
   * The Partnerize API keys (order updates): created empty — the brand puts its user application
   * key and user API key in it (README "Order lifecycle"), so the keys are never in context, the
   * template or an output. Until then the retry function keeps updates waiting (and pages).
   */
  private createApiKeysSecret(): Secret {
    const secret = new Secret(this, 'PartnerizeApiKeys', {
      description:
        'Partnerize API keys for order updates: {"applicationKey": "<user application key>", "userApiKey": "<user API key>"} (empty until set)',
    });
    // The L2 construct always generates a value; an empty secret has none until the brand puts one.
    (secret.node.defaultChild as CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
    return secret;
  }

  private createApi(config: TrackingConfig): TrackingApi {
    return new TrackingApi(this, 'Api', {
      clicksFunction: this.functions.clicks,
      postbacksFunction: this.functions.postbacks,
      allowedClickOrigins: config.allowedClickOrigins,
      throttle: { rateLimit: config.apiThrottleRateLimit, burstLimit: config.apiThrottleBurstLimit },
      routeThrottle: {
        clicks: { rateLimit: config.clicksThrottleRateLimit, burstLimit: config.clicksThrottleBurstLimit },
        postbacks: { rateLimit: config.postbacksThrottleRateLimit, burstLimit: config.postbacksThrottleBurstLimit },
      },
      logRetentionDays: config.logRetentionDays,
    });
  }

  /** CloudFront with the web ACL in front of the API (the optional WAF). */
  private createEdge(config: TrackingConfig, webAclArn: string | undefined, originVerifySecret: Secret): EdgeDistribution {
    const onCall = { topic: this.onCall.topic, runbookUrl: config.runbookUrl };
    const acl = webAclArn ?? new TrackingWebAcl(this, 'Waf', { ...webAclPropsOf(config), onCall }).webAcl.attrArn;
    const edge = new EdgeDistribution(this, 'Edge', {
      api: this.api.api,
      webAclArn: acl,
      originVerifySecret,
      originVerifyVersionId: config.originVerifyVersionId,
    });
    new CfnOutput(this, 'EdgeUrl', {
      value: edge.url,
      description: 'The WAF-protected entry point: give this URL to Tealium and the landing pages',
    });
    return edge;
  }

  private createAlarms(config: TrackingConfig): TrackingAlarms {
    return new TrackingAlarms(this, 'Alarms', {
      api: this.api.api,
      functions: this.watchedFunctions,
      serviceName: this.stackName,
      reconcile: this.functions.reconcile,
      topic: this.onCall.topic,
      config,
    });
  }

  private createDashboard(config: TrackingConfig): TrackingDashboard {
    return new TrackingDashboard(this, 'Dashboard', {
      api: this.api.api,
      functions: this.watchedFunctions,
      serviceName: this.stackName,
      alarms: this.alarms.alarms,
      reconcile: {
        fn: this.functions.reconcile,
        missingPercent: config.alarmReconcileMissingPercent,
        unexpectedPercent: config.alarmReconcileUnexpectedPercent,
      },
    });
  }

  /** What the CLI and the brand need after a deploy (never a secret's value). */
  private createOutputs(config: TrackingConfig): void {
    const publicUrl = this.edge?.url ?? this.api.url;
    const { clicks, conversions } = this.tables;
    const out = (id: string, value: string, description?: string) =>
      new CfnOutput(this, id, { value, ...(description ? { description } : {}) });
    out('ApiUrl', publicUrl, 'Base URL of the tracker API (the CloudFront URL with the WAF)');
    out('ClicksUrl', `${publicUrl}/clicks`, 'Report clicks here (landing page or tag manager)');
    out('PostbacksUrl', `${publicUrl}/postbacks`, 'Point the Tealium webhook connector here');
    out('PartnerizeMode', config.partnerizeMode, 'live sends to Partnerize; dryrun records the calls only (the CLI reads it)');
    out('OperatorSettings', JSON.stringify(operatorSettingsOf(config)), 'The settings the operator CLI applies as the functions do');
    out('ClicksTableName', clicks.tableName);
    out('ConversionsTableName', conversions.tableName);
    out('AlarmTopicArn', this.onCall.topic.topicArn, 'Every alarm notifies this topic (ALARM and OK)');
    out('DashboardName', this.dashboard.dashboard.dashboardName);
    out('ClicksLogGroupName', this.functions.clicks.logGroupName);
    out('PostbacksLogGroupName', this.functions.postbacks.logGroupName);
    out('RetryLogGroupName', this.functions.retry.logGroupName);
    out('ReconcileLogGroupName', this.functions.reconcile.logGroupName);
    out(
      'ReconcileFunctionName',
      this.functions.reconcile.functionName,
      'Run a reconciliation by hand: aws lambda invoke --function-name <this> --cli-binary-format raw-in-base64-out --payload \'{"from":"…","to":"…"}\' out.json',
    );
    out('ApiAccessLogGroupName', this.api.accessLogGroupName);
    if (config.conversionRefPrefix !== '')
      out('ConversionRefPrefix', config.conversionRefPrefix, 'Prepended to order ids (the CLI adds it for you)');
    out(
      'PostbackTokenSecretArn',
      this.tokenSecret.secretArn,
      'aws secretsmanager get-secret-value --secret-id <this> --query SecretString --output text',
    );
    if (this.segmentSecret)
      out(
        'SegmentSharedSecretArn',
        this.segmentSecret.secretArn,
        "Segment webhook destination's Shared Secret: aws secretsmanager get-secret-value --secret-id <this> --query SecretString --output text",
      );
    out(
      'PartnerizeApiKeysSecretArn',
      this.apiKeysSecret.secretArn,
      'Set once: aws secretsmanager put-secret-value --secret-id <this> --secret-string \'{"applicationKey":"…","userApiKey":"…"}\'',
    );
  }
}
