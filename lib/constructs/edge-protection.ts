/**
 * Optional AWS WAF. API Gateway HTTP APIs cannot be associated with a WAF web ACL (only REST APIs,
 * ALBs, CloudFront … can), so the protected entry point is a CloudFront distribution in front of
 * the API, with a CLOUDFRONT-scope web ACL (which AWS requires to live in us-east-1). CloudFront
 * adds a secret origin-verify header that the functions check, so the execute-api URL cannot be
 * used to go around the WAF.
 */
import { Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AllowedMethods, CachePolicy, Distribution, OriginProtocolPolicy, OriginRequestPolicy, PriceClass, ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { ORIGIN_VERIFY_HEADER } from '../../lambdas/commons/origin-guard.js';


/** Managed rules that inspect the body, counted rather than blocking: Tealium events are large JSON. */
const COUNT_ONLY_BODY_RULES = ['SizeRestrictions_BODY', 'CrossSiteScripting_BODY', 'GenericLFI_BODY', 'GenericRFI_BODY'];

export interface TrackingWebAclProps {
  /** Requests per 5 minutes per IP allowed on /clicks (browsers); /postbacks is exempt (Tealium posts from few IPs). */
  clickRateLimitPer5Min: number;
}

export class TrackingWebAcl extends Construct {
  readonly webAcl: CfnWebACL;

  constructor(scope: Construct, id: string, props: TrackingWebAclProps) {
    super(scope, id);
    const metricName = (n: string) => `${Stack.of(this).stackName}-${n}`.replace(/[^A-Za-z0-9-]/g, '');
    const visibility = (n: string) => ({ cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName: metricName(n) });
    const managed = (name: string, priority: number, countOnly: string[] = []): CfnWebACL.RuleProperty => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name,
          ...(countOnly.length > 0 ? { ruleActionOverrides: countOnly.map((r) => ({ name: r, actionToUse: { count: {} } })) } : {}),
        },
      },
      visibilityConfig: visibility(name),
    });
    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      description: 'Partnerize S2S tracker: managed protections and a per-IP rate limit on click capture',
      visibilityConfig: visibility('WebAcl'),
      rules: [
        managed('AWSManagedRulesAmazonIpReputationList', 0),
        managed('AWSManagedRulesKnownBadInputsRuleSet', 1),
        managed('AWSManagedRulesCommonRuleSet', 2, COUNT_ONLY_BODY_RULES),
        {
          name: 'ClickRateLimitPerIp',
          priority: 3,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: props.clickRateLimitPer5Min,
              aggregateKeyType: 'IP',
              scopeDownStatement: {
                byteMatchStatement: {
                  fieldToMatch: { uriPath: {} },
                  positionalConstraint: 'STARTS_WITH',
                  searchString: '/clicks',
                  textTransformations: [{ priority: 0, type: 'NONE' }],
                },
              },
            },
          },
          visibilityConfig: visibility('ClickRateLimitPerIp'),
        },
      ],
    });
  }
}

/** The us-east-1 stack holding the web ACL, when the tracker is deployed elsewhere. */
export class TrackingWafStack extends Stack {
  readonly webAclArn: string;

  constructor(scope: Construct, id: string, props: StackProps & TrackingWebAclProps) {
    super(scope, id, props);
    this.webAclArn = new TrackingWebAcl(this, 'Waf', props).webAcl.attrArn;
  }
}

export interface EdgeDistributionProps {
  api: HttpApi;
  webAclArn: string;
  originVerifySecret: ISecret;
}

/** CloudFront in front of the API: no caching, every method, every viewer header but Host. */
export class EdgeDistribution extends Construct {
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: EdgeDistributionProps) {
    super(scope, id);
    const apiDomain = Fn.select(2, Fn.split('/', props.api.apiEndpoint));
    this.distribution = new Distribution(this, 'Distribution', {
      comment: `${Stack.of(this).stackName}: WAF-protected entry to the tracker API`,
      webAclId: props.webAclArn,
      priceClass: PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: new HttpOrigin(apiDomain, {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
          readTimeout: Duration.seconds(30),
          customHeaders: { [ORIGIN_VERIFY_HEADER]: props.originVerifySecret.secretValue.unsafeUnwrap() },
        }),
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: AllowedMethods.ALLOW_ALL,
        cachePolicy: CachePolicy.CACHING_DISABLED,
        originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      },
    });
  }

  get url(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }
}
