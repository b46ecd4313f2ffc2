/**
 * The daily reconciliation in the stack: its function, schedule and input, what it may do, its
 * alarms and dashboard row, and the switches in config.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { jobKey, reconcileRunKey, updatesKey } from '#lambdas/core/model.js';
import { CLASS_INFO, DIFFERENCE_CLASSES } from '#lambdas/core/reconcile.js';
import { RECONCILE_METRICS } from '#lambdas/core/metrics.js';
import { RUN_RECORD_KEY_PATTERN, TrackingStack } from '../../lib/tracking-stack.js';
import { actionsOf, buildStack, cdkFeatureFlags, configWith, resourcesOf, statementsOf } from '../support/stack.js';

let built: ReturnType<typeof buildStack>;
beforeAll(() => {
  built = buildStack();
});

type Template_ = ReturnType<typeof buildStack>['template'];
const entryOf = (t: Template_, type: string, prefix: string) => {
  const found = Object.entries(resourcesOf(t, type)).find(([id]) => id.startsWith(prefix));
  if (!found) throw new Error(`no ${type} ${prefix}`);
  return { id: found[0], ...found[1] };
};
const fnOf = (t: Template_) => entryOf(t, 'AWS::Lambda::Function', 'ReconcileFunction');
const rulesOf = (t: Template_) =>
  Object.entries(resourcesOf(t, 'AWS::Events::Rule'))
    .filter(([id]) => id.startsWith('ReconcileSchedule'))
    .map(([, r]) => r.Properties);
const alarmsOf = (t: Template_) =>
  Object.fromEntries(
    Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm')).map((a) => [
      String(a.Properties.AlarmName).replace('PartnerizeS2S-', ''),
      a.Properties,
    ]),
  );

/** IAM's StringLike: `*` any run of characters, `?` any one, the rest literal, the whole value. */
const iamLike = (pattern: string, value: string): boolean =>
  new RegExp(
    `^${[...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`,
    's',
  ).test(value);

describe('the reconcile function', () => {
  it('is Node 24 on arm64, with the longest timeout, its memory from config and its own log group with retention', () => {
    const fn = fnOf(built.template).Properties;
    expect(fn).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'index.handler', Timeout: 900, MemorySize: 512 });
    expect(fn.LoggingConfig).toMatchObject({ LogFormat: 'JSON', ApplicationLogLevel: 'INFO' });
    const logs = entryOf(built.template, 'AWS::Logs::LogGroup', 'ReconcileFunctionLogs');
    expect(fn.LoggingConfig.LogGroup).toEqual({ Ref: logs.id });
    expect(logs.Properties.RetentionInDays).toBe(built.config.logRetentionDays);
    expect(fnOf(buildStack({ reconcileMemoryMb: '1024' }).template).Properties.MemorySize).toBe(1024);
  });

  it('gets the campaigns, the mode, the API and the conversions table; the API keys by secret ARN; nothing of the senders', () => {
    const env = fnOf(built.template).Properties.Environment.Variables as Record<string, unknown>;
    expect(env).toMatchObject({
      PARTNERIZE_MODE: 'dryrun',
      PARTNERIZE_CAMPAIGN_ID: built.config.partnerizeCampaignId,
      PARTNERIZE_API_BASE_URL: 'https://api.partnerize.com',
      CONVERSION_REF_PREFIX: '',
      CAMPAIGNS: '[]',
      CONVERSION_RETENTION_DAYS: '400',
      CONVERSIONS_TABLE: { Ref: entryOf(built.template, 'AWS::DynamoDB::GlobalTable', 'TablesConversions').id },
      PARTNERIZE_API_KEYS_SECRET_ARN: { Ref: entryOf(built.template, 'AWS::SecretsManager::Secret', 'PartnerizeApiKeys').id },
    });
    for (const absent of [
      'CLICKS_TABLE',
      'TOKEN_SECRET_ARN',
      'POSTBACK_TOKEN',
      'SWEEP_LIMIT',
      'RETRY_DELAYS_S',
      'TEALIUM_MAPPING',
      'PARTNERIZE_APPLICATION_KEY',
    ])
      expect(env[absent], absent).toBeUndefined();
  });

  it('is not retried by Lambda when a run fails (the alarm pages; a second run would read the whole report again)', () => {
    const config = Object.values(resourcesOf(built.template, 'AWS::Lambda::EventInvokeConfig')).map((r) => r.Properties);
    expect(config).toEqual([expect.objectContaining({ MaximumRetryAttempts: 0, FunctionName: { Ref: fnOf(built.template).id } })]);
  });
});

describe('its schedule', () => {
  it('runs early every morning (UTC) over the previous two days with a six-hour grace, handed as the event', () => {
    const rules = rulesOf(built.template);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ ScheduleExpression: 'cron(30 5 * * ? *)', State: 'ENABLED' });
    expect(rules[0].Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [fnOf(built.template).id, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 0 },
      }),
    ]);
    expect(JSON.parse(rules[0].Targets[0].Input)).toEqual({ lookbackDays: 2, graceHours: 6 });
    // EventBridge may invoke the function.
    expect(
      Object.values(resourcesOf(built.template, 'AWS::Lambda::Permission')).some(
        (p) =>
          p.Properties.Principal === 'events.amazonaws.com' && JSON.stringify(p.Properties.FunctionName).includes(fnOf(built.template).id),
      ),
    ).toBe(true);
  });

  it('takes its time, lookback and grace from config', () => {
    const b = buildStack({ reconcileSchedule: 'cron(0 7 ? * MON-FRI *)', reconcileLookbackDays: '3', reconcileGraceHours: '0' });
    const [rule] = rulesOf(b.template);
    expect(rule.ScheduleExpression).toBe('cron(0 7 ? * MON-FRI *)');
    expect(JSON.parse(rule.Targets[0].Input)).toEqual({ lookbackDays: 3, graceHours: 0 });
    expect(rulesOf(buildStack({ reconcileSchedule: 'rate(1 day)' }).template)[0].ScheduleExpression).toBe('rate(1 day)');
    expect(rulesOf(buildStack({ reconcileSchedule: ' cron(15 4 1 * ? *) ' }).template)[0].ScheduleExpression).toBe('cron(15 4 1 * ? *)');
  });

  it('is switched off by an empty schedule: no rule, no EventBridge permission; the function stays for a run by hand', () => {
    const off = buildStack({ reconcileSchedule: '' });
    expect(rulesOf(off.template)).toEqual([]);
    const fnId = fnOf(off.template).id;
    expect(
      Object.values(resourcesOf(off.template, 'AWS::Lambda::Permission')).filter((p) =>
        JSON.stringify(p.Properties.FunctionName).includes(fnId),
      ),
    ).toEqual([]);
    // The retry function's schedule is untouched.
    expect(Object.keys(resourcesOf(off.template, 'AWS::Events::Rule')).filter((id) => id.startsWith('RetrySchedule'))).toHaveLength(1);
  });

  it.each([
    ['reconcileSchedule', 'every morning'],
    ['reconcileSchedule', 'cron(30 5 * * *)'],
    ['reconcileSchedule', 'rate(1 fortnight)'],
    ['reconcileSchedule', 'cron(30 5 * * * *)'],
    ['reconcileSchedule', 'cron(30 5 ? * ? *)'],
    ['reconcileSchedule', 'rate(2 day)'],
    ['reconcileSchedule', 'rate(1 days)'],
    ['reconcileLookbackDays', '0'],
    ['reconcileLookbackDays', '32'],
    ['reconcileGraceHours', '-1'],
    ['reconcileMemoryMb', '128'],
    ['alarmReconcileMissingPercent', '101'],
    ['alarmReconcileUnexpectedPercent', 'some'],
  ])('an invalid %s (%s) is refused at synth, naming the key', (key, value) => {
    expect(() => configWith({ [key]: value })).toThrow(new RegExp(`${key}: `));
  });
});

describe('what it may do', () => {
  const tableArn = (t: Template_) => ({ 'Fn::GetAtt': [entryOf(t, 'AWS::DynamoDB::GlobalTable', 'TablesConversions').id, 'Arn'] });

  it('query the campaignTime index, read records in batches, write only its run records, read the API keys; its own log group', () => {
    const t = built.template;
    const statements = statementsOf(t, 'ReconcileFunction') as Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }>;
    expect(statements.map((st) => ({ actions: actionsOf([st]), resources: [st.Resource].flat(), condition: st.Condition }))).toEqual([
      {
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [{ 'Fn::GetAtt': [entryOf(t, 'AWS::Logs::LogGroup', 'ReconcileFunctionLogs').id, 'Arn'] }],
        condition: undefined,
      },
      { actions: ['dynamodb:BatchGetItem'], resources: [tableArn(t)], condition: undefined },
      { actions: ['dynamodb:Query'], resources: [{ 'Fn::Join': ['', [tableArn(t), '/index/campaignTime']] }], condition: undefined },
      {
        actions: ['secretsmanager:GetSecretValue'],
        resources: [{ Ref: entryOf(t, 'AWS::SecretsManager::Secret', 'PartnerizeApiKeys').id }],
        condition: undefined,
      },
      {
        actions: ['dynamodb:PutItem'],
        resources: [tableArn(t)],
        condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [RUN_RECORD_KEY_PATTERN] } },
      },
    ]);
    const actions = actionsOf(statements);
    for (const never of ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Scan', 'dynamodb:BatchWriteItem', 'dynamodb:GetItem'])
      expect(actions).not.toContain(never);
    expect(JSON.stringify(statements)).not.toMatch(/TablesClicks|PostbackToken|index\/due/);
  });

  it('the PutItem condition admits the keys of run records and none of the keys orders, updates or jobs have', () => {
    const run = reconcileRunKey('1011l270', '2026-11-23T00:00:00.000Z', '2026-11-24T00:00:00.000Z');
    expect(iamLike(RUN_RECORD_KEY_PATTERN, run)).toBe(true);
    expect(iamLike(RUN_RECORD_KEY_PATTERN, reconcileRunKey('camp_2', 'a', 'b'))).toBe(true);
    for (const other of [
      'ORDER-1',
      'TEST-100234',
      'reconcile-1',
      updatesKey('ORDER-1'),
      updatesKey('reconcile'),
      jobKey('42'),
      'Xreconcil',
    ])
      expect(iamLike(RUN_RECORD_KEY_PATTERN, other), JSON.stringify(other)).toBe(false);
    // IAM takes no control characters: the pattern stands in `?` for the separator.
    expect(RUN_RECORD_KEY_PATTERN).toMatch(/^[\u0020-\u00ff]+$/);
  });

  it('with the WAF, it cannot read the origin-verify secret (nor has its ARN)', () => {
    const app = new App({ context: { ...cdkFeatureFlags(), 'aws:cdk:bundling-stacks': [] } });
    const stack = new TrackingStack(app, 'PartnerizeS2S', {
      config: configWith({ enableWaf: 'true' }),
      env: { account: '123456789012', region: 'us-east-1' },
    });
    const t = Template.fromStack(stack);
    const readable = statementsOf(t, 'ReconcileFunction')
      .filter((st) => [st.Action].flat().includes('secretsmanager:GetSecretValue'))
      .flatMap((st) => [st.Resource].flat());
    expect(readable).toEqual([{ Ref: entryOf(t, 'AWS::SecretsManager::Secret', 'PartnerizeApiKeys').id }]);
    expect(JSON.stringify(statementsOf(t, 'ReconcileFunction'))).not.toMatch(/OriginVerify/);
    expect(fnOf(t).Properties.Environment.Variables.ORIGIN_VERIFY_SECRET_ARN).toBeUndefined();
  });
});

describe('its alarms', () => {
  const service = [{ Name: 'service', Value: 'PartnerizeS2S' }];

  it('missing and unexpected shares: the run’s Percent metrics, worst of the day, above the configured thresholds; a skipped run does not breach', () => {
    const a = alarmsOf(built.template);
    for (const [id, metric, threshold, anchor] of [
      ['ReconcileMissingShare', RECONCILE_METRICS.missingShare, 1, 'reconcile-missing'],
      ['ReconcileUnexpectedShare', RECONCILE_METRICS.unexpectedShare, 5, 'reconcile-unexpected'],
    ] as const) {
      expect(a[id], id).toMatchObject({
        Namespace: 'PartnerizeS2S',
        MetricName: metric,
        Dimensions: service,
        Statistic: 'Maximum',
        Period: 86_400,
        EvaluationPeriods: 1,
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(a[id].AlarmDescription).toMatch(new RegExp(`Runbook: docs/runbook\\.md#${anchor}$`));
    }
    const b = alarmsOf(buildStack({ alarmReconcileMissingPercent: '0.5', alarmReconcileUnexpectedPercent: '100' }).template);
    expect(b['ReconcileMissingShare'].Threshold).toBe(0.5);
    expect(b['ReconcileUnexpectedShare'].Threshold).toBe(100);
  });

  it('a failed run pages once: campaigns not reconciled and the function’s own errors over the day, one or more', () => {
    const a = alarmsOf(built.template)['ReconcileFailed'];
    expect(a).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    const metrics = Object.fromEntries((a.Metrics as Array<{ Id: string }>).map((m) => [m.Id, m])) as Record<string, any>;
    expect(Object.values(metrics).find((m) => m.Expression)?.Expression).toBe('FILL(failed, 0) + FILL(errors, 0)');
    expect(metrics['failed'].MetricStat).toEqual({
      Metric: { Namespace: 'PartnerizeS2S', MetricName: RECONCILE_METRICS.failed, Dimensions: service },
      Period: 86_400,
      Stat: 'Sum',
    });
    expect(metrics['errors'].MetricStat).toEqual({
      Metric: {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnOf(built.template).id } }],
      },
      Period: 86_400,
      Stat: 'Sum',
    });
    expect(a.AlarmDescription).toMatch(/Runbook: docs\/runbook\.md#reconcile-failed$/);
  });

  it('no five-minute alarm reads the daily function (a lone daily error could never last two of three periods)', () => {
    const a = alarmsOf(built.template);
    expect(a['ReconcileErrors']).toBeUndefined();
    expect(a['ReconcileThrottles']).toBeUndefined();
  });

  it('the runbook has a section for each class of difference the CLI links, and for a failed run', async () => {
    const { readFileSync } = await import('node:fs');
    const runbook = readFileSync(new URL('../../docs/runbook.md', import.meta.url), 'utf8');
    const headings = new Set([...runbook.matchAll(/^## (.+)$/gm)].map((m) => m[1]!.trim()));
    for (const c of DIFFERENCE_CLASSES) expect(headings.has(CLASS_INFO[c].anchor), CLASS_INFO[c].anchor).toBe(true);
    expect(headings.has('reconcile-failed')).toBe(true);
    for (const anchor of [...DIFFERENCE_CLASSES.map((c) => CLASS_INFO[c].anchor), 'reconcile-failed']) {
      const section = runbook.split(`## ${anchor}\n`)[1]!.split(/\n## /)[0]!;
      expect(section, anchor).toMatch(/\*\*Means:\*\*/);
      expect(section, anchor).toMatch(/\*\*Do:\*\*/);
      expect(section, anchor).toMatch(/pz -- reconcile --from/);
    }
  });
});

describe('its dashboard row', () => {
  it('graphs the count per class, the two shares with the alarm thresholds, what was judged, failed and skipped, over days', () => {
    const d = Object.values(resourcesOf(built.template, 'AWS::CloudWatch::Dashboard'))[0]!;
    const body = JSON.stringify(d.Properties.DashboardBody);
    for (const name of Object.values(RECONCILE_METRICS)) expect(body, name).toContain(`\\"${name}\\"`);
    expect(body).toContain('Reconciliation: differing orders per class');
    expect(body).toContain('missing alarm');
    expect(body).toContain('\\"period\\":86400');
    expect(body).toContain('pz -- reconcile --from');
  });
});
