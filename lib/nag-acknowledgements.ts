/**
 * cdk-nag (AwsSolutions) findings this stack acknowledges, each with its reason. Everything else
 * the pack reports is fixed in the constructs; `test/infra/nag.test.ts` fails on any
 * unacknowledged error or warning.
 */
import type { Stack } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';

/** A construct's path inside the stack, as cdk-nag's suppressions by path take it. */
type PathIn = (p: string) => string;

export function acknowledgeNagFindings(stack: Stack, opts: { waf: boolean; segmentSecret?: boolean } = { waf: false }): void {
  const path: PathIn = (p) => `/${stack.node.path}/${p}`;
  acknowledgeOpenRoutes(stack, path);
  acknowledgeSharedSecrets(stack, path, opts);
  acknowledgeLogStreamWildcards(stack, path);
  if (opts.waf) acknowledgeEdge(stack, path);
}

/** API Gateway: the public routes authenticate (or bound abuse) themselves rather than by an authorizer. */
function acknowledgeOpenRoutes(stack: Stack, path: PathIn): void {
  NagSuppressions.addResourceSuppressionsByPath(
    stack,
    ['Api/HttpApi/GET--clicks/Resource', 'Api/HttpApi/POST--clicks/Resource'].map(path),
    [
      {
        id: 'AwsSolutions-APIG4',
        reason:
          'Click capture is public by design: landing pages report clicks from the browser (sendBeacon). Abuse is bounded by route throttling, the body size limit, clickref validation and a minimum session id length.',
      },
    ],
  );
  NagSuppressions.addResourceSuppressionsByPath(
    stack,
    ['Api/HttpApi/GET--postbacks/Resource', 'Api/HttpApi/POST--postbacks/Resource'].map(path),
    [
      {
        id: 'AwsSolutions-APIG4',
        reason:
          'Postbacks are authenticated inside the function (Bearer or Basic token from Secrets Manager, constant-time compare, rotation-aware): the API answers 401 with a JSON error (README "POST /postbacks"), which an HTTP API Lambda authorizer cannot (it denies with 403), and Tealium sends either scheme.',
      },
    ],
  );
}

/** Secrets Manager: secrets shared with another party rotate by a coordinated change, not a schedule. */
function acknowledgeSharedSecrets(stack: Stack, path: PathIn, opts: { segmentSecret?: boolean }): void {
  NagSuppressions.addResourceSuppressionsByPath(stack, path('PostbackToken/Resource'), [
    {
      id: 'AwsSolutions-SMG4',
      reason:
        'The token is shared with Tealium, so rotating it is a coordinated change, not a schedule: docs/runbook.md#rotating-the-postback-token. The functions accept AWSCURRENT and AWSPREVIOUS and re-read the secret when an unknown token arrives, so a rotation has no downtime.',
    },
  ]);
  if (opts.segmentSecret) {
    NagSuppressions.addResourceSuppressionsByPath(stack, path('SegmentSharedSecret/Resource'), [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          "The secret is shared with Segment's webhook destination, so rotating it is a coordinated change, not a schedule: docs/segment-setup.md. The function accepts AWSCURRENT, AWSPREVIOUS and AWSPENDING and re-reads the secret when a signature does not match, so a rotation has no downtime.",
      },
    ]);
  }
  NagSuppressions.addResourceSuppressionsByPath(stack, path('PartnerizeApiKeys/Resource'), [
    {
      id: 'AwsSolutions-SMG4',
      reason:
        "The secret holds keys Partnerize issues (the user application key and user API key from the brand's Partnerize console): they are rotated in Partnerize, then put here; a Lambda rotation function cannot create them.",
    },
  ]);
}

/** IAM: each function's log group ARN ends in ':*' so it covers the streams Lambda names. */
function acknowledgeLogStreamWildcards(stack: Stack, path: PathIn): void {
  for (const fn of ['ClicksFunction', 'PostbacksFunction', 'RetryFunction', 'ReconcileFunction']) {
    NagSuppressions.addResourceSuppressionsByPath(stack, path(`${fn}Role/DefaultPolicy/Resource`), [
      {
        id: 'AwsSolutions-IAM5',
        appliesTo: [{ regex: `/^Resource::<${fn}Logs[0-9A-F]+\\.Arn>$/` }],
        reason:
          "The function writes log streams (named by Lambda per instance) in its own log group only; a log group ARN ends in ':*' to cover its streams.",
      },
    ]);
  }
}

/** With WAF on: the origin-verify secret (rotated with a deploy) and the CloudFront distribution. */
function acknowledgeEdge(stack: Stack, path: PathIn): void {
  NagSuppressions.addResourceSuppressionsByPath(stack, path('OriginVerify/Resource'), [
    {
      id: 'AwsSolutions-SMG4',
      reason:
        'CloudFront takes the origin-verify value into its configuration at deploy time, so a rotation is a put-secret-value followed by a deploy naming the new version (originVerifyVersionId), while the functions accept both versions: docs/runbook.md#rotating-the-origin-verify-value. A schedule would change the secret without CloudFront.',
    },
  ]);
  NagSuppressions.addResourceSuppressionsByPath(stack, path('Edge/Distribution/Resource'), [
    {
      id: 'AwsSolutions-CFR1',
      reason:
        'No geo restriction: Partnerize affiliates and shoppers are in every country the brand sells to; the web ACL filters abuse instead.',
    },
    {
      id: 'AwsSolutions-CFR3',
      reason:
        'Every request CloudFront forwards is in the API stage JSON access log (without personal data); WAF metrics and sampled requests show blocked ones. A CloudFront log bucket would duplicate that and hold client IPs.',
    },
    {
      id: 'AwsSolutions-CFR4',
      reason:
        'The distribution uses the default *.cloudfront.net certificate (no custom domain), for which CloudFront fixes the viewer TLS policy; callers are servers (Tealium) and modern browsers using TLS 1.2+. Add a custom domain and certificate to set TLSv1.2_2021.',
    },
  ]);
}
