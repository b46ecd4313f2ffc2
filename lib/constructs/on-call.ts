import { Stack } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SubscriptionProtocol, Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, UrlSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { TrackingConfig } from '../config.js';

export interface OnCallProps {
  emails: readonly string[];
  /** HTTPS endpoints (PagerDuty, Opsgenie … CloudWatch integration URLs). */
  httpsEndpoints: readonly string[];
  /** An existing topic to page through instead of creating one. */
  existingTopicArn?: string | undefined;
}

/** The on-call destinations of the config. */
export const onCallPropsOf = (c: Pick<TrackingConfig, 'alarmEmails' | 'alarmHttpsEndpoints' | 'alarmTopicArn'>): OnCallProps => ({
  emails: c.alarmEmails,
  httpsEndpoints: c.alarmHttpsEndpoints,
  existingTopicArn: c.alarmTopicArn || undefined,
});

/**
 * The on-call topic every alarm notifies (ALARM and OK). Encrypted with a customer-managed key
 * that CloudWatch may use (the AWS-managed SNS key cannot be used by CloudWatch alarms), HTTPS-only.
 */
export class OnCall extends Construct {
  readonly topic: ITopic;

  constructor(scope: Construct, id: string, props: OnCallProps) {
    super(scope, id);
    if (props.existingTopicArn) {
      this.topic = Topic.fromTopicArn(this, 'Topic', props.existingTopicArn);
      return;
    }
    const key = new Key(this, 'TopicKey', {
      description: `Encrypts the ${Stack.of(this).stackName} on-call topic`,
      enableKeyRotation: true,
    });
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    const topic = new Topic(this, 'Topic', {
      displayName: `${Stack.of(this).stackName} on-call`,
      masterKey: key,
      enforceSSL: true,
    });
    for (const email of props.emails) topic.addSubscription(new EmailSubscription(email));
    for (const url of props.httpsEndpoints) {
      topic.addSubscription(new UrlSubscription(url, { protocol: SubscriptionProtocol.HTTPS }));
    }
    this.topic = topic;
  }
}
