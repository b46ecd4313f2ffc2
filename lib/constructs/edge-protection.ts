/**
 * Optional AWS WAF. API Gateway HTTP APIs cannot be associated with a WAF web ACL (only REST APIs,
 * ALBs, CloudFront … can), so the protected entry point is a CloudFront distribution in front of
 * the API, with a CLOUDFRONT-scope web ACL (which AWS requires to live in us-east-1). CloudFront
 * adds a secret origin-verify header that the functions check (reading it from Secrets Manager),
 * so the execute-api URL cannot be used to go around the WAF (though such calls still spend the
 * route's throttle: docs/capacity.md).
 *
 * HTTP APIs throttle per route only, for all callers together: the web ACL is where unauthenticated
 * traffic is kept from spending the budget of Tealium's postbacks.
 */
import { Annotations, Duration, Fn, SecretValue, Stack, type StackProps } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  PriceClass,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { CfnIPSet, CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { errorBody } from '#lambdas/http/http.js';
import { ORIGIN_VERIFY_HEADER } from '#lambdas/http/origin-guard.js';
import { parseCidr, type TrackingConfig } from '../config.js';
import { OnCall, type OnCallProps } from './on-call.js';

/**
 * Managed rules counted rather than blocking: Tealium events are large JSON bodies, and a GET
 * postback carries the whole order in its query string (`data=`), routinely over the 2 KB limit.
 */
const COUNT_ONLY_RULES = [
  'SizeRestrictions_BODY',
  'CrossSiteScripting_BODY',
  'GenericLFI_BODY',
  'GenericRFI_BODY',
  'SizeRestrictions_QUERYSTRING',
];

export interface TrackingWebAclProps {
  /** Requests per 5 minutes per IP allowed on /clicks (browsers). */
  clickRateLimitPer5Min: number;
  /** Requests per 5 minutes per IP allowed on /postbacks: Tealium posts from few IPs, so this is high. */
  postbackRateLimitPer5Min: number;
  /** CIDRs postbacks may come from; empty = anywhere. */
  postbackSourceCidrs: readonly string[];
  /**
   * Where a postback answered 429 by the per-IP limit pages: the WAF answers before API Gateway,
   * so such a 429 is in no access log and the `postbacks-throttled` alarm never sees it.
   */
  onCall?: { topic: ITopic; runbookUrl: string } | undefined;
}

export const webAclPropsOf = (c: TrackingConfig): TrackingWebAclProps => ({
  clickRateLimitPer5Min: c.wafClickRateLimitPer5Min,
  postbackRateLimitPer5Min: c.wafPostbackRateLimitPer5Min,
  postbackSourceCidrs: c.postbackSourceCidrs,
});

/**
 * Matches a route by its path as API Gateway will route it: decoded (`/%70ostbacks` is
 * `/postbacks`) and in any case (over-matching only reaches requests that end in a 404).
 */
const pathStartsWith = (path: string): CfnWebACL.StatementProperty => ({
  byteMatchStatement: {
    fieldToMatch: { uriPath: {} },
    positionalConstraint: 'STARTS_WITH',
    searchString: path,
    textTransformations: [
      { priority: 0, type: 'URL_DECODE' },
      { priority: 1, type: 'LOWERCASE' },
    ],
  },
});

const and = (...statements: CfnWebACL.StatementProperty[]): CfnWebACL.StatementProperty => ({ andStatement: { statements } });
const not = (statement: CfnWebACL.StatementProperty): CfnWebACL.StatementProperty => ({ notStatement: { statement } });
const or = (...statements: CfnWebACL.StatementProperty[]): CfnWebACL.StatementProperty =>
  statements.length === 1 ? statements[0]! : { orStatement: { statements } };

/** The answers of the postback rules, in the API's own error shape. */
const RESPONSE_BODIES = {
  unauthorized: errorBody('unauthorized', 'missing or wrong Authorization: send Bearer <token> or Basic base64(user:<token>)'),
  forbiddenSource: errorBody('forbidden_source', 'postbacks are accepted only from the configured source addresses'),
  rateLimited: errorBody('rate_limited', 'too many requests from this address: retry later'),
} as const;

/** A rule as the web ACL's list holds it: its priority is its place, its metric is named after it. */
type Rule = Omit<CfnWebACL.RuleProperty, 'priority' | 'visibilityConfig'>;

const postbacks = pathStartsWith('/postbacks');

/** An AWS managed rule group, with some of its rules only counted. */
const managed = (name: string, countOnly: string[] = []): Rule => ({
  name,
  overrideAction: { none: {} },
  statement: {
    managedRuleGroupStatement: {
      vendorName: 'AWS',
      name,
      ...(countOnly.length > 0 ? { ruleActionOverrides: countOnly.map((r) => ({ name: r, actionToUse: { count: {} } })) } : {}),
    },
  },
});

/** Postbacks from anywhere but the postbackSourceCidrs (the IP sets' statements): 403. */
const postbacksFromUnlistedSources = (sources: CfnWebACL.StatementProperty[]): Rule => ({
  name: 'PostbacksFromUnlistedSources',
  action: { block: { customResponse: { responseCode: 403, customResponseBodyKey: 'forbiddenSource' } } },
  statement: and(postbacks, not(or(...sources))),
});

/** Postbacks with no Authorization header at all: a 401 that says which credentials to send. */
const POSTBACKS_WITHOUT_AUTHORIZATION: Rule = {
  name: 'PostbacksWithoutAuthorization',
  action: {
    block: {
      customResponse: {
        responseCode: 401,
        customResponseBodyKey: 'unauthorized',
        responseHeaders: [{ name: 'www-authenticate', value: 'Bearer realm="postbacks", Basic realm="postbacks"' }],
      },
    },
  },
  statement: and(
    postbacks,
    not({
      sizeConstraintStatement: {
        fieldToMatch: { singleHeader: { Name: 'authorization' } },
        comparisonOperator: 'GT',
        size: 0,
        textTransformations: [{ priority: 0, type: 'NONE' }],
      },
    }),
  ),
};

const POSTBACK_RATE_RULE = 'PostbackRateLimitPerIp';

/** Too many postbacks from one address: a 429, which Tealium retries (it does not retry a 403). */
const postbackRateLimitPerIp = (limit: number): Rule => ({
  name: POSTBACK_RATE_RULE,
  action: { block: { customResponse: { responseCode: 429, customResponseBodyKey: 'rateLimited' } } },
  statement: { rateBasedStatement: { limit, aggregateKeyType: 'IP', scopeDownStatement: postbacks } },
});

/** Too many clicks from one address (browsers; the answer does not matter to a beacon). */
const clickRateLimitPerIp = (limit: number): Rule => ({
  name: 'ClickRateLimitPerIp',
  action: { block: {} },
  statement: {
    rateBasedStatement: { limit, aggregateKeyType: 'IP', scopeDownStatement: pathStartsWith('/clicks') },
  },
});

export class TrackingWebAcl extends Construct {
  readonly webAcl: CfnWebACL;

  constructor(scope: Construct, id: string, props: TrackingWebAclProps) {
    super(scope, id);
    const sources = this.postbackSources(props.postbackSourceCidrs);
    // Cheapest and most certain first: a source allowlist, then no credentials at all.
    const rules: Rule[] = [
      ...(sources.length > 0 ? [postbacksFromUnlistedSources(sources)] : []),
      POSTBACKS_WITHOUT_AUTHORIZATION,
      postbackRateLimitPerIp(props.postbackRateLimitPer5Min),
      managed('AWSManagedRulesAmazonIpReputationList'),
      managed('AWSManagedRulesKnownBadInputsRuleSet'),
      managed('AWSManagedRulesCommonRuleSet', COUNT_ONLY_RULES),
      clickRateLimitPerIp(props.clickRateLimitPer5Min),
    ];
    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      description:
        'Partnerize S2S tracker: postbacks only with credentials and from the listed sources, per-IP rate limits, managed protections',
      visibilityConfig: this.visibility('WebAcl'),
      customResponseBodies: Object.fromEntries(
        Object.entries(RESPONSE_BODIES).map(([key, body]) => [key, { contentType: 'APPLICATION_JSON', content: JSON.stringify(body) }]),
      ),
      rules: rules.map((rule, priority) => ({ ...rule, priority, visibilityConfig: this.visibility(rule.name) })),
    });
    if (props.onCall) this.pageOnRateLimitedPostbacks(props.onCall);
  }

  /**
   * Pages on any postback the per-IP limit answered 429: Tealium retries a 429 three times, then
   * drops the order. The metric is WAF's own (CLOUDFRONT scope: dimensions WebACL and Rule, their
   * metric names; no Region), in us-east-1 like the web ACL, so the alarm lives beside it.
   */
  private pageOnRateLimitedPostbacks(onCall: { topic: ITopic; runbookUrl: string }): void {
    const alarm = new Alarm(this, 'PostbacksRateLimited', {
      alarmName: `${Stack.of(this).stackName}-PostbacksRateLimited`,
      alarmDescription:
        'The web ACL answered 429 to a postback: one address sent more than wafPostbackRateLimitPer5Min postbacks in 5 minutes. ' +
        `Tealium retries a 429 three times, then drops the order. Runbook: ${onCall.runbookUrl}#postbacks-rate-limited`,
      metric: new Metric({
        namespace: 'AWS/WAFV2',
        metricName: 'BlockedRequests',
        dimensionsMap: { WebACL: this.visibility('WebAcl').metricName, Rule: this.visibility(POSTBACK_RATE_RULE).metricName },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const action = new SnsAction(onCall.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }

  /** One IP set per address family with listed CIDRs (IPv4, then IPv6), as statements matching it. */
  private postbackSources(cidrs: readonly string[]): CfnWebACL.StatementProperty[] {
    return ([4, 6] as const).flatMap((version) => {
      const addresses = cidrs
        .map(parseCidr)
        .filter((c) => c.version === version)
        .map((c) => c.cidr);
      if (addresses.length === 0) return [];
      const set = new CfnIPSet(this, `PostbackSourcesIpv${version}`, {
        scope: 'CLOUDFRONT',
        ipAddressVersion: `IPV${version}`,
        addresses,
        description: `${Stack.of(this).stackName}: where postbacks may come from, the postbackSourceCidrs key`,
      });
      return [{ ipSetReferenceStatement: { arn: set.attrArn } } satisfies CfnWebACL.StatementProperty];
    });
  }

  /** Metrics and sampled requests for the ACL and each rule, named after the stack (as WAF allows names). */
  private visibility(name: string): CfnWebACL.VisibilityConfigProperty {
    const metricName = `${Stack.of(this).stackName}-${name}`.replace(/[^A-Za-z0-9-]/g, '');
    return { cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName };
  }
}

/** The us-east-1 stack holding the web ACL, when the tracker is deployed elsewhere. */
export class TrackingWafStack extends Stack {
  readonly webAclArn: string;

  /** `onCall`: the tracker's on-call destinations; an alarm pages only through a topic of its own region, so this stack has its own. */
  constructor(
    scope: Construct,
    id: string,
    props: StackProps & { webAcl: TrackingWebAclProps; onCall: OnCallProps & { runbookUrl: string } },
  ) {
    super(scope, id, props);
    const { runbookUrl, existingTopicArn, ...destinations } = props.onCall;
    const usable = existingTopicArn?.split(':')[3] === 'us-east-1' ? existingTopicArn : undefined;
    const topic = new OnCall(this, 'OnCall', { ...destinations, existingTopicArn: usable }).topic;
    if (existingTopicArn && !usable && destinations.emails.length === 0 && destinations.httpsEndpoints.length === 0) {
      // The tracker pages through a topic of another region, which an alarm here cannot notify.
      Annotations.of(this).addWarningV2(
        'partnerize-s2s:waf-alarm-reaches-nobody',
        `alarmTopicArn is a topic in ${existingTopicArn.split(':')[3]}: the web ACL's alarm (PostbacksRateLimited) lives in us-east-1 ` +
          'and can only notify a topic there, so it would page nobody. Set alarmEmails or alarmHttpsEndpoints (this stack subscribes them ' +
          "to its own topic), or subscribe your on-call to this stack's OnCall topic after the deploy.",
      );
    }
    this.webAclArn = new TrackingWebAcl(this, 'Waf', { ...props.webAcl, onCall: { topic, runbookUrl } }).webAcl.attrArn;
  }
}

export interface EdgeDistributionProps {
  api: HttpApi;
  webAclArn: string;
  originVerifySecret: ISecret;
  /** The secret's version CloudFront sends (a rotation names the new one); empty: the current one. */
  originVerifyVersionId: string;
}

/** A dynamic reference to the secret (to one version of it when named): never the value in the template. */
const originVerifyValue = (p: EdgeDistributionProps): SecretValue =>
  p.originVerifyVersionId === ''
    ? p.originVerifySecret.secretValue
    : SecretValue.secretsManager(p.originVerifySecret.secretArn, { versionId: p.originVerifyVersionId });

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
          // CloudFront has no secret reference: the value is resolved into the distribution's
          // configuration at deploy time (readable with cloudfront:GetDistributionConfig). It only
          // proves a request came through CloudFront; it is not a credential (README, Security).
          customHeaders: { [ORIGIN_VERIFY_HEADER]: originVerifyValue(props).unsafeUnwrap() },
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
