import { Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData, type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRICS } from '../../lambdas/core/metrics.js';
import { METRICS_NAMESPACE } from '../../lambdas/commons/metrics.js';
import { THROTTLED_METRICS } from './tracking-api.js';

export interface AlarmThresholds {
  periodMinutes: number;
  api4xxRatePercent: number;
  api4xxMinRequests: number;
  retryableRatePercent: number;
  retryableEvaluationPeriods: number;
  oldestOwedMinutes: number;
  unattributedRatePercent: number;
  unattributedMinPurchases: number;
  unattributedPeriodMinutes: number;
  ignoredRatePercent: number;
  ignoredMinPostbacks: number;
  ignoredPeriodMinutes: number;
}

export interface TrackingAlarmsProps {
  api: HttpApi;
  functions: Record<string, IFunction>;
  /** The `service` dimension of the functions' EMF metrics. */
  serviceName: string;
  topic: ITopic;
  runbookUrl: string;
  thresholds: AlarmThresholds;
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
  missing?: TreatMissingData;
}

/**
 * Every non-2xx path has an alarm, and every alarm pages on-call (ALARM and OK) through the topic.
 * Each description says what the alarm means and links its runbook section.
 */
export class TrackingAlarms extends Construct {
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: TrackingAlarmsProps) {
    super(scope, id);
    const t = props.thresholds;
    const period = Duration.minutes(t.periodMinutes);
    const m = (name: string, statistic = 'Sum', p = period) => trackerMetric(props.serviceName, name, statistic, p);
    const action = new SnsAction(props.topic);
    const stackName = Stack.of(this).stackName;

    const specs: AlarmSpec[] = [
      {
        id: 'Api5xx',
        anchor: 'api-5xx',
        meaning: 'The API answered 5xx: a postback or click could not be stored (or a function failed). Tealium retries 5xx three times, then drops the event.',
        metric: props.api.metricServerError({ statistic: 'Sum', period }),
        threshold: 0,
      },
      {
        id: 'Api4xxRate',
        anchor: 'api-4xx-rate',
        meaning: `More than ${t.api4xxRatePercent}% of API requests answered 4xx (with at least ${t.api4xxMinRequests} requests): a wrong token, a broken mapping or a bad caller. Tealium does not retry 4xx: those conversions are lost until fixed.`,
        metric: new MathExpression({
          expression: `IF(FILL(requests, 0) >= ${t.api4xxMinRequests}, 100 * FILL(clientErrors, 0) / requests, 0)`,
          usingMetrics: {
            clientErrors: props.api.metricClientError({ statistic: 'Sum', period }),
            requests: props.api.metricCount({ statistic: 'Sum', period }),
          },
          label: 'API 4xx %',
          period,
        }),
        threshold: t.api4xxRatePercent,
      },
      {
        id: 'PostbacksThrottled',
        anchor: 'postbacks-throttled',
        meaning:
          'API Gateway answered 429 to a postback: the postbacks route throttle (or the account-level one) was exceeded. Tealium retries a 429 three times over about 30 minutes, then drops the order.',
        metric: m(THROTTLED_METRICS.postbacks),
        threshold: 0,
      },
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
        meaning: `More than ${t.retryableRatePercent}% of Partnerize calls failed retryably (408/429/5xx/timeout/connection) for ${t.retryableEvaluationPeriods} periods in a row: Partnerize is degraded; sends are queued and retried.`,
        metric: new MathExpression({
          expression: 'IF((FILL(sent, 0) + FILL(retryable, 0) + FILL(rejected, 0)) > 0, 100 * FILL(retryable, 0) / (FILL(sent, 0) + FILL(retryable, 0) + FILL(rejected, 0)), 0)',
          usingMetrics: {
            sent: m(METRICS.partnerizeAnswer.sent),
            retryable: m(METRICS.partnerizeAnswer.retryable),
            rejected: m(METRICS.partnerizeAnswer.rejected),
          },
          label: 'Partnerize retryable %',
          period,
        }),
        threshold: t.retryableRatePercent,
        evaluationPeriods: t.retryableEvaluationPeriods,
      },
      {
        id: 'ConversionsFailed',
        anchor: 'conversions-failed',
        meaning: 'A conversion exhausted its retry schedule (status failed): it will not be sent unless requeued.',
        metric: m(METRICS.conversionsFailed),
        threshold: 0,
      },
      {
        id: 'OldestOwedSend',
        anchor: 'oldest-owed-send',
        meaning: `An owed send is more than ${t.oldestOwedMinutes} minutes overdue: the retry function is not keeping up or cannot send.`,
        metric: m(METRICS.oldestOwedAge, 'Maximum'),
        threshold: t.oldestOwedMinutes * 60,
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
      {
        id: 'UnattributedShare',
        anchor: 'unattributed-share',
        meaning: `More than ${t.unattributedRatePercent}% of purchases (at least ${t.unattributedMinPurchases} in ${t.unattributedPeriodMinutes} min) had no live clickref: click capture is probably broken, or postbacks carry another session id than clicks.`,
        metric: new MathExpression({
          expression: `IF(FILL(purchases, 0) >= ${t.unattributedMinPurchases}, 100 * FILL(unattributed, 0) / purchases, 0)`,
          usingMetrics: {
            purchases: m(METRICS.purchases, 'Sum', Duration.minutes(t.unattributedPeriodMinutes)),
            unattributed: m(METRICS.postbackOutcome.unattributed, 'Sum', Duration.minutes(t.unattributedPeriodMinutes)),
          },
          label: 'Unattributed %',
          period: Duration.minutes(t.unattributedPeriodMinutes),
        }),
        threshold: t.unattributedRatePercent,
      },
      {
        id: 'IgnoredShare',
        anchor: 'ignored-share',
        meaning: `More than ${t.ignoredRatePercent}% of postbacks (at least ${t.ignoredMinPostbacks} in ${t.ignoredPeriodMinutes} min) were not purchase events and were ignored: the feed sends other events, or purchases arrive under an event name purchaseEvents does not list.`,
        metric: new MathExpression({
          expression: `IF(FILL(ignored, 0) + FILL(purchases, 0) >= ${t.ignoredMinPostbacks}, 100 * FILL(ignored, 0) / (FILL(ignored, 0) + FILL(purchases, 0)), 0)`,
          usingMetrics: {
            ignored: m(METRICS.postbackOutcome.ignored, 'Sum', Duration.minutes(t.ignoredPeriodMinutes)),
            purchases: m(METRICS.purchases, 'Sum', Duration.minutes(t.ignoredPeriodMinutes)),
          },
          label: 'Ignored %',
          period: Duration.minutes(t.ignoredPeriodMinutes),
        }),
        threshold: t.ignoredRatePercent,
      },
    ];
    for (const [name, fn] of Object.entries(props.functions)) {
      specs.push(
        {
          id: `${name}Errors`,
          anchor: 'lambda-errors',
          meaning: `The ${name} function threw or timed out.`,
          metric: fn.metricErrors({ statistic: 'Sum', period }),
          threshold: 0,
        },
        {
          id: `${name}Throttles`,
          anchor: 'lambda-throttles',
          meaning: `The ${name} function was throttled (account or reserved concurrency exhausted).`,
          metric: fn.metricThrottles({ statistic: 'Sum', period }),
          threshold: 0,
        },
      );
    }

    for (const spec of specs) {
      const alarm = new Alarm(this, spec.id, {
        alarmName: `${stackName}-${spec.id}`,
        alarmDescription: `${spec.meaning} Runbook: ${props.runbookUrl}#${spec.anchor}`,
        metric: spec.metric,
        threshold: spec.threshold,
        comparisonOperator: spec.comparison ?? ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: spec.evaluationPeriods ?? 1,
        treatMissingData: spec.missing ?? TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.alarms.push(alarm);
    }
  }
}
