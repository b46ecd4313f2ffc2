/**
 * The optional WAF: CloudFront in front of the HTTP API (which cannot take a web ACL), a
 * CLOUDFRONT-scope web ACL in us-east-1, and the origin-verify header the functions check.
 */
import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { TrackingWafStack, webAclPropsOf } from '../../lib/constructs/edge-protection.js';
import { onCallPropsOf } from '../../lib/constructs/on-call.js';
import { TrackingStack } from '../../lib/tracking-stack.js';
import { cdkFeatureFlags, configWith, resourcesOf, statementsOf } from '../support/stack.js';

function build(region: string, overrides: Record<string, unknown> = {}) {
  const app = new App({ context: { ...cdkFeatureFlags(), 'aws:cdk:bundling-stacks': [] } });
  const config = configWith({ enableWaf: 'true', ...overrides });
  const env = { account: '123456789012', region };
  const waf =
    region === 'us-east-1'
      ? undefined
      : new TrackingWafStack(app, 'PartnerizeS2S-Waf', {
          env: { ...env, region: 'us-east-1' },
          crossRegionReferences: true,
          webAcl: webAclPropsOf(config),
          onCall: { ...onCallPropsOf(config), runbookUrl: config.runbookUrl },
        });
  const stack = new TrackingStack(app, 'PartnerizeS2S', { config, env, webAclArn: waf?.webAclArn, crossRegionReferences: Boolean(waf) });
  Aspects.of(app).add(new AwsSolutionsChecks());
  return { app, stack, waf, template: Template.fromStack(stack), wafTemplate: waf ? Template.fromStack(waf) : undefined };
}

describe('enableWaf in us-east-1 (one stack)', () => {
  const b = build('us-east-1');

  const acl = () => Object.values(resourcesOf(b.template, 'AWS::WAFv2::WebACL'))[0]!.Properties;
  const rules = () =>
    Object.fromEntries((acl().Rules as Array<{ Name: string; Priority: number; Statement: any; Action?: any }>).map((r) => [r.Name, r]));
  const postbacksPath = {
    ByteMatchStatement: {
      FieldToMatch: { UriPath: {} },
      PositionalConstraint: 'STARTS_WITH',
      SearchString: '/postbacks',
      TextTransformations: [
        { Priority: 0, Type: 'URL_DECODE' },
        { Priority: 1, Type: 'LOWERCASE' },
      ],
    },
  };

  it('creates a CLOUDFRONT web ACL: postback rules first, then managed rule groups, then the /clicks rate limit', () => {
    expect(acl().Scope).toBe('CLOUDFRONT');
    const list = acl().Rules as Array<{ Name: string; Priority: number }>;
    expect(list.map((r) => r.Name)).toEqual([
      'PostbacksWithoutAuthorization',
      'PostbackRateLimitPerIp',
      'AWSManagedRulesAmazonIpReputationList',
      'AWSManagedRulesKnownBadInputsRuleSet',
      'AWSManagedRulesCommonRuleSet',
      'ClickRateLimitPerIp',
    ]);
    expect(list.map((r) => r.Priority)).toEqual([0, 1, 2, 3, 4, 5]);
    b.template.resourceCountIs('AWS::WAFv2::IPSet', 0);
  });

  it("answers a postback without an Authorization header with the API's own 401, before it reaches API Gateway", () => {
    const r = rules()['PostbacksWithoutAuthorization']!;
    expect(r.Statement).toEqual({
      AndStatement: {
        Statements: [
          postbacksPath,
          {
            NotStatement: {
              Statement: {
                SizeConstraintStatement: {
                  FieldToMatch: { SingleHeader: { Name: 'authorization' } },
                  ComparisonOperator: 'GT',
                  Size: 0,
                  TextTransformations: [{ Priority: 0, Type: 'NONE' }],
                },
              },
            },
          },
        ],
      },
    });
    expect(r.Action.Block.CustomResponse).toMatchObject({ ResponseCode: 401, CustomResponseBodyKey: 'unauthorized' });
    const body = JSON.parse(acl().CustomResponseBodies.unauthorized.Content);
    expect(acl().CustomResponseBodies.unauthorized.ContentType).toBe('APPLICATION_JSON');
    expect(body).toEqual({ error: { code: 'unauthorized', message: expect.stringContaining('Bearer') } });
  });

  it('limits postbacks per IP at wafPostbackRateLimitPer5Min with a 429, which Tealium retries', () => {
    const r = rules()['PostbackRateLimitPerIp']!;
    // The route's own 5-minute budget (200/s × 300 s): one Tealium address is never limited below what the API takes.
    expect(r.Statement.RateBasedStatement).toEqual({ Limit: 60000, AggregateKeyType: 'IP', ScopeDownStatement: postbacksPath });
    expect(r.Action.Block.CustomResponse).toMatchObject({ ResponseCode: 429 });
    const other = build('us-east-1', { wafPostbackRateLimitPer5Min: '90000' });
    const limit = (
      Object.values(resourcesOf(other.template, 'AWS::WAFv2::WebACL'))[0]!.Properties.Rules as Array<{ Name: string; Statement: any }>
    ).find((x) => x.Name === 'PostbackRateLimitPerIp')!.Statement.RateBasedStatement.Limit;
    expect(limit).toBe(90000);
  });

  it("pages on any postback the per-IP limit answered 429 (WAF's answers are in no access log)", () => {
    const alarms = Object.values(resourcesOf(b.template, 'AWS::CloudWatch::Alarm')).filter((a) =>
      String(a.Properties.AlarmName).endsWith('PostbacksRateLimited'),
    );
    expect(alarms).toHaveLength(1);
    const a = alarms[0]!.Properties;
    expect(a).toMatchObject({
      Namespace: 'AWS/WAFV2',
      MetricName: 'BlockedRequests',
      Statistic: 'Sum',
      Threshold: 0,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    const metricNames = Object.fromEntries(
      [['WebAcl', acl().VisibilityConfig], ...Object.entries(rules()).map(([n, r]) => [n, (r as any).VisibilityConfig])].map(([n, v]) => [
        n,
        v.MetricName,
      ]),
    );
    expect(a.Dimensions).toEqual([
      { Name: 'Rule', Value: metricNames['PostbackRateLimitPerIp'] },
      { Name: 'WebACL', Value: metricNames['WebAcl'] },
    ]);
    expect(a.AlarmActions).toEqual(a.OKActions);
    expect(a.AlarmDescription).toMatch(/Runbook: docs\/runbook\.md#postbacks-rate-limited$/);
  });

  it('counts, not blocks, the managed rules that large Tealium bodies and GET postback queries trip; limits /clicks per IP', () => {
    const common = rules()['AWSManagedRulesCommonRuleSet']!.Statement.ManagedRuleGroupStatement;
    expect(common.RuleActionOverrides.map((o: { Name: string }) => o.Name)).toEqual(
      expect.arrayContaining(['SizeRestrictions_BODY', 'SizeRestrictions_QUERYSTRING']),
    );
    const rate = rules()['ClickRateLimitPerIp']!;
    expect(rate.Action).toEqual({ Block: {} });
    expect(rate.Statement.RateBasedStatement).toMatchObject({
      Limit: 1000,
      AggregateKeyType: 'IP',
      ScopeDownStatement: { ByteMatchStatement: { SearchString: '/clicks' } },
    });
  });

  it('puts CloudFront in front of the API: web ACL attached, no caching, HTTPS only, the origin-verify header from a secret', () => {
    const d = Object.values(resourcesOf(b.template, 'AWS::CloudFront::Distribution'))[0]!.Properties.DistributionConfig;
    expect(d.WebACLId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^WafWebAcl/), 'Arn'] });
    expect(d.DefaultCacheBehavior).toMatchObject({
      ViewerProtocolPolicy: 'https-only',
      AllowedMethods: expect.arrayContaining(['GET', 'POST', 'OPTIONS']),
    });
    const origin = d.Origins[0];
    expect(origin.CustomOriginConfig.OriginProtocolPolicy).toBe('https-only');
    const header = origin.OriginCustomHeaders.find((h: { HeaderName: string }) => h.HeaderName === 'x-origin-verify');
    expect(JSON.stringify(header.HeaderValue)).toContain('{{resolve:secretsmanager:');
  });

  it('a rotation names the secret version CloudFront sends (originVerifyVersionId): the template changes, so a deploy updates it', () => {
    const version = '3f1c2a9e-5b7d-4e21-9c0a-8d6f4b2e1a73';
    const rotated = build('us-east-1', { originVerifyVersionId: version });
    const d = Object.values(resourcesOf(rotated.template, 'AWS::CloudFront::Distribution'))[0]!.Properties.DistributionConfig;
    const header = d.Origins[0].OriginCustomHeaders.find((h: { HeaderName: string }) => h.HeaderName === 'x-origin-verify');
    expect(JSON.stringify(header.HeaderValue)).toMatch(new RegExp(`SecretString:::${version}}}`));
    expect(() => configWith({ originVerifyVersionId: version })).toThrow(/originVerifyVersionId: needs enableWaf=true/);
  });

  it('the click and postback functions read the header value from its secret at run time: it is in no function configuration; outputs point at CloudFront', () => {
    const fns = resourcesOf(b.template, 'AWS::Lambda::Function');
    const env = (p: string) => Object.entries(fns).find(([id]) => id.startsWith(p))![1].Properties.Environment.Variables;
    const secretRef = { Ref: expect.stringMatching(/^OriginVerify/) };
    for (const fn of ['ClicksFunction', 'PostbacksFunction']) {
      expect(env(fn).ORIGIN_VERIFY_SECRET_ARN).toEqual(secretRef);
      expect(JSON.stringify(env(fn))).not.toContain('{{resolve:secretsmanager:');
      const readable = statementsOf(b.template, fn)
        .filter((st) => [st.Action].flat().includes('secretsmanager:GetSecretValue'))
        .flatMap((st) => [st.Resource].flat());
      expect(readable).toContainEqual(secretRef);
      // and which versions carry its labels (one DescribeSecret decides an unknown value: lambdas/adapters/token-source.ts)
      const described = statementsOf(b.template, fn)
        .filter((st) => [st.Action].flat().includes('secretsmanager:DescribeSecret'))
        .flatMap((st) => [st.Resource].flat());
      expect(described).toContainEqual(secretRef);
    }
    expect(env('RetryFunction').ORIGIN_VERIFY_SECRET_ARN).toBeUndefined();
    // The retry function reads only its own secret (the Partnerize API keys), never the origin-verify value.
    const retryReadable = statementsOf(b.template, 'RetryFunction')
      .filter((st) => [st.Action].flat().includes('secretsmanager:GetSecretValue'))
      .flatMap((st) => [st.Resource].flat());
    expect(retryReadable).not.toContainEqual(secretRef);
    expect(JSON.stringify(retryReadable)).not.toMatch(/OriginVerify/);
    const outputs = b.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs['PostbacksUrl']!.Value)).toMatch(/EdgeDistribution[0-9A-F]+","DomainName"/);
    expect(outputs['EdgeUrl']).toBeDefined();
  });

  it('is clean under cdk-nag', () => {
    const a = Annotations.fromStack(b.stack);
    expect(
      [
        ...a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
        ...a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
      ].map((m) => m.entry.data),
    ).toEqual([]);
  });
});

describe('postbackSourceCidrs', () => {
  const sourceRule = (t: ReturnType<typeof build>['template']) =>
    (
      Object.values(resourcesOf(t, 'AWS::WAFv2::WebACL'))[0]!.Properties.Rules as Array<{
        Name: string;
        Priority: number;
        Statement: any;
        Action: any;
      }>
    )[0]!;

  it('become IP sets (one per IP version) and a first rule that answers 403 to postbacks from anywhere else', () => {
    const b = build('us-east-1', { postbackSourceCidrs: '203.0.113.0/24,198.51.100.7/32,2001:DB8::/32' });
    const sets = resourcesOf(b.template, 'AWS::WAFv2::IPSet');
    const byVersion = Object.fromEntries(Object.entries(sets).map(([id, s]) => [s.Properties.IPAddressVersion, { id, ...s.Properties }]));
    expect(byVersion['IPV4']).toMatchObject({ Scope: 'CLOUDFRONT', Addresses: ['203.0.113.0/24', '198.51.100.7/32'] });
    expect(byVersion['IPV6']).toMatchObject({ Scope: 'CLOUDFRONT', Addresses: ['2001:db8::/32'] });
    const rule = sourceRule(b.template);
    expect(rule).toMatchObject({
      Name: 'PostbacksFromUnlistedSources',
      Priority: 0,
      Action: { Block: { CustomResponse: { ResponseCode: 403, CustomResponseBodyKey: 'forbiddenSource' } } },
    });
    const [path, notListed] = rule.Statement.AndStatement.Statements;
    expect(path.ByteMatchStatement.SearchString).toBe('/postbacks');
    expect(notListed.NotStatement.Statement.OrStatement.Statements).toEqual([
      { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': [byVersion['IPV4']!.id, 'Arn'] } } },
      { IPSetReferenceStatement: { Arn: { 'Fn::GetAtt': [byVersion['IPV6']!.id, 'Arn'] } } },
    ]);
  });

  it('with one IP version, the rule references its one set directly', () => {
    const b = build('us-east-1', { postbackSourceCidrs: '203.0.113.0/24' });
    b.template.resourceCountIs('AWS::WAFv2::IPSet', 1);
    expect(sourceRule(b.template).Statement.AndStatement.Statements[1].NotStatement.Statement).toHaveProperty('IPSetReferenceStatement');
  });

  it('live in the us-east-1 stack with the web ACL when the tracker is elsewhere, and stay clean under cdk-nag', () => {
    const b = build('eu-west-1', { postbackSourceCidrs: '203.0.113.0/24' });
    b.wafTemplate!.resourceCountIs('AWS::WAFv2::IPSet', 1);
    b.template.resourceCountIs('AWS::WAFv2::IPSet', 0);
    for (const s of [b.stack, b.waf!]) {
      const a = Annotations.fromStack(s);
      expect(
        [
          ...a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
          ...a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
        ].map((m) => m.entry.data),
      ).toEqual([]);
    }
  });
});

describe('enableWaf elsewhere (the web ACL in a us-east-1 stack)', () => {
  const b = build('eu-west-1');

  it('keeps the web ACL in us-east-1 and attaches it across regions', () => {
    expect(b.waf!.region).toBe('us-east-1');
    b.wafTemplate!.resourceCountIs('AWS::WAFv2::WebACL', 1);
    b.template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    const d = Object.values(resourcesOf(b.template, 'AWS::CloudFront::Distribution'))[0]!.Properties.DistributionConfig;
    expect(JSON.stringify(d.WebACLId)).toContain('ExportsReader');
  });

  it('the us-east-1 stack pages through an on-call topic of its own (an alarm can only notify a topic of its region)', () => {
    b.wafTemplate!.resourceCountIs('AWS::SNS::Topic', 1);
    const alarm = Object.values(resourcesOf(b.wafTemplate!, 'AWS::CloudWatch::Alarm'))[0]!.Properties;
    expect(alarm.MetricName).toBe('BlockedRequests');
    expect(JSON.stringify(alarm.AlarmActions)).toContain('OnCallTopic');
  });

  it('warns when on-call is a topic of another region only: the us-east-1 alarm could notify nobody', () => {
    const quiet = Annotations.fromStack(b.waf!).findWarning('*', Match.stringLikeRegexp('would page nobody'));
    expect(quiet).toEqual([]);
    const other = build('eu-west-1', { alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:oncall' });
    expect(Annotations.fromStack(other.waf!).findWarning('*', Match.stringLikeRegexp('would page nobody'))).toHaveLength(1);
    const withEmail = build('eu-west-1', { alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:oncall', alarmEmails: 'oncall@example.com' });
    expect(Annotations.fromStack(withEmail.waf!).findWarning('*', Match.stringLikeRegexp('would page nobody'))).toEqual([]);
  });

  it('both stacks are clean under cdk-nag', () => {
    for (const s of [b.stack, b.waf!]) {
      const a = Annotations.fromStack(s);
      expect(
        [
          ...a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
          ...a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
        ].map((m) => `${s.stackName}: ${m.entry.data}`),
      ).toEqual([]);
    }
  });
});
