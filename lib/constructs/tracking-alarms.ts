import { Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRICS, RECONCILE_METRICS } from '#lambdas/core/metrics.js';
import { METRICS_NAMESPACE } from '#lambdas/observability/metrics.js';
import { POSTBACK_ANSWER_METRICS, THROTTLED_METRICS } from './tracking-api.js';
import type { InfraConfig } from '../config.js';

/** The alarm keys of the deploy config (lib/config.ts), read as they are. */
export type AlarmConfig = Pick<
  InfraConfig,
  | 'alarmPeriodMinutes'
  | 'alarmApi4xxRatePercent'
  | 'alarmApi4xxMinRequests'
  | 'alarmRetryableRatePercent'
  | 'alarmRetryableEvaluationPeriods'
  | 'alarmOldestOwedMinutes'
  | 'alarmUnattributedRatePercent'
  | 'alarmUnattributedMinPurchases'
  | 'alarmUnattributedPeriodMinutes'
  | 'alarmIgnoredRatePercent'
  | 'alarmIgnoredMinPostbacks'
  | 'alarmIgnoredPeriodMinutes'
  | 'alarmReconcileMissingPercent'
  | 'alarmReconcileUnexpectedPercent'
  | 'runbookUrl'
>;

export interface TrackingAlarmsProps {
  api: HttpApi;
  functions: Record<string, IFunction>;
  /** The daily reconciliation: its alarms read a day, not the request functions' periods. */
  reconcile: IFunction;
  /** The `service` dimension of the functions' EMF metrics. */
  serviceName: string;
  topic: ITopic;
  config: AlarmConfig;
}

/** A custom metric of this stack (EMF from the functions, or a metric filter on the access log). */
export function trackerMetric(serviceName: string, metricName: string, statistic = 'Sum', period = Duration.minutes(5)): Metric {
  return new Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: serviceName }, statistic, period });
}

interface AlarmSpec {
  id: string;
  /** The section of docs/runbook.md. */
  anchor: string;
  meaning: string;
  metric: IMetric;
  threshold: number;
  comparison?: ComparisonOperator;
  evaluationPeriods?: number;
  /** Of `evaluationPeriods`, how many must breach (default: all). */
  datapointsToAlarm?: number;
  missing?: TreatMissingData;
}

/**
 * Failures a caller retries (Tealium retries 5xx and 429 three times over about 30 minutes) or the
 * next retry run repeats lose nothing when they are a blip, and lose orders when they last: such
 * alarms page when two of three periods breach — within 10 to 15 minutes of a lasting failure, well
 * inside Tealium's retries, and never for one failure alone (nor its OK a period later).
 */
const SUSTAINED = { evaluationPeriods: 3, datapointsToAlarm: 2 } as const;

/** What the spec builders need: the config, the period, and this stack's metrics. */
interface Ctx {
  props: TrackingAlarmsProps;
  c: AlarmConfig;
  period: Duration;
  m: (name: string, statistic?: string, period?: Duration) => Metric;
}

/**
 * `100 × part / whole`, alarming above `percent` once `whole` reaches `minimum` in `period` (below
 * it, a few events would swing the share): the shape of every "share of …" alarm.
 */
function share(ctx: Ctx, a: { part: string; whole: string[]; minimum: number; period: Duration; label: string }): MathExpression {
  const whole = a.whole.map((w) => `FILL(${w}, 0)`).join(' + ');
  const names = [...new Set([a.part, ...a.whole])];
  return new MathExpression({
    expression: `IF(${whole} >= ${a.minimum}, 100 * FILL(${a.part}, 0) / (${whole}), 0)`,
    usingMetrics: Object.fromEntries(names.map((n) => [n, ctx.m(SHARE_METRICS[n]!, 'Sum', a.period)])),
    label: a.label,
    period: a.period,
  });
}

/** The metrics the share alarms combine, by the names their expressions use. */
const SHARE_METRICS: Record<string, string> = {
  sent: METRICS.partnerizeAnswer.sent,
  retryable: METRICS.partnerizeAnswer.retryable,
  rejected: METRICS.partnerizeAnswer.rejected,
  purchases: METRICS.purchases,
  unattributed: METRICS.postbackOutcome.unattributed,
  ignored: METRICS.postbackOutcome.ignored,
};

/**
 * What Tealium sees: 5xx, a share of 4xx, throttled postbacks. Read from the access log per route:
 * clicks are public, so their errors (anyone's to cause) are on the dashboard, not paged.
 */
function apiAlarms({ c, period, m }: Ctx): AlarmSpec[] {
  const { requests, clientErrors } = POSTBACK_ANSWER_METRICS;
  return [
    {
      id: 'Postbacks5xx',
      anchor: 'postbacks-5xx',
      meaning:
        'Postbacks were answered 5xx in two of the last three periods: they could not be stored (or the function failed). Tealium retries a 5xx three times over about 30 minutes, then drops the order.',
      metric: m(POSTBACK_ANSWER_METRICS.serverErrors),
      threshold: 0,
      ...SUSTAINED,
    },
    {
      id: 'Postbacks4xxShare',
      anchor: 'postbacks-4xx-share',
      meaning: `More than ${c.alarmApi4xxRatePercent}% of postbacks (at least ${c.alarmApi4xxMinRequests} in a period) were answered 4xx, not counting requests with no credential at all (junk) nor 429s (they page on their own): a wrong token, a broken mapping or a bad caller. Tealium does not retry 4xx: those conversions are lost until fixed.`,
      // Refusals of requests with no credential (a function metric) come out of both sides.
      metric: new MathExpression({
        expression: `IF(FILL(requests, 0) - FILL(anonymous, 0) >= ${c.alarmApi4xxMinRequests}, 100 * (FILL(clientErrors, 0) - FILL(anonymous, 0)) / (FILL(requests, 0) - FILL(anonymous, 0)), 0)`,
        usingMetrics: { requests: m(requests), clientErrors: m(clientErrors), anonymous: m(METRICS.postbacksAnonymous) },
        label: 'Postbacks 4xx % (with credentials)',
        period,
      }),
      threshold: c.alarmApi4xxRatePercent,
    },
    {
      id: 'PostbacksThrottled',
      anchor: 'postbacks-throttled',
      meaning:
        'API Gateway answered 429 to a postback: the postbacks route throttle (or the account-level one) is exceeded. Tealium retries a 429 three times over about 30 minutes, then drops the order, so a single one pages.',
      metric: m(THROTTLED_METRICS.postbacks),
      threshold: 0,
    },
  ];
}

/** What Partnerize answers, and what the outbox still owes. */
function deliveryAlarms(ctx: Ctx): AlarmSpec[] {
  const { c, period, m } = ctx;
  return [
    {
      id: 'PartnerizeRejected',
      anchor: 'partnerize-rejected',
      meaning: 'Partnerize refused a conversion with a non-retryable 4xx: it is kept (status rejected) and not retried.',
      metric: m(METRICS.partnerizeAnswer.rejected),
      threshold: 0,
    },
    {
      id: 'PartnerizeRetryableRate',
      anchor: 'partnerize-retryable-rate',
      meaning: `More than ${c.alarmRetryableRatePercent}% of Partnerize calls failed retryably (408/429/5xx/timeout/connection) for ${c.alarmRetryableEvaluationPeriods} periods in a row: Partnerize is degraded; sends are queued and retried.`,
      metric: share(ctx, {
        part: 'retryable',
        whole: ['sent', 'retryable', 'rejected'],
        minimum: 1,
        period,
        label: 'Partnerize retryable %',
      }),
      threshold: c.alarmRetryableRatePercent,
      evaluationPeriods: c.alarmRetryableEvaluationPeriods,
    },
    {
      id: 'ConversionsFailed',
      anchor: 'conversions-failed',
      meaning: 'A conversion exhausted its retry schedule (status failed): it will not be sent unless requeued.',
      metric: m(METRICS.conversionsFailed),
      threshold: 0,
    },
    {
      id: 'ConversionsUnconfirmed',
      anchor: 'conversions-unconfirmed',
      meaning:
        'Partnerize cut the connection after a call went out, without answering (status unconfirmed): it may have counted the conversion, so the tracker will not send it again by itself. Confirm it or replay it.',
      metric: m(METRICS.conversionsUnconfirmed),
      threshold: 0,
    },
    {
      id: 'OldestOwedSend',
      anchor: 'oldest-owed-send',
      meaning: `An owed send is more than ${c.alarmOldestOwedMinutes} minutes overdue: the retry function is not keeping up or cannot send.`,
      metric: m(METRICS.oldestOwedAge, 'Maximum'),
      threshold: c.alarmOldestOwedMinutes * 60,
    },
    {
      id: 'RetryHeartbeatMissing',
      anchor: 'retry-heartbeat-missing',
      meaning: 'The retry function has not completed a run for two periods: owed sends are not being retried.',
      metric: m(METRICS.retryHeartbeat),
      threshold: 1,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      missing: TreatMissingData.BREACHING,
    },
  ];
}

/** Shares of postbacks that say the feed or the click capture is broken. */
function feedAlarms(ctx: Ctx): AlarmSpec[] {
  const { c } = ctx;
  const unattributedPeriod = Duration.minutes(c.alarmUnattributedPeriodMinutes);
  const ignoredPeriod = Duration.minutes(c.alarmIgnoredPeriodMinutes);
  return [
    {
      id: 'UnattributedShare',
      anchor: 'unattributed-share',
      meaning: `More than ${c.alarmUnattributedRatePercent}% of purchases (at least ${c.alarmUnattributedMinPurchases} in ${c.alarmUnattributedPeriodMinutes} min) had no live clickref: click capture is probably broken, or postbacks carry another session id than clicks.`,
      metric: share(ctx, {
        part: 'unattributed',
        whole: ['purchases'],
        minimum: c.alarmUnattributedMinPurchases,
        period: unattributedPeriod,
        label: 'Unattributed %',
      }),
      threshold: c.alarmUnattributedRatePercent,
    },
    {
      id: 'IgnoredShare',
      anchor: 'ignored-share',
      meaning: `More than ${c.alarmIgnoredRatePercent}% of postbacks (at least ${c.alarmIgnoredMinPostbacks} in ${c.alarmIgnoredPeriodMinutes} min) were not purchase events and were ignored: the feed sends other events, or purchases arrive under an event name purchaseEvents does not list.`,
      metric: share(ctx, {
        part: 'ignored',
        whole: ['ignored', 'purchases'],
        minimum: c.alarmIgnoredMinPostbacks,
        period: ignoredPeriod,
        label: 'Ignored %',
      }),
      threshold: c.alarmIgnoredRatePercent,
    },
  ];
}

/** Order updates (cancellations, returns, approvals) that did not reach Partnerize, or wait too long. */
function lifecycleAlarms({ c, m }: Ctx): AlarmSpec[] {
  return [
    {
      id: 'UpdatesRejected',
      anchor: 'updates-rejected',
      meaning:
        'Partnerize refused an order update (a cancellation, return or approval) with a 4xx: it is kept (state rejected) and not retried.',
      metric: m(METRICS.updatesRejected),
      threshold: 0,
    },
    {
      id: 'UpdatesFailed',
      anchor: 'updates-failed',
      meaning:
        'Partnerize did not apply an order update (its job reported an error), or an update exhausted its retry schedule: commission may be paid on an order the brand did not keep.',
      metric: m(METRICS.updatesFailed),
      threshold: 0,
    },
    {
      id: 'UpdatesAwaitingKeys',
      anchor: 'updates-awaiting-keys',
      meaning:
        'Order updates are due but the Partnerize API keys are not set (the PartnerizeApiKeys secret is empty): nothing is lost, nothing is sent until they are.',
      metric: m(METRICS.updatesAwaitingKeys, 'Maximum'),
      threshold: 0,
      // Every run reports it until the keys are set; nothing is lost meanwhile: it must last.
      ...SUSTAINED,
    },
    {
      id: 'PartnerizeApiAuthFailed',
      anchor: 'partnerize-api-auth',
      meaning: "Partnerize's API refused the API keys (401/403): every order update waits until the keys are fixed.",
      metric: m(METRICS.partnerizeApiAuthFailed),
      threshold: 0,
      ...SUSTAINED,
    },
    {
      id: 'OldestOwedUpdate',
      anchor: 'oldest-owed-update',
      meaning: `An order update is more than ${c.alarmOldestOwedMinutes} minutes overdue: the retry function is not keeping up with updates or cannot send them.`,
      metric: m(METRICS.oldestUpdateAge, 'Maximum'),
      threshold: c.alarmOldestOwedMinutes * 60,
    },
  ];
}

/** The daily run reads a day; an operator's run in between is one more datapoint of that day. */
const RECONCILE_PERIOD = Duration.days(1);

/**
 * The daily reconciliation (core/reconcile-run.ts): Partnerize holds fewer of our orders, or more
 * of its own, than it should; or the run could not tell. A skipped run (dry run, no API keys)
 * emits no share: missing data is no breach. The other classes (value, items, status) are on the
 * dashboard and in the run's record: worth a look in the morning, not a page.
 */
function reconcileAlarms({ c, m, props }: Ctx): AlarmSpec[] {
  const day = RECONCILE_PERIOD;
  return [
    {
      id: 'ReconcileMissingShare',
      anchor: 'reconcile-missing',
      meaning: `The daily reconciliation found more than ${c.alarmReconcileMissingPercent}% of the conversions delivered in its window (past the grace period) missing from Partnerize's conversion report: Partnerize answered the calls but holds no conversion for them.`,
      metric: m(RECONCILE_METRICS.missingShare, 'Maximum', day),
      threshold: c.alarmReconcileMissingPercent,
    },
    {
      id: 'ReconcileUnexpectedShare',
      anchor: 'reconcile-unexpected',
      meaning: `More than ${c.alarmReconcileUnexpectedPercent}% of the conversions in Partnerize's report for the daily reconciliation's window were not delivered by the tracker: the legacy pixel or another source still sends.`,
      metric: m(RECONCILE_METRICS.unexpectedShare, 'Maximum', day),
      threshold: c.alarmReconcileUnexpectedPercent,
    },
    {
      id: 'ReconcileFailed',
      anchor: 'reconcile-failed',
      meaning:
        "The daily reconciliation could not reconcile a campaign (Partnerize's report unreadable, the API keys refused, out of time) or the function failed: nobody knows whether Partnerize holds that day's orders.",
      // One page for one failed run: a campaign it could not reconcile also fails the invocation.
      metric: new MathExpression({
        expression: 'FILL(failed, 0) + FILL(errors, 0)',
        usingMetrics: {
          failed: m(RECONCILE_METRICS.failed, 'Sum', day),
          errors: props.reconcile.metricErrors({ statistic: 'Sum', period: day }),
        },
        label: 'Reconciliations failed',
        period: day,
      }),
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    },
  ];
}

/** Each function's errors and throttles, when they last (a lone one is retried: the dashboard shows it). */
function functionAlarms({ props, period }: Ctx): AlarmSpec[] {
  return Object.entries(props.functions).flatMap(([name, fn]) => [
    {
      id: `${name}Errors`,
      anchor: 'lambda-errors',
      meaning: `The ${name} function threw or timed out in two of the last three periods.`,
      metric: fn.metricErrors({ statistic: 'Sum', period }),
      threshold: 0,
      ...SUSTAINED,
    },
    {
      id: `${name}Throttles`,
      anchor: 'lambda-throttles',
      meaning: `The ${name} function was throttled (account or reserved concurrency exhausted) in two of the last three periods.`,
      metric: fn.metricThrottles({ statistic: 'Sum', period }),
      threshold: 0,
      ...SUSTAINED,
    },
  ]);
}

/**
 * Alarms page on what loses money: a conversion refused or given up, postbacks failing for long
 * enough to outlast Tealium's retries, a broken feed or click capture. Everything else (a lone
 * 5xx, clicks' errors, junk refused for want of a credential) is counted on the dashboard. Every
 * alarm notifies on-call through the topic on ALARM and on OK: one incident, one page, and the OK
 * resolves it (PagerDuty's and Opsgenie's CloudWatch integrations close the incident on it). Each
 * description says what the alarm means and links its runbook section.
 */
export class TrackingAlarms extends Construct {
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: TrackingAlarmsProps) {
    super(scope, id);
    const c = props.config;
    const period = Duration.minutes(c.alarmPeriodMinutes);
    const ctx: Ctx = { props, c, period, m: (name, statistic = 'Sum', p = period) => trackerMetric(props.serviceName, name, statistic, p) };
    const action = new SnsAction(props.topic);
    for (const spec of [
      ...apiAlarms(ctx),
      ...deliveryAlarms(ctx),
      ...feedAlarms(ctx),
      ...lifecycleAlarms(ctx),
      ...reconcileAlarms(ctx),
      ...functionAlarms(ctx),
    ]) {
      const alarm = this.alarmOf(spec, c.runbookUrl);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.alarms.push(alarm);
    }
  }

  private alarmOf(spec: AlarmSpec, runbookUrl: string): Alarm {
    return new Alarm(this, spec.id, {
      alarmName: `${Stack.of(this).stackName}-${spec.id}`,
      alarmDescription: `${spec.meaning} Runbook: ${runbookUrl}#${spec.anchor}`,
      metric: spec.metric,
      threshold: spec.threshold,
      comparisonOperator: spec.comparison ?? ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: spec.evaluationPeriods ?? 1,
      ...(spec.datapointsToAlarm === undefined ? {} : { datapointsToAlarm: spec.datapointsToAlarm }),
      treatMissingData: spec.missing ?? TreatMissingData.NOT_BREACHING,
    });
  }
}
