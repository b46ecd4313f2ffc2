import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnStage, CorsHttpMethod, HttpApi, HttpMethod, LogGroupLogDestination, type HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { LogGroup, LogGroupClass, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface TrackingApiProps {
  clicksFunction: IFunction;
  postbacksFunction: IFunction;
  /** Browser origins allowed to call /clicks; empty: no CORS (beacons need none). */
  allowedClickOrigins: readonly string[];
  throttle: { rateLimit: number; burstLimit: number };
  /** Tighter limits per route (the stage limit applies to all). */
  routeThrottle: { clicks: { rateLimit: number; burstLimit: number }; postbacks: { rateLimit: number; burstLimit: number } };
  logRetentionDays: number;
}

/**
 * One JSON line per request. No source IP, user agent or query string: access logs must not hold
 * personal data, and a GET postback's query is the whole order.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  time: '$context.requestTimeEpoch',
  routeKey: '$context.routeKey',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
} as const;

/** The HTTP API (API Gateway v2): GET/POST /clicks and GET/POST /postbacks on the $default stage. */
export class TrackingApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroupName: string;

  constructor(scope: Construct, id: string, props: TrackingApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'HttpApi', {
      description: 'Partnerize S2S tracker: click capture and order postbacks',
      createDefaultStage: false,
      ...(props.allowedClickOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...props.allowedClickOrigins],
              allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.OPTIONS],
              allowHeaders: ['content-type'],
            },
          }
        : {}),
    });
    // Infrequent Access: half the ingestion price, and access logs are only ever queried.
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      logGroupClass: LogGroupClass.INFREQUENT_ACCESS,
      retention: props.logRetentionDays as RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.accessLogGroupName = accessLogs.logGroupName;
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    // RouteSettings is a JSON property: CloudFormation's own (capitalised) keys, not CDK's.
    const route = (t: { rateLimit: number; burstLimit: number }) => ({ ThrottlingRateLimit: t.rateLimit, ThrottlingBurstLimit: t.burstLimit });
    (this.stage.node.defaultChild as CfnStage).routeSettings = {
      'GET /clicks': route(props.routeThrottle.clicks),
      'POST /clicks': route(props.routeThrottle.clicks),
      'GET /postbacks': route(props.routeThrottle.postbacks),
      'POST /postbacks': route(props.routeThrottle.postbacks),
    };
    const routes = this.api.addRoutes({
      path: '/clicks',
      methods: [HttpMethod.GET, HttpMethod.POST],
      integration: new HttpLambdaIntegration('ClicksIntegration', props.clicksFunction),
    });
    routes.push(
      ...this.api.addRoutes({
        path: '/postbacks',
        methods: [HttpMethod.GET, HttpMethod.POST],
        integration: new HttpLambdaIntegration('PostbacksIntegration', props.postbacksFunction),
      }),
    );
    // Route settings name routes by key: the stage must be created after them.
    for (const r of routes) this.stage.node.addDependency(r);
  }

  /** The base URL, without a trailing slash. */
  get url(): string {
    return this.api.apiEndpoint;
  }
}
