import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig, type TrackingConfig } from '../../lib/config.js';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { TrackingStack } from '../../lib/tracking-stack.js';

/** The defaults exactly as cdk.json ships them. */
export function cdkJsonContext(): Record<string, unknown> {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
}

/** cdk.json's feature flags, so test apps synthesize as `cdk synth` does. */
export function cdkFeatureFlags(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(cdkJsonContext()).filter(([key]) => key.startsWith('@aws-cdk')));
}

export function configWith(overrides: Record<string, unknown> = {}): TrackingConfig {
  return parseConfig({ ...cdkJsonContext(), ...overrides });
}

/**
 * Builds the stack. Without `bundle`, esbuild is skipped (CDK's bundling-stacks context) so
 * template assertions stay fast; with it, the real bundles are built into `outdir`.
 */
export function buildStack(overrides: Record<string, unknown> = {}, opts: { bundle?: boolean; outdir?: string } = {}) {
  const app = new App({
    ...(opts.outdir ? { outdir: opts.outdir } : {}),
    context: { ...cdkFeatureFlags(), ...(opts.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const config = configWith(overrides);
  const stack = new TrackingStack(app, 'PartnerizeS2S', { config, env: { account: '123456789012', region: 'eu-west-1' } });
  return { app, stack, config, template: Template.fromStack(stack) };
}

type Resources = Record<string, { Type: string; Properties?: any; DeletionPolicy?: string; UpdateReplacePolicy?: string }>;

export const resourcesOf = (template: Template, type: string): Resources => template.findResources(type) as Resources;

/** The IAM statements attached to a function's role, flattened. */
export function statementsOf(
  template: Template,
  functionLogicalIdPrefix: string,
): Array<{ Action: string | string[]; Resource: unknown; Effect: string }> {
  const fns = resourcesOf(template, 'AWS::Lambda::Function');
  const fnId = Object.keys(fns).find((id) => id.startsWith(functionLogicalIdPrefix));
  if (!fnId) throw new Error(`no function ${functionLogicalIdPrefix}`);
  const roleRef = fns[fnId]!.Properties.Role['Fn::GetAtt'][0] as string;
  const policies = resourcesOf(template, 'AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleRef))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

export const actionsOf = (statements: Array<{ Action: string | string[] }>): string[] =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
