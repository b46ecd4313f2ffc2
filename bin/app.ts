/**
 * The CDK app: read the deploy config (cdk.json context; -c key=value overrides one command, with a
 * warning: lib/context-overrides.ts), validate
 * it, and create the stack (plus, with enableWaf outside us-east-1, the web ACL's stack there).
 * `npx cdk synth` works offline, without AWS credentials. cdk-nag's AwsSolutions pack runs on
 * every synth.
 */
import { readFileSync } from 'node:fs';
import { Annotations, App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext, ConfigValidationError, type TrackingConfig } from '../lib/config.js';
import { TrackingWafStack, webAclPropsOf } from '../lib/constructs/edge-protection.js';
import { onCallPropsOf } from '../lib/constructs/on-call.js';
import { contextOverrides, OVERRIDE_WARNING_ID, overrideMessage } from '../lib/context-overrides.js';
import { TrackingStack } from '../lib/tracking-stack.js';

const app = new App();
let config: TrackingConfig;
try {
  config = configFromContext((key) => app.node.tryGetContext(key));
} catch (err) {
  if (err instanceof ConfigValidationError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
const { stackName } = config;
const account = process.env['CDK_DEFAULT_ACCOUNT'];
const region = process.env['CDK_DEFAULT_REGION'];

let webAclArn = config.wafWebAclArn || undefined;
let crossRegionReferences = false;
if (config.enableWaf && !webAclArn && region !== 'us-east-1') {
  if (!region) {
    console.error(
      'enableWaf: a CloudFront web ACL must be created in us-east-1, and the tracker region must be known to link the two stacks.\n' +
        'Set AWS_REGION (or use --profile) when running cdk, or set "wafWebAclArn" (an existing CLOUDFRONT web ACL) in cdk.json.',
    );
    process.exit(1);
  }
  const waf = new TrackingWafStack(app, `${stackName}-Waf`, {
    env: { account, region: 'us-east-1' },
    crossRegionReferences: true,
    description: 'Partnerize S2S tracker: the CloudFront web ACL (CLOUDFRONT-scope web ACLs live in us-east-1)',
    webAcl: webAclPropsOf(config),
    onCall: { ...onCallPropsOf(config), runbookUrl: config.runbookUrl },
  });
  webAclArn = waf.webAclArn;
  crossRegionReferences = true;
}

const stack = new TrackingStack(app, stackName, {
  config,
  webAclArn,
  crossRegionReferences,
  description: 'Partnerize server-to-server conversion tracker (clicks, postbacks, retries, alarms)',
  env: { account, region },
});
// The cdk CLI runs the app next to cdk.json: a setting given with -c only is warned about.
const fileContext = (JSON.parse(readFileSync('cdk.json', 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
for (const o of contextOverrides(fileContext, (key) => app.node.tryGetContext(key))) {
  Annotations.of(stack).addWarningV2(`${OVERRIDE_WARNING_ID}:${o.key}`, overrideMessage(o));
}
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
app.synth();
