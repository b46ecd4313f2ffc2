import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  type HttpRoute,
  LogGroupLogDestination,
  type HttpStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { FilterPattern, LogGroup, LogGroupClass, MetricFilter, type IFilterPattern, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '#lambdas/observability/metrics.js';
import { THROTTLED_PATHS, type ThrottledPath } from '../config.js';

type Throttle = { rateLimit: number; burstLimit: number };

export interface TrackingApiProps {
  clicksFunction: IFunction;
  postbacksFunction: IFunction;
  /** Browser origins allowed to call /clicks; empty: no CORS (beacons need none). */
  allowedClickOrigins: readonly string[];
  throttle: Throttle;
  /** Per route, GET and POST each with its own bucket; the stage's is the default of a route without one. */
  routeThrottle: Record<ThrottledPath, Throttle>;
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

/** The routes, by the `routeKey` API Gateway writes in the access log. */
export const ROUTE_KEYS = {
  clicks: ['GET /clicks', 'POST /clicks'],
  postbacks: ['GET /postbacks', 'POST /postbacks'],
} as const;

/**
 * Throttled requests, counted from the access log (HTTP APIs publish no 429 metric), in the
 * namespace of the functions' metrics and with the same `service` dimension.
 */
export const THROTTLED_METRICS = {
  postbacks: 'PostbacksThrottled',
  clicks: 'ClicksThrottled',
} as const;

const statusIs = (status: string) => FilterPattern.stringValue('$.status', '=', status);
const routeIs = (key: string) => FilterPattern.stringValue('$.routeKey', '=', key);
const routeIsNot = (key: string) => FilterPattern.stringValue('$.routeKey', '!=', key);

/**
 * 429s that may be postbacks: every 429 not on a clicks route. That is the postbacks routes, and any
 * 429 the log could not tie to a route (`routeKey` `-`, e.g. should the account-level throttle act
 * before routing): a page for a throttled click is noise, a missed throttled postback is a lost order.
 */
export const POSTBACKS_THROTTLED_PATTERN: IFilterPattern = FilterPattern.all(statusIs('429'), ...ROUTE_KEYS.clicks.map(routeIsNot));
export const CLICKS_THROTTLED_PATTERN: IFilterPattern = FilterPattern.all(
  statusIs('429'),
  FilterPattern.any(...ROUTE_KEYS.clicks.map(routeIs)),
);

/**
 * Postback answers counted from the access log: API Gateway's own 4xx/5xx metrics are per API,
 * clicks (public, and anyone's to send) included. What the postbacks alarms read.
 */
export const POSTBACK_ANSWER_METRICS = {
  requests: 'PostbackRequests',
  clientErrors: 'Postbacks4xx',
  serverErrors: 'Postbacks5xx',
} as const;

const onPostbacksRoute = FilterPattern.any(...ROUTE_KEYS.postbacks.map(routeIs));
export const POSTBACK_REQUESTS_PATTERN: IFilterPattern = onPostbacksRoute;
/** 4xx answers to postbacks but 429s, which page on their own (PostbacksThrottled). */
export const POSTBACKS_4XX_PATTERN: IFilterPattern = FilterPattern.all(
  statusIs('4*'),
  FilterPattern.stringValue('$.status', '!=', '429'),
  onPostbacksRoute,
);
/** 5xx answers that may be postbacks: on a postbacks route, or on none (as for throttles). */
export const POSTBACKS_5XX_PATTERN: IFilterPattern = FilterPattern.all(statusIs('5*'), ...ROUTE_KEYS.clicks.map(routeIsNot));

/** The metrics counted from the access log: construct id, metric name, the lines it counts. */
const ACCESS_LOG_METRICS = [
  ['PostbacksThrottled', THROTTLED_METRICS.postbacks, POSTBACKS_THROTTLED_PATTERN],
  ['ClicksThrottled', THROTTLED_METRICS.clicks, CLICKS_THROTTLED_PATTERN],
  ['PostbackRequests', POSTBACK_ANSWER_METRICS.requests, POSTBACK_REQUESTS_PATTERN],
  ['Postbacks4xx', POSTBACK_ANSWER_METRICS.clientErrors, POSTBACKS_4XX_PATTERN],
  ['Postbacks5xx', POSTBACK_ANSWER_METRICS.serverErrors, POSTBACKS_5XX_PATTERN],
] as const;

/** The HTTP API (API Gateway v2): GET/POST /clicks and GET/POST /postbacks on the $default stage. */
export class TrackingApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroupName: string;

  constructor(scope: Construct, id: string, props: TrackingApiProps) {
    super(scope, id);
    this.api = this.createHttpApi(props.allowedClickOrigins);
    // Infrequent Access: half the ingestion price, and access logs are only ever queried.
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      logGroupClass: LogGroupClass.INFREQUENT_ACCESS,
      retention: props.logRetentionDays as RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.accessLogGroupName = accessLogs.logGroupName;
    this.stage = this.addDefaultStage(accessLogs, props.throttle);
    this.countFromAccessLog(accessLogs);
    this.throttleRoutes(props.routeThrottle);
    const routes = this.addRoutes(props);
    // Route settings name routes by key: the stage must be created after them.
    for (const r of routes) this.stage.node.addDependency(r);
  }

  /** The API; CORS only when click origins are listed. */
  private createHttpApi(allowedClickOrigins: readonly string[]): HttpApi {
    return new HttpApi(this, 'HttpApi', {
      description: 'Partnerize S2S tracker: click capture and order postbacks',
      createDefaultStage: false,
      ...(allowedClickOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...allowedClickOrigins],
              allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.OPTIONS],
              allowHeaders: ['content-type'],
            },
          }
        : {}),
    });
  }

  /** The $default stage, with the stage-wide throttle and one JSON access-log line per request. */
  private addDefaultStage(accessLogs: LogGroup, throttle: Throttle): HttpStage {
    // `service` (the stack name) lets a metric filter give its metric the dimension the EMF metrics have.
    const service = Stack.of(this).stackName;
    return this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify({ service, ...ACCESS_LOG_FIELDS })),
      },
    });
  }

  private countFromAccessLog(accessLogs: LogGroup): void {
    for (const [id, metricName, filterPattern] of ACCESS_LOG_METRICS) {
      new MetricFilter(this, id, {
        logGroup: accessLogs,
        filterPattern,
        metricNamespace: METRICS_NAMESPACE,
        metricName,
        metricValue: '1',
        dimensions: { service: '$.service' },
      });
    }
  }

  /** Each route key its own bucket: clicks cannot spend the postbacks' budget. */
  private throttleRoutes(routeThrottle: TrackingApiProps['routeThrottle']): void {
    // RouteSettings is a JSON property: CloudFormation's own (capitalised) keys, not CDK's.
    const route = (t: Throttle) => ({
      ThrottlingRateLimit: t.rateLimit,
      ThrottlingBurstLimit: t.burstLimit,
    });
    (this.stage.node.defaultChild as CfnStage).routeSettings = Object.fromEntries(
      THROTTLED_PATHS.flatMap((r) => ROUTE_KEYS[r].map((key) => [key, route(routeThrottle[r])])),
    );
  }

  /** GET and POST on each path, to its function. */
  private addRoutes(props: TrackingApiProps): HttpRoute[] {
    const table = [
      { path: '/clicks', integrationId: 'ClicksIntegration', fn: props.clicksFunction },
      { path: '/postbacks', integrationId: 'PostbacksIntegration', fn: props.postbacksFunction },
    ];
    return table.flatMap(({ path, integrationId, fn }) =>
      this.api.addRoutes({
        path,
        methods: [HttpMethod.GET, HttpMethod.POST],
        integration: new HttpLambdaIntegration(integrationId, fn),
      }),
    );
  }

  /** The base URL, without a trailing slash. */
  get url(): string {
    return this.api.apiEndpoint;
  }
}
