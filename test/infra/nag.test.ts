/**
 * cdk-nag's AwsSolutions pack over the whole app, in its shipped configuration and with the
 * optional parts switched on: no unacknowledged error or warning, and every acknowledgement says why.
 */
import { App, Aspects, CfnResource } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { TrackingStack } from '../../lib/tracking-stack.js';
import { cdkFeatureFlags, configWith } from '../support/stack.js';

function nagFindings(overrides: Record<string, unknown> = {}) {
  const app = new App({ context: { ...cdkFeatureFlags(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new TrackingStack(app, 'PartnerizeS2S', {
    config: configWith(overrides),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  const a = Annotations.fromStack(stack);
  const show = (m: { id: string; entry: { data?: unknown } }) => `${m.id}: ${String(m.entry.data).split('\n')[0]}`;
  return {
    stack,
    errors: a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')).map(show),
    warnings: a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')).map(show),
  };
}

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['the defaults', {}],
    [
      'alarm subscriptions and CORS',
      {
        alarmEmails: 'oncall@acme.example',
        alarmHttpsEndpoints: 'https://events.pagerduty.com/x',
        allowedClickOrigins: 'https://www.acme.example',
      },
    ],
    ['an existing alarm topic', { alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:oncall' }],
    ['live mode with a TEST- prefix', { partnerizeMode: 'live', partnerizeCampaignId: '1011l270', conversionRefPrefix: 'TEST-' }],
    ["Segment's signed webhooks", { enableSegmentSignatures: true }],
  ])(
    'reports no unacknowledged errors or warnings with %s',
    (_name, overrides) => {
      const { errors, warnings } = nagFindings(overrides);
      expect(errors).toEqual([]);
      expect(warnings).toEqual([]);
      // The first synthesis of a process loads CDK's template validation engine: slow on a busy machine.
    },
    120_000,
  );

  it('every acknowledgement carries a reason of substance', () => {
    const { stack } = nagFindings();
    const acks = stack.node
      .findAll()
      .filter(CfnResource.isCfnResource)
      .flatMap(
        (r) =>
          (r.getMetadata('cdk_nag') as { rules_to_suppress?: Array<{ id: string; reason: string }> } | undefined)?.rules_to_suppress ?? [],
      );
    expect(new Set(acks.map((a) => a.id))).toEqual(new Set(['AwsSolutions-APIG4', 'AwsSolutions-SMG4', 'AwsSolutions-IAM5']));
    for (const a of acks) expect(a.reason.length, `${a.id}: ${a.reason}`).toBeGreaterThan(80);
  });
});
