import { CorsHttpMethod, HttpApi, HttpMethod, type HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface TrackingApiProps {
  clicksFunction: IFunction;
  postbacksFunction: IFunction;
  /** Browser origins allowed to call /clicks; empty: no CORS (beacons need none). */
  allowedClickOrigins: readonly string[];
  throttle: { rateLimit: number; burstLimit: number };
}

/** The HTTP API (API Gateway v2): GET/POST /clicks and GET/POST /postbacks on the $default stage. */
export class TrackingApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;

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
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
    });
    this.api.addRoutes({
      path: '/clicks',
      methods: [HttpMethod.GET, HttpMethod.POST],
      integration: new HttpLambdaIntegration('ClicksIntegration', props.clicksFunction),
    });
    this.api.addRoutes({
      path: '/postbacks',
      methods: [HttpMethod.GET, HttpMethod.POST],
      integration: new HttpLambdaIntegration('PostbacksIntegration', props.postbacksFunction),
    });
  }

  /** The base URL, without a trailing slash. */
  get url(): string {
    return this.api.apiEndpoint;
  }
}
