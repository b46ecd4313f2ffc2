import { Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  MathExpression,
  TextWidget,
  type Alarm,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { METRICS, RECONCILE_METRICS } from '#lambdas/core/metrics.js';
import { trackerMetric } from './tracking-alarms.js';
import { POSTBACK_ANSWER_METRICS, THROTTLED_METRICS } from './tracking-api.js';

export interface TrackingDashboardProps {
  api: HttpApi;
  functions: Record<string, IFunction>;
  serviceName: string;
  alarms: readonly Alarm[];
  /** The daily reconciliation and the shares its alarms page at (drawn on its graph). */
  reconcile: { fn: IFunction; missingPercent: number; unexpectedPercent: number };
}

/** A tracker metric over one period, labelled as the graph shows it. */
type MetricOf = (name: string, label: string, statistic?: string) => IMetric;
const metricsOver =
  (serviceName: string, period: Duration): MetricOf =>
  (name, label, statistic = 'Sum') =>
    trackerMetric(serviceName, name, statistic, period).with({ label });

/** What every five-minute row draws from. */
interface Row {
  props: TrackingDashboardProps;
  period: Duration;
  m: MetricOf;
}

/**
 * The pipeline at a glance, left to right as a conversion travels: clicks in, postbacks by
 * outcome, Partnerize's answers and latency, what is still owed or failed, and the API's errors.
 */
export class TrackingDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: TrackingDashboardProps) {
    super(scope, id);
    const stackName = Stack.of(this).stackName;
    const period = Duration.minutes(5);
    const row: Row = { props, period, m: metricsOver(props.serviceName, period) };

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${stackName}-pipeline`,
      defaultInterval: Duration.hours(24),
    });
    // One addWidgets call per row: the rows stack in this order.
    this.dashboard.addWidgets(headerWidget(stackName));
    this.dashboard.addWidgets(...arrivalWidgets(row));
    this.dashboard.addWidgets(...partnerizeWidgets(row));
    this.dashboard.addWidgets(...apiAndFunctionWidgets(row));
    this.dashboard.addWidgets(...reconcileWidgets(props));
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24 }));
  }
}

/** What the dashboard is, and where to look an order up. */
const headerWidget = (stackName: string) =>
  new TextWidget({
    markdown: `# ${stackName}: clicks → postbacks → Partnerize\nAnything red below pages on-call; each alarm links its runbook section. "What happened to order X?": \`npm run pz -- lookup X --stack ${stackName}\``,
    width: 24,
    height: 2,
  });

/** What comes in: clicks, postbacks by outcome, and the shares that page when attribution breaks. */
function arrivalWidgets({ m, period }: Row) {
  const outcomes = Object.entries(METRICS.postbackOutcome).map(([outcome, name]) => m(name, outcome));
  return [
    new GraphWidget({
      title: 'Clicks',
      left: [
        m(METRICS.clicksRecorded, 'recorded'),
        m(METRICS.clicksNotRecorded, 'not recorded (no consent)'),
        m(METRICS.clicksLocked, 'not recorded (click lock)'),
      ],
      width: 8,
    }),
    new GraphWidget({ title: 'Postbacks by outcome', left: outcomes, stacked: true, width: 8 }),
    new GraphWidget({
      title: 'Unattributed share of purchases, ignored share of postbacks (%)',
      left: [
        new MathExpression({
          expression: 'IF(FILL(p, 0) > 0, 100 * FILL(u, 0) / p, 0)',
          usingMetrics: { p: m(METRICS.purchases, 'purchases'), u: m(METRICS.postbackOutcome.unattributed, 'unattributed') },
          label: 'unattributed %',
          period,
        }),
        new MathExpression({
          expression: 'IF(FILL(p, 0) + FILL(i, 0) > 0, 100 * FILL(i, 0) / (FILL(p, 0) + FILL(i, 0)), 0)',
          usingMetrics: { p: m(METRICS.purchases, 'purchases'), i: m(METRICS.postbackOutcome.ignored, 'ignored') },
          label: 'ignored %',
          period,
        }),
      ],
      width: 8,
    }),
  ];
}

/** What goes out: Partnerize's answers, its latency, and the sends still owed or given up. */
function partnerizeWidgets({ m }: Row) {
  return [
    new GraphWidget({
      title: 'Partnerize answers',
      left: [
        m(METRICS.partnerizeAnswer.sent, '2xx (sent)'),
        m(METRICS.partnerizeAnswer.retryable, 'retryable (408/429/5xx/timeout)'),
        m(METRICS.partnerizeAnswer.rejected, 'rejected (4xx)'),
      ],
      stacked: true,
      width: 8,
    }),
    new GraphWidget({
      title: 'Partnerize latency (ms)',
      left: [m(METRICS.partnerizeLatency, 'p50', 'p50'), m(METRICS.partnerizeLatency, 'p99', 'p99')],
      width: 8,
    }),
    new GraphWidget({
      title: 'Owed and failed sends',
      left: [
        m(METRICS.owedDue, 'owed and due (per run)', 'Maximum'),
        m(METRICS.conversionsFailed, 'failed'),
        m(METRICS.conversionsUnconfirmed, 'unconfirmed'),
      ],
      right: [m(METRICS.oldestOwedAge, 'most overdue (s)', 'Maximum')],
      width: 8,
    }),
  ];
}

/** The machinery: the API's answers and throttles, and the functions' errors and durations. */
function apiAndFunctionWidgets({ props, period, m }: Row) {
  const functions = Object.entries(props.functions);
  return [
    new GraphWidget({
      title: 'API requests, errors and throttled requests',
      left: [
        props.api.metricCount({ statistic: 'Sum', period, label: 'requests' }),
        props.api.metricClientError({ statistic: 'Sum', period, label: '4xx' }),
        props.api.metricServerError({ statistic: 'Sum', period, label: '5xx' }),
      ],
      right: [m(THROTTLED_METRICS.postbacks, '429 postbacks (pages when it lasts)'), m(THROTTLED_METRICS.clicks, '429 clicks')],
      width: 8,
    }),
    new GraphWidget({
      title: 'Postback answers (access log): 4xx, 5xx, and junk without credentials',
      left: [
        m(POSTBACK_ANSWER_METRICS.requests, 'requests'),
        m(POSTBACK_ANSWER_METRICS.clientErrors, '4xx but 429'),
        m(POSTBACK_ANSWER_METRICS.serverErrors, '5xx (pages when it lasts)'),
        m(METRICS.postbacksAnonymous, 'refused, no credential at all (never pages)'),
      ],
      width: 8,
    }),
    new GraphWidget({
      title: 'Functions: errors and throttles',
      left: functions.flatMap(([name, fn]) => [
        fn.metricErrors({ statistic: 'Sum', period, label: `${name} errors` }),
        fn.metricThrottles({ statistic: 'Sum', period, label: `${name} throttles` }),
      ]),
      width: 8,
    }),
    new GraphWidget({
      title: 'Functions: duration p99 (ms)',
      left: functions.map(([name, fn]) => fn.metricDuration({ statistic: 'p99', period, label: name })),
      width: 8,
    }),
  ];
}

/** The daily reconciliation's row: one datapoint a day, so two weeks of days. */
function reconcileWidgets(props: TrackingDashboardProps) {
  const day = Duration.days(1);
  const start = '-P14D';
  const m = metricsOver(props.serviceName, day);
  const r = RECONCILE_METRICS;
  const stack = Stack.of(props.reconcile.fn).stackName;
  return [
    new GraphWidget({
      title: 'Reconciliation: differing orders per class (daily run)',
      left: [
        m(r.missing, 'missing'),
        m(r.unexpected, 'unexpected'),
        m(r.value, 'value or currency differs'),
        m(r.items, 'items differ'),
        m(r.status, 'status drift'),
      ],
      start,
      period: day,
      width: 8,
    }),
    new GraphWidget({
      title: 'Reconciliation: missing and unexpected shares (%)',
      left: [m(r.missingShare, 'missing % of delivered', 'Maximum'), m(r.unexpectedShare, "unexpected % of Partnerize's", 'Maximum')],
      leftAnnotations: [
        { value: props.reconcile.missingPercent, label: 'missing alarm' },
        { value: props.reconcile.unexpectedPercent, label: 'unexpected alarm' },
      ],
      start,
      period: day,
      width: 8,
    }),
    new GraphWidget({
      title: 'Reconciliation: what was judged, and runs failed or skipped',
      left: [m(r.checked, 'delivered, judged'), m(r.held, "Partnerize's conversions"), m(r.notJudged, 'within the grace period')],
      right: [
        m(r.failed, 'campaigns failed'),
        m(r.skipped, 'runs skipped (dry run, no API keys)'),
        props.reconcile.fn.metricErrors({ statistic: 'Sum', period: day, label: 'function errors' }),
      ],
      start,
      period: day,
      width: 8,
    }),
    new TextWidget({
      markdown: `Each day's differing orders: \`npm run pz -- reconcile --from <day> --to <day> --stack ${stack}\` (\`--fix\` re-sends what is missing). The run's record keeps its counts and rows.`,
      width: 24,
      height: 1,
    }),
  ];
}
