/**
 * The CDK app: read the deploy config (cdk.json context, overridable with -c key=value), validate
 * it, and create the stack. `npx cdk synth` works offline, without AWS credentials.
 */
import { App } from 'aws-cdk-lib';
import { configFromContext, ConfigValidationError } from '../lib/config.js';
import { TrackingStack } from '../lib/tracking-stack.js';

const app = new App();
let config;
try {
  config = configFromContext((key) => app.node.tryGetContext(key));
} catch (err) {
  if (err instanceof ConfigValidationError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? 'PartnerizeS2S';
new TrackingStack(app, stackName, {
  config,
  description: 'Partnerize server-to-server conversion tracker (clicks, postbacks, retries)',
  env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] },
});
app.synth();
