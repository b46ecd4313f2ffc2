/**
 * The optional WAF: CloudFront in front of the HTTP API (which cannot take a web ACL), a
 * CLOUDFRONT-scope web ACL in us-east-1, and the origin-verify header the functions check.
 */
import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { TrackingWafStack } from '../../lib/constructs/edge-protection.js';
import { TrackingStack } from '../../lib/tracking-stack.js';
import { cdkFeatureFlags, configWith, resourcesOf, statementsOf, actionsOf } from '../support/stack.js';

function build(region: string) {
  const app = new App({ context: { ...cdkFeatureFlags(), 'aws:cdk:bundling-stacks': [] } });
  const config = configWith({ enableWaf: 'true' });
  const env = { account: '123456789012', region };
  const waf = region === 'us-east-1' ? undefined : new TrackingWafStack(app, 'PartnerizeS2S-Waf', { env: { ...env, region: 'us-east-1' }, crossRegionReferences: true, clickRateLimitPer5Min: config.wafClickRateLimitPer5Min });
  const stack = new TrackingStack(app, 'PartnerizeS2S', { config, env, webAclArn: waf?.webAclArn, crossRegionReferences: Boolean(waf) });
  Aspects.of(app).add(new AwsSolutionsChecks());
  return { app, stack, waf, template: Template.fromStack(stack), wafTemplate: waf ? Template.fromStack(waf) : undefined };
}

describe('enableWaf in us-east-1 (one stack)', () => {
  const b = build('us-east-1');

  it('creates a CLOUDFRONT web ACL: managed rule groups, body rules counted (Tealium events are large), a per-IP rate limit on /clicks only', () => {
    const acl = Object.values(resourcesOf(b.template, 'AWS::WAFv2::WebACL'))[0]!.Properties;
    expect(acl.Scope).toBe('CLOUDFRONT');
    const rules = acl.Rules as Array<{ Name: string; Statement: any; Action?: unknown }>;
    expect(rules.map((r) => r.Name)).toEqual(['AWSManagedRulesAmazonIpReputationList', 'AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesCommonRuleSet', 'ClickRateLimitPerIp']);
    const common = rules[2]!.Statement.ManagedRuleGroupStatement;
    expect(common.RuleActionOverrides.map((o: { Name: string }) => o.Name)).toContain('SizeRestrictions_BODY');
    const rate = rules[3]!;
    expect(rate.Action).toEqual({ Block: {} });
    expect(rate.Statement.RateBasedStatement).toMatchObject({ Limit: 1000, AggregateKeyType: 'IP', ScopeDownStatement: { ByteMatchStatement: { SearchString: '/clicks' } } });
  });

  it('puts CloudFront in front of the API: web ACL attached, no caching, HTTPS only, the origin-verify header from a secret', () => {
    const d = Object.values(resourcesOf(b.template, 'AWS::CloudFront::Distribution'))[0]!.Properties.DistributionConfig;
    expect(d.WebACLId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^WafWebAcl/), 'Arn'] });
    expect(d.DefaultCacheBehavior).toMatchObject({ ViewerProtocolPolicy: 'https-only', AllowedMethods: expect.arrayContaining(['GET', 'POST', 'OPTIONS']) });
    const origin = d.Origins[0];
    expect(origin.CustomOriginConfig.OriginProtocolPolicy).toBe('https-only');
    const header = origin.OriginCustomHeaders.find((h: { HeaderName: string }) => h.HeaderName === 'x-origin-verify');
    expect(JSON.stringify(header.HeaderValue)).toContain('{{resolve:secretsmanager:');
  });

  it('the click and postback functions get the header value by dynamic reference (never in the template); outputs point at CloudFront', () => {
    const fns = resourcesOf(b.template, 'AWS::Lambda::Function');
    const env = (p: string) => Object.entries(fns).find(([id]) => id.startsWith(p))![1].Properties.Environment.Variables;
    for (const fn of ['ClicksFunction', 'PostbacksFunction']) expect(JSON.stringify(env(fn).ORIGIN_VERIFY)).toContain('{{resolve:secretsmanager:');
    expect(env('RetryFunction').ORIGIN_VERIFY).toBeUndefined();
    expect(actionsOf(statementsOf(b.template, 'ClicksFunction'))).not.toContain('secretsmanager:GetSecretValue');
    const outputs = b.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs['PostbacksUrl']!.Value)).toMatch(/EdgeDistribution[0-9A-F]+","DomainName"/);
    expect(outputs['EdgeUrl']).toBeDefined();
  });

  it('is clean under cdk-nag', () => {
    const a = Annotations.fromStack(b.stack);
    expect([...a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')), ...a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))].map((m) => m.entry.data)).toEqual([]);
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

  it('both stacks are clean under cdk-nag', () => {
    for (const s of [b.stack, b.waf!]) {
      const a = Annotations.fromStack(s);
      expect([...a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')), ...a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))].map((m) => `${s.stackName}: ${m.entry.data}`)).toEqual([]);
    }
  });
});
