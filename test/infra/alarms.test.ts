import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildStack, resourcesOf } from '../support/stack.js';

let built: ReturnType<typeof buildStack>;
type AlarmResource = { Properties?: any };
let alarms: Record<string, AlarmResource>;

beforeAll(() => {
  built = buildStack({ alarmEmails: 'oncall@acme.example', alarmHttpsEndpoints: 'https://events.pagerduty.com/integration/abc/enqueue' });
  alarms = Object.fromEntries(
    Object.values(resourcesOf(built.template, 'AWS::CloudWatch::Alarm')).map((a) => [
      String(a.Properties.AlarmName).replace('PartnerizeS2S-', ''),
      a,
    ]),
  );
});

const logicalId = (type: string, prefix: string) => Object.keys(resourcesOf(built.template, type)).find((k) => k.startsWith(prefix))!;
const topicRef = () => ({ Ref: logicalId('AWS::SNS::Topic', 'OnCallTopic') });
const custom = (name: string, statistic = 'Sum') =>
  expect.objectContaining({
    Namespace: 'PartnerizeS2S',
    MetricName: name,
    Dimensions: [{ Name: 'service', Value: 'PartnerizeS2S' }],
    Statistic: statistic,
  });
const mathMetrics = (a: AlarmResource) =>
  Object.fromEntries(
    (a.Properties.Metrics as Array<{ Id: string; MetricStat?: { Metric: any; Stat: string; Period: number }; Expression?: string }>).map(
      (m) => [m.Id, m],
    ),
  );

describe('alarms', () => {
  it('exist for every non-2xx path, and nothing else', () => {
    expect(Object.keys(alarms).sort()).toEqual([
      'ClicksErrors',
      'ClicksThrottles',
      'ConversionsFailed',
      'ConversionsUnconfirmed',
      'IgnoredShare',
      'OldestOwedSend',
      'OldestOwedUpdate',
      'PartnerizeApiAuthFailed',
      'PartnerizeRejected',
      'PartnerizeRetryableRate',
      'Postbacks4xxShare',
      'Postbacks5xx',
      'PostbacksErrors',
      'PostbacksThrottled',
      'PostbacksThrottles',
      'ReconcileFailed',
      'ReconcileMissingShare',
      'ReconcileUnexpectedShare',
      'RetryErrors',
      'RetryHeartbeatMissing',
      'RetryThrottles',
      'UnattributedShare',
      'UpdatesAwaitingKeys',
      'UpdatesFailed',
      'UpdatesRejected',
    ]);
  });

  it('order updates: refused (> 0), failed (> 0), waiting for the API keys, keys refused, the oldest overdue', () => {
    expect(alarms['UpdatesRejected']!.Properties).toEqual(custom('UpdatesRejected'));
    expect(alarms['UpdatesFailed']!.Properties).toEqual(custom('UpdatesFailed'));
    expect(alarms['UpdatesAwaitingKeys']!.Properties).toEqual(custom('UpdatesAwaitingKeys', 'Maximum'));
    expect(alarms['PartnerizeApiAuthFailed']!.Properties).toEqual(custom('PartnerizeApiAuthFailed'));
    expect(alarms['OldestOwedUpdate']!.Properties).toEqual(custom('OldestOwedUpdateAge', 'Maximum'));
    expect(alarms['OldestOwedUpdate']!.Properties.Threshold).toBe(15 * 60);
    for (const id of ['UpdatesRejected', 'UpdatesFailed', 'UpdatesAwaitingKeys', 'PartnerizeApiAuthFailed'])
      expect(alarms[id]!.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    // Waiting for keys, or keys refused, repeats every run and loses nothing yet: it must last.
    for (const id of ['UpdatesAwaitingKeys', 'PartnerizeApiAuthFailed'])
      expect(alarms[id]!.Properties).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 2 });
  });

  it('page on one event only where it loses money: a rejected, failed or unconfirmed conversion or update, a throttled postback; retried failures must last', () => {
    const onOne = Object.entries(alarms)
      .filter(([, a]) => a.Properties.Threshold === 0 && a.Properties.EvaluationPeriods === 1)
      .map(([name]) => name)
      .sort();
    expect(onOne).toEqual([
      'ConversionsFailed',
      'ConversionsUnconfirmed',
      'PartnerizeRejected',
      'PostbacksThrottled',
      'UpdatesFailed',
      'UpdatesRejected',
    ]);
  });

  it('all page on-call on ALARM and on OK, and link their runbook section', () => {
    for (const [name, a] of Object.entries(alarms)) {
      expect(a.Properties.AlarmActions, name).toEqual([topicRef()]);
      expect(a.Properties.OKActions, name).toEqual([topicRef()]);
      expect(a.Properties.AlarmDescription, name).toMatch(/Runbook: docs\/runbook\.md#[a-z0-9-]+$/);
    }
  });

  it('cite no document the brand does not have (no "FAQ Qn")', () => {
    for (const [name, a] of Object.entries(alarms)) expect(a.Properties.AlarmDescription, name).not.toMatch(/FAQ/);
  });

  it('postbacks throttled: any 429 pages, reading the metric the access-log filter writes', () => {
    const a = alarms['PostbacksThrottled']!.Properties;
    expect(a).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      Period: 300,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(a.DatapointsToAlarm ?? 1).toBe(1);
    const filter = Object.values(resourcesOf(built.template, 'AWS::Logs::MetricFilter'))
      .map((f) => f.Properties.MetricTransformations[0])
      .find((t) => t.MetricName === a.MetricName)!;
    expect(filter).toBeDefined();
    expect(a.Namespace).toBe(filter.MetricNamespace);
    // The filter takes the dimension from the line's `service`, which the access log format sets to the stack name.
    const stage = Object.values(resourcesOf(built.template, 'AWS::ApiGatewayV2::Stage'))[0]!;
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format) as Record<string, string>;
    const dimensions = (filter.Dimensions as Array<{ Key: string; Value: string }>).map((d) => ({
      Name: d.Key,
      Value: format[d.Value.replace(/^\$\./, '')],
    }));
    expect(a.Dimensions).toEqual(dimensions);
    expect(a).toEqual(custom('PostbacksThrottled'));
    expect(a.AlarmDescription).toMatch(/Runbook: docs\/runbook\.md#postbacks-throttled$/);
  });

  it('ignored share of postbacks: ignored / (ignored + purchases) over an hour, with a minimum volume', () => {
    const a = alarms['IgnoredShare']!;
    const m = mathMetrics(a);
    expect(m['ignored']!.MetricStat).toMatchObject({
      Metric: { Namespace: 'PartnerizeS2S', MetricName: 'PostbacksIgnored', Dimensions: [{ Name: 'service', Value: 'PartnerizeS2S' }] },
      Period: 3600,
      Stat: 'Sum',
    });
    expect(m['purchases']!.MetricStat).toMatchObject({ Metric: { MetricName: 'Purchases' }, Period: 3600, Stat: 'Sum' });
    const expr = Object.values(m).find((x) => x.Expression)!.Expression;
    expect(expr).toBe(
      'IF(FILL(ignored, 0) + FILL(purchases, 0) >= 20, 100 * FILL(ignored, 0) / (FILL(ignored, 0) + FILL(purchases, 0)), 0)',
    );
    expect(a.Properties).toMatchObject({ Threshold: 50, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching' });
    expect(a.Properties.AlarmDescription).toMatch(/Runbook: docs\/runbook\.md#ignored-share$/);
  });

  /** The access-log metric filter that writes `metricName`, and its pattern. */
  const filterWriting = (metricName: string) =>
    Object.values(resourcesOf(built.template, 'AWS::Logs::MetricFilter')).find(
      (f) => f.Properties.MetricTransformations[0].MetricName === metricName,
    )!.Properties;

  it('postbacks 5xx: from the access log (clicks excluded), paging only when two of three periods have any', () => {
    expect(alarms['Postbacks5xx']!.Properties).toEqual(custom('Postbacks5xx'));
    expect(alarms['Postbacks5xx']!.Properties).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      Period: 300,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
    });
    expect(filterWriting('Postbacks5xx').FilterPattern).toBe(
      '{ ($.status = "5*") && ($.routeKey != "GET /clicks") && ($.routeKey != "POST /clicks") }',
    );
    // No alarm reads the API-wide 5xx metric (clicks are anyone's to send): it is on the dashboard only.
    for (const a of Object.values(alarms)) expect(JSON.stringify(a.Properties)).not.toContain('"5xx"');
  });

  it('postbacks 4xx share: 429s and requests without any credential (a function metric) left out of both sides', () => {
    const a = alarms['Postbacks4xxShare']!;
    const m = mathMetrics(a);
    expect(m['requests']!.MetricStat!.Metric).toMatchObject({ Namespace: 'PartnerizeS2S', MetricName: 'PostbackRequests' });
    expect(m['clientErrors']!.MetricStat!.Metric).toMatchObject({ Namespace: 'PartnerizeS2S', MetricName: 'Postbacks4xx' });
    expect(m['anonymous']!.MetricStat!.Metric).toMatchObject({ Namespace: 'PartnerizeS2S', MetricName: 'PostbacksAnonymous' });
    const expr = Object.values(m).find((x) => x.Expression)!.Expression;
    expect(expr).toBe(
      'IF(FILL(requests, 0) - FILL(anonymous, 0) >= 20, 100 * (FILL(clientErrors, 0) - FILL(anonymous, 0)) / (FILL(requests, 0) - FILL(anonymous, 0)), 0)',
    );
    expect(a.Properties.Threshold).toBe(10);
    expect(filterWriting('Postbacks4xx').FilterPattern).toBe(
      '{ ($.status = "4*") && ($.status != "429") && (($.routeKey = "GET /postbacks") || ($.routeKey = "POST /postbacks")) }',
    );
    expect(filterWriting('PostbackRequests').FilterPattern).toBe('{ ($.routeKey = "GET /postbacks") || ($.routeKey = "POST /postbacks") }');
  });

  it('Partnerize rejected (> 0), failed conversions (> 0), oldest owed send, heartbeat missing (missing data breaches)', () => {
    expect(alarms['PartnerizeRejected']!.Properties).toEqual(
      expect.objectContaining({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' }),
    );
    expect(alarms['PartnerizeRejected']!.Properties).toEqual(custom('PartnerizeRejected'));
    expect(alarms['ConversionsFailed']!.Properties).toEqual(custom('ConversionsFailed'));
    expect(alarms['OldestOwedSend']!.Properties).toEqual(custom('OldestOwedSendAge', 'Maximum'));
    expect(alarms['OldestOwedSend']!.Properties.Threshold).toBe(15 * 60);
    expect(alarms['RetryHeartbeatMissing']!.Properties).toEqual(custom('RetryHeartbeat'));
    expect(alarms['RetryHeartbeatMissing']!.Properties).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 2,
      TreatMissingData: 'breaching',
    });
  });

  it('Partnerize retryable rate over several periods', () => {
    const a = alarms['PartnerizeRetryableRate']!;
    const m = mathMetrics(a);
    for (const [id, name] of [
      ['sent', 'PartnerizeSent'],
      ['retryable', 'PartnerizeRetryable'],
      ['rejected', 'PartnerizeRejected'],
    ] as const) {
      expect(m[id]!.MetricStat!.Metric).toMatchObject({
        Namespace: 'PartnerizeS2S',
        MetricName: name,
        Dimensions: [{ Name: 'service', Value: 'PartnerizeS2S' }],
      });
    }
    expect(a.Properties).toMatchObject({ Threshold: 25, EvaluationPeriods: 3 });
  });

  it('unattributed share of purchases over an hour, with a minimum volume', () => {
    const a = alarms['UnattributedShare']!;
    const m = mathMetrics(a);
    expect(m['purchases']!.MetricStat).toMatchObject({ Metric: { MetricName: 'Purchases' }, Period: 3600 });
    expect(m['unattributed']!.MetricStat).toMatchObject({ Metric: { MetricName: 'PostbacksUnattributed' }, Period: 3600 });
    expect(a.Properties.Threshold).toBe(50);
  });

  it('Lambda errors and throttles per function, when they last (two of three periods)', () => {
    for (const fn of ['Clicks', 'Postbacks', 'Retry']) {
      const fnRef = { Ref: logicalId('AWS::Lambda::Function', `${fn}Function`) };
      expect(alarms[`${fn}Errors`]!.Properties).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: fnRef }],
        Threshold: 0,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
      });
      expect(alarms[`${fn}Throttles`]!.Properties).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Dimensions: [{ Name: 'FunctionName', Value: fnRef }],
        Threshold: 0,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
      });
    }
  });

  it('thresholds and periods come from config', () => {
    const b = buildStack({
      alarmPeriodMinutes: '1',
      alarmApi4xxRatePercent: '3',
      alarmOldestOwedMinutes: '60',
      alarmRetryableEvaluationPeriods: '6',
      runbookUrl: 'https://wiki.acme.example/pz-runbook',
      alarmIgnoredRatePercent: '80',
      alarmIgnoredMinPostbacks: '100',
      alarmIgnoredPeriodMinutes: '15',
    });
    const a = Object.fromEntries(
      Object.values(resourcesOf(b.template, 'AWS::CloudWatch::Alarm')).map((x) => [
        String(x.Properties.AlarmName).replace('PartnerizeS2S-', ''),
        x,
      ]),
    );
    expect(a['Postbacks5xx']!.Properties.Period).toBe(60);
    expect(a['Postbacks4xxShare']!.Properties.Threshold).toBe(3);
    expect(a['OldestOwedSend']!.Properties.Threshold).toBe(3600);
    expect(a['PartnerizeRetryableRate']!.Properties.EvaluationPeriods).toBe(6);
    expect(a['Postbacks5xx']!.Properties.AlarmDescription).toContain('Runbook: https://wiki.acme.example/pz-runbook#postbacks-5xx');
    expect(a['PostbacksThrottled']!.Properties.Period).toBe(60);
    const ignored = mathMetrics(a['IgnoredShare']!);
    expect(ignored['ignored']!.MetricStat!.Period).toBe(900);
    expect(Object.values(ignored).find((x) => x.Expression)!.Expression).toContain('>= 100,');
    expect(a['IgnoredShare']!.Properties.Threshold).toBe(80);
  });
});

describe('on-call topic', () => {
  it('is encrypted with a rotating key CloudWatch may use, HTTPS-only, with the configured subscriptions', () => {
    built.template.resourceCountIs('AWS::SNS::Topic', 1);
    built.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    built.template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
        ]),
      },
    });
    built.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    const subs = Object.values(resourcesOf(built.template, 'AWS::SNS::Subscription')).map((s) => [
      s.Properties.Protocol,
      s.Properties.Endpoint,
    ]);
    expect(subs.sort()).toEqual([
      ['email', 'oncall@acme.example'],
      ['https', 'https://events.pagerduty.com/integration/abc/enqueue'],
    ]);
  });

  it('with alarmTopicArn, alarms page through that topic and none is created', () => {
    const arn = 'arn:aws:sns:eu-west-1:123456789012:platform-oncall';
    const b = buildStack({ alarmTopicArn: arn, alarmEmails: 'x@acme.example' });
    b.template.resourceCountIs('AWS::SNS::Topic', 0);
    b.template.resourceCountIs('AWS::SNS::Subscription', 0);
    for (const a of Object.values(resourcesOf(b.template, 'AWS::CloudWatch::Alarm'))) {
      expect(a.Properties.AlarmActions).toEqual([arn]);
      expect(a.Properties.OKActions).toEqual([arn]);
    }
  });
});

describe('dashboard', () => {
  it('tells the pipeline story: clicks, postbacks by outcome, Partnerize answers and latency, owed/failed, API 4xx/5xx, alarms', () => {
    const d = Object.values(resourcesOf(built.template, 'AWS::CloudWatch::Dashboard'))[0]!;
    const body = JSON.stringify(d.Properties.DashboardBody);
    for (const needle of [
      'ClicksRecorded',
      'PostbacksSent',
      'PostbacksUnattributed',
      'PostbacksDuplicate',
      'PartnerizeSent',
      'PartnerizeRetryable',
      'PartnerizeRejected',
      'PartnerizeLatency',
      '\\"p50\\"',
      '\\"p99\\"',
      'OwedSendsDue',
      'ConversionsFailed',
      'OldestOwedSendAge',
      '\\"4xx\\"',
      '\\"5xx\\"',
      'alarm',
      'PostbacksThrottled',
      'ClicksThrottled',
      'PostbacksIgnored',
      'ignored %',
    ]) {
      expect(body, needle).toContain(needle);
    }
  });
});

describe('runbook', () => {
  it('has the section every alarm links to', async () => {
    const { readFileSync } = await import('node:fs');
    const runbook = readFileSync(new URL('../../docs/runbook.md', import.meta.url), 'utf8');
    const anchors = new Set(
      [...runbook.matchAll(/^## (.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const [name, a] of Object.entries(alarms)) {
      const anchor = /#([a-z0-9-]+)$/.exec(a.Properties.AlarmDescription)![1]!;
      expect(anchors.has(anchor), `${name} → #${anchor}`).toBe(true);
    }
    expect(anchors.has('rotating-the-postback-token')).toBe(true);
  });
});
