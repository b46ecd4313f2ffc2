import { envName, SETTING_KEYS, SETTINGS } from '#lambdas/core/settings.js';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { actionsOf, buildStack, resourcesOf, statementsOf } from '../support/stack.js';
import { matchesJsonFilterPattern, parseJsonFilterPattern } from './filter-pattern.js';

let built: ReturnType<typeof buildStack>;
beforeAll(() => {
  built = buildStack();
});

const logicalId = (type: string, prefix: string): string => {
  const id = Object.keys(resourcesOf(built.template, type)).find((k) => k.startsWith(prefix));
  if (!id) throw new Error(`no ${type} ${prefix}`);
  return id;
};

describe('HTTP API', () => {
  it('has exactly GET/POST /clicks and GET/POST /postbacks, each on a Lambda proxy integration (payload 2.0)', () => {
    const routes = Object.values(resourcesOf(built.template, 'AWS::ApiGatewayV2::Route'))
      .map((r) => r.Properties.RouteKey)
      .sort();
    expect(routes).toEqual(['GET /clicks', 'GET /postbacks', 'POST /clicks', 'POST /postbacks']);
    built.template.resourcePropertiesCountIs(
      'AWS::ApiGatewayV2::Integration',
      { IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' },
      2,
    );
    built.template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    built.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
  });

  it('routes /clicks to the clicks function and /postbacks to the postbacks function', () => {
    const integrations = resourcesOf(built.template, 'AWS::ApiGatewayV2::Integration');
    const targetOf = (routeKey: string) => {
      const route = Object.values(resourcesOf(built.template, 'AWS::ApiGatewayV2::Route')).find((r) => r.Properties.RouteKey === routeKey)!;
      const integrationId = (route.Properties.Target['Fn::Join'][1] as unknown[])[1] as { Ref: string };
      return integrations[integrationId.Ref]!.Properties.IntegrationUri['Fn::GetAtt'][0] as string;
    };
    expect(targetOf('POST /clicks')).toBe(logicalId('AWS::Lambda::Function', 'ClicksFunction'));
    expect(targetOf('GET /clicks')).toBe(logicalId('AWS::Lambda::Function', 'ClicksFunction'));
    expect(targetOf('POST /postbacks')).toBe(logicalId('AWS::Lambda::Function', 'PostbacksFunction'));
    expect(targetOf('GET /postbacks')).toBe(logicalId('AWS::Lambda::Function', 'PostbacksFunction'));
  });

  it('deploys a $default stage with stage and per-route throttling from config', () => {
    const c = built.config;
    const clicks = { ThrottlingRateLimit: c.clicksThrottleRateLimit, ThrottlingBurstLimit: c.clicksThrottleBurstLimit };
    const postbacks = { ThrottlingRateLimit: c.postbacksThrottleRateLimit, ThrottlingBurstLimit: c.postbacksThrottleBurstLimit };
    built.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: c.apiThrottleRateLimit, ThrottlingBurstLimit: c.apiThrottleBurstLimit },
      RouteSettings: { 'GET /clicks': clicks, 'POST /clicks': clicks, 'GET /postbacks': postbacks, 'POST /postbacks': postbacks },
    });
    const stage = Object.entries(built.template.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[] }>).find(
      ([, r]) => r.Type === 'AWS::ApiGatewayV2::Stage',
    )!;
    const routeIds = Object.keys(resourcesOf(built.template, 'AWS::ApiGatewayV2::Route'));
    expect(stage[1].DependsOn).toEqual(expect.arrayContaining(routeIds)); // route settings need the routes first
  });

  it('gives the stage at least the four route limits together, so no route can take budget from another', () => {
    const stage = Object.values(resourcesOf(built.template, 'AWS::ApiGatewayV2::Stage'))[0]!.Properties;
    const routes = Object.values(stage.RouteSettings as Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>);
    expect(routes).toHaveLength(4);
    expect(stage.DefaultRouteSettings.ThrottlingRateLimit).toBeGreaterThanOrEqual(
      routes.reduce((sum, r) => sum + r.ThrottlingRateLimit, 0),
    );
    expect(stage.DefaultRouteSettings.ThrottlingBurstLimit).toBeGreaterThanOrEqual(
      routes.reduce((sum, r) => sum + r.ThrottlingBurstLimit, 0),
    );
  });

  it('route throttles come from config', () => {
    const b = buildStack({
      postbacksThrottleRateLimit: '300',
      postbacksThrottleBurstLimit: '900',
      apiThrottleRateLimit: '5000',
      apiThrottleBurstLimit: '5000',
    });
    const stage = Object.values(resourcesOf(b.template, 'AWS::ApiGatewayV2::Stage'))[0]!.Properties;
    expect(stage.RouteSettings['POST /postbacks']).toEqual({ ThrottlingRateLimit: 300, ThrottlingBurstLimit: 900 });
    expect(stage.RouteSettings['GET /postbacks']).toEqual({ ThrottlingRateLimit: 300, ThrottlingBurstLimit: 900 });
    expect(stage.DefaultRouteSettings).toMatchObject({ ThrottlingRateLimit: 5000, ThrottlingBurstLimit: 5000 });
  });

  it('writes JSON access logs, without IPs, user agents or query strings, to a retained log group', () => {
    const stage = Object.values(resourcesOf(built.template, 'AWS::ApiGatewayV2::Stage'))[0]!;
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
    expect(format).toMatchObject({
      service: 'PartnerizeS2S',
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
    });
    expect(stage.Properties.AccessLogSettings.Format).not.toMatch(/sourceIp|userAgent|querystring|identity/i);
    expect(stage.Properties.AccessLogSettings.DestinationArn).toEqual({
      'Fn::GetAtt': [logicalId('AWS::Logs::LogGroup', 'ApiAccessLogs'), 'Arn'],
    });
  });

  it('has no CORS by default and an allowlist when origins are configured', () => {
    const api = Object.values(resourcesOf(built.template, 'AWS::ApiGatewayV2::Api'))[0]!;
    expect(api.Properties.CorsConfiguration).toBeUndefined();
    const withCors = buildStack({ allowedClickOrigins: 'https://www.acme.example,https://shop.acme.example' });
    withCors.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://www.acme.example', 'https://shop.acme.example'] }),
    });
  });
});

describe('throttled requests (HTTP APIs publish no 429 metric)', () => {
  /** An access log line as API Gateway writes it: the stage's format with its variables filled in. */
  const accessLogLine = (vars: Record<string, string>) => {
    const stage = Object.values(resourcesOf(built.template, 'AWS::ApiGatewayV2::Stage'))[0]!;
    const line = (stage.Properties.AccessLogSettings.Format as string).replace(
      /\$context\.([A-Za-z.]+)/g,
      (_, name: string) => vars[name] ?? '-',
    );
    return JSON.parse(line) as unknown;
  };
  const line = (routeKey: string, status: string) =>
    accessLogLine({
      requestId: 'Yz1AbC',
      requestTimeEpoch: '1764547200000',
      routeKey,
      status,
      responseLength: '61',
      responseLatency: '3',
      'error.message': status === '429' ? 'Too Many Requests' : '-',
    });
  const filters = () => Object.values(resourcesOf(built.template, 'AWS::Logs::MetricFilter')).map((f) => f.Properties);
  const filterFor = (metricName: string) => filters().find((f) => f.MetricTransformations[0].MetricName === metricName)!;

  it('metric filters on the access log group count them, in PartnerizeS2S with the service dimension', () => {
    expect(filters()).toHaveLength(5);
    for (const name of ['PostbacksThrottled', 'ClicksThrottled', 'PostbackRequests', 'Postbacks4xx', 'Postbacks5xx']) {
      const f = filterFor(name);
      expect(f.LogGroupName).toEqual({ Ref: logicalId('AWS::Logs::LogGroup', 'ApiAccessLogs') });
      expect(f.MetricTransformations).toEqual([
        { MetricNamespace: 'PartnerizeS2S', MetricName: name, MetricValue: '1', Dimensions: [{ Key: 'service', Value: '$.service' }] },
      ]);
    }
    // The dimension's value is read from the log line, where the format writes the stack name.
    expect(line('POST /postbacks', '429')).toMatchObject({ service: 'PartnerizeS2S' });
  });

  it('PostbacksThrottled counts 429s on either postbacks route, and ones without a route, not 202s or clicks', () => {
    const pattern = filterFor('PostbacksThrottled').FilterPattern as string;
    expect(pattern).toBe('{ ($.status = "429") && ($.routeKey != "GET /clicks") && ($.routeKey != "POST /clicks") }');
    expect(matchesJsonFilterPattern(pattern, line('POST /postbacks', '429'))).toBe(true);
    expect(matchesJsonFilterPattern(pattern, line('GET /postbacks', '429'))).toBe(true);
    expect(matchesJsonFilterPattern(pattern, line('-', '429'))).toBe(true);
    expect(matchesJsonFilterPattern(pattern, line('POST /postbacks', '202'))).toBe(false);
    expect(matchesJsonFilterPattern(pattern, line('POST /postbacks', '401'))).toBe(false);
    expect(matchesJsonFilterPattern(pattern, line('POST /clicks', '429'))).toBe(false);
  });

  it('ClicksThrottled counts 429s on the clicks routes only', () => {
    const pattern = filterFor('ClicksThrottled').FilterPattern as string;
    expect(matchesJsonFilterPattern(pattern, line('POST /clicks', '429'))).toBe(true);
    expect(matchesJsonFilterPattern(pattern, line('GET /clicks', '429'))).toBe(true);
    expect(matchesJsonFilterPattern(pattern, line('GET /clicks', '204'))).toBe(false);
    expect(matchesJsonFilterPattern(pattern, line('POST /postbacks', '429'))).toBe(false);
  });

  it('postback answers: requests on either route, 4xx but 429 on them, 5xx on them or unrouted; clicks never', () => {
    const count = (metricName: string, routeKey: string, status: string) =>
      matchesJsonFilterPattern(filterFor(metricName).FilterPattern as string, line(routeKey, status));
    for (const status of ['202', '400', '401', '429', '503'])
      expect(count('PostbackRequests', 'POST /postbacks', status), status).toBe(true);
    expect(count('PostbackRequests', 'GET /postbacks', '202')).toBe(true);
    expect(count('PostbackRequests', 'POST /clicks', '204')).toBe(false);
    for (const status of ['400', '401', '403', '413', '415']) expect(count('Postbacks4xx', 'POST /postbacks', status), status).toBe(true);
    for (const [route, status] of [
      ['POST /postbacks', '429'],
      ['POST /postbacks', '202'],
      ['POST /postbacks', '503'],
      ['POST /clicks', '400'],
      ['-', '404'],
    ] as const)
      expect(count('Postbacks4xx', route, status), `${route} ${status}`).toBe(false);
    for (const [route, status] of [
      ['POST /postbacks', '503'],
      ['GET /postbacks', '500'],
      ['-', '500'],
    ] as const)
      expect(count('Postbacks5xx', route, status), `${route} ${status}`).toBe(true);
    for (const [route, status] of [
      ['POST /clicks', '500'],
      ['POST /postbacks', '202'],
      ['POST /postbacks', '429'],
    ] as const)
      expect(count('Postbacks5xx', route, status), `${route} ${status}`).toBe(false);
  });

  it('the pattern evaluator reads the syntax it is given, and refuses what it does not know', () => {
    expect(matchesJsonFilterPattern('{ $.a.b = "x*" || ($.n = 3 && $.a.b != "y") }', { a: { b: 'xyz' }, n: 1 })).toBe(true);
    expect(matchesJsonFilterPattern('{ $.a.b = "x*" || ($.n = 3 && $.a.b != "y") }', { a: { b: 'q' }, n: 3 })).toBe(true);
    expect(matchesJsonFilterPattern('{ $.a.b = "x*" || ($.n = 3 && $.a.b != "y") }', { a: { b: 'y' }, n: 3 })).toBe(false);
    expect(matchesJsonFilterPattern('{ $.status = "429" }', { status: 429 })).toBe(false);
    expect(() => parseJsonFilterPattern('{ $.latency > 100 }')).toThrow('unsupported');
    expect(() => parseJsonFilterPattern('ERROR')).toThrow();
  });
});

describe('functions', () => {
  it('are Node 24 on arm64, bundled (handler index.handler), one per job', () => {
    const fns = Object.entries(resourcesOf(built.template, 'AWS::Lambda::Function'));
    expect(fns.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'ClicksFunction',
      'PostbacksFunction',
      'ReconcileFunction',
      'RetryFunction',
    ]);
    for (const [, fn] of fns) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.LoggingConfig).toMatchObject({ LogFormat: 'JSON' });
    }
  });

  it('get their config as environment variables, and only the postbacks function knows the secret', () => {
    const fns = resourcesOf(built.template, 'AWS::Lambda::Function');
    const envOf = (prefix: string) => fns[logicalId('AWS::Lambda::Function', prefix)]!.Properties.Environment.Variables;
    expect(envOf('PostbacksFunction')).toMatchObject({
      PARTNERIZE_MODE: 'dryrun',
      PARTNERIZE_BASE_URL: 'https://prf.hn',
      PARTNERIZE_CAMPAIGN_ID: built.config.partnerizeCampaignId,
      CONSENT_POLICY: 'required',
      PURCHASE_EVENTS: '["purchase"]',
      TOKEN_SECRET_ARN: { Ref: logicalId('AWS::SecretsManager::Secret', 'PostbackToken') },
      CLICKS_TABLE: { Ref: logicalId('AWS::DynamoDB::GlobalTable', 'TablesClicks') },
      CONVERSIONS_TABLE: { Ref: logicalId('AWS::DynamoDB::GlobalTable', 'TablesConversions') },
    });
    expect(envOf('ClicksFunction').TOKEN_SECRET_ARN).toBeUndefined();
    expect(envOf('RetryFunction').TOKEN_SECRET_ARN).toBeUndefined();
    // The Partnerize API keys (order updates): the retry function alone, by ARN.
    expect(envOf('RetryFunction').PARTNERIZE_API_KEYS_SECRET_ARN).toEqual({
      Ref: logicalId('AWS::SecretsManager::Secret', 'PartnerizeApiKeys'),
    });
    expect(envOf('PostbacksFunction').PARTNERIZE_API_KEYS_SECRET_ARN).toBeUndefined();
    expect(envOf('ClicksFunction').PARTNERIZE_API_KEYS_SECRET_ARN).toBeUndefined();
    for (const prefix of ['ClicksFunction', 'PostbacksFunction', 'RetryFunction', 'ReconcileFunction'])
      expect(envOf(prefix).POSTBACK_TOKEN).toBeUndefined();
  });

  it('each function gets the settings it reads and no others, and a table only with its grant', () => {
    const fns = resourcesOf(built.template, 'AWS::Lambda::Function');
    const envOf = (prefix: string) =>
      fns[logicalId('AWS::Lambda::Function', prefix)]!.Properties.Environment.Variables as Record<string, unknown>;
    for (const fn of ['clicks', 'postbacks', 'retry', 'reconcile'] as const) {
      const prefix = `${fn[0]!.toUpperCase()}${fn.slice(1)}Function`;
      const expected = SETTING_KEYS.filter((k) => SETTINGS[k].for.includes(fn)).map((k) => envName(k));
      const settingVars = Object.keys(envOf(prefix)).filter((v) => SETTING_KEYS.some((k) => envName(k) === v));
      expect(settingVars.sort(), fn).toEqual(expected.sort());
    }
    expect(envOf('ClicksFunction').TOKEN_CACHE_S).toBeUndefined();
    expect(envOf('RetryFunction').CLICKS_TABLE).toBeUndefined();
    expect(actionsOf(statementsOf(built.template, 'RetryFunction')).filter((a) => a.startsWith('dynamodb:'))).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
  });

  it('the retry function gets its run bounds from config (a deploy sets them; none is left to the console)', () => {
    const envOf = (b: { template: typeof built.template }) =>
      Object.entries(resourcesOf(b.template, 'AWS::Lambda::Function')).find(([id]) => id.startsWith('RetryFunction'))![1].Properties
        .Environment.Variables;
    expect(envOf(built)).toMatchObject({
      SWEEP_SENDS_PER_SECOND: '50',
      SWEEP_LIMIT: '5000',
      SWEEP_CONCURRENCY: '16',
      SWEEP_BUDGET_MS: '45000',
    });
    expect(
      envOf(buildStack({ sweepSendsPerSecond: '20', sweepLimit: '1000', sweepConcurrency: '8', sweepBudgetMs: '30000' })),
    ).toMatchObject({
      SWEEP_SENDS_PER_SECOND: '20',
      SWEEP_LIMIT: '1000',
      SWEEP_CONCURRENCY: '8',
      SWEEP_BUDGET_MS: '30000',
    });
  });

  it('the retry function runs every minute', () => {
    built.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId('AWS::Lambda::Function', 'RetryFunction'), 'Arn'] } })],
    });
  });

  it('every log group (four functions, API access logs) has retention', () => {
    const groups = Object.values(resourcesOf(built.template, 'AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(5);
    for (const g of groups) expect(g.Properties.RetentionInDays).toBe(built.config.logRetentionDays);
  });
});

describe('tables', () => {
  it('Clicks: partition key sessionId, TTL expiresAt, PITR, encrypted, retained', () => {
    const id = logicalId('AWS::DynamoDB::GlobalTable', 'TablesClicks');
    const t = resourcesOf(built.template, 'AWS::DynamoDB::GlobalTable')[id]!;
    expect(t.Properties.KeySchema).toEqual([{ AttributeName: 'sessionId', KeyType: 'HASH' }]);
    expect(t.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(t.Properties.BillingMode).toBe('PAY_PER_REQUEST');
    expect(t.Properties.SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS' });
    expect(t.Properties.Replicas[0].PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(t.DeletionPolicy).toBe('Retain');
  });

  it('Conversions: partition key conversionRef, TTL, a sparse KEYS_ONLY index on dueShard/dueAt, a KEYS_ONLY index on campaignId/orderTime', () => {
    const id = logicalId('AWS::DynamoDB::GlobalTable', 'TablesConversions');
    const t = resourcesOf(built.template, 'AWS::DynamoDB::GlobalTable')[id]!;
    expect(t.Properties.KeySchema).toEqual([{ AttributeName: 'conversionRef', KeyType: 'HASH' }]);
    expect(t.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(t.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'due',
        KeySchema: [
          { AttributeName: 'dueShard', KeyType: 'HASH' },
          { AttributeName: 'dueAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
      {
        IndexName: 'campaignTime',
        KeySchema: [
          { AttributeName: 'campaignId', KeyType: 'HASH' },
          { AttributeName: 'orderTime', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ]);
    expect(t.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'dueAt', AttributeType: 'N' },
        { AttributeName: 'dueShard', AttributeType: 'S' },
        { AttributeName: 'campaignId', AttributeType: 'S' },
        { AttributeName: 'orderTime', AttributeType: 'N' },
      ]),
    );
    expect(t.DeletionPolicy).toBe('Retain');
  });

  it('can be destroyed with the stack when configured', () => {
    const t = Object.values(resourcesOf(buildStack({ tableRemovalPolicy: 'destroy' }).template, 'AWS::DynamoDB::GlobalTable'));
    expect(t.every((x) => x.DeletionPolicy === 'Delete')).toBe(true);
  });
});

describe('secret and least privilege', () => {
  it('the postback token is generated by Secrets Manager; its value is nowhere in the template', () => {
    built.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ PasswordLength: 48, ExcludePunctuation: true }),
    });
    const json = JSON.stringify(built.template.toJSON());
    expect(json).not.toMatch(/"SecretString"/);
    expect(json).not.toMatch(/POSTBACK_TOKEN/);
  });

  const tableArn = (prefix: string) => ({ 'Fn::GetAtt': [logicalId('AWS::DynamoDB::GlobalTable', prefix), 'Arn'] });
  const grants = (fn: string) =>
    statementsOf(built.template, fn).map((st) => ({ actions: actionsOf([st]), resources: [st.Resource].flat() }));
  const logsGrant = (fn: string) => ({
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [{ 'Fn::GetAtt': [logicalId('AWS::Logs::LogGroup', `${fn}Logs`), 'Arn'] }],
  });

  it('clicks: PutItem on the clicks table and its own log group, nothing else', () => {
    expect(grants('ClicksFunction')).toEqual([
      logsGrant('ClicksFunction'),
      { actions: ['dynamodb:PutItem'], resources: [tableArn('TablesClicks')] },
    ]);
  });

  it("postbacks: read a click, create/read/update conversions, read its secret and its versions' labels", () => {
    expect(grants('PostbacksFunction')).toEqual([
      logsGrant('PostbacksFunction'),
      { actions: ['dynamodb:GetItem'], resources: [tableArn('TablesClicks')] },
      { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [tableArn('TablesConversions')] },
      // DescribeSecret: an unknown token is decided by one call that says which versions carry the labels.
      {
        actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        resources: [{ Ref: logicalId('AWS::SecretsManager::Secret', 'PostbackToken') }],
      },
    ]);
  });

  it("with enableSegmentSignatures: Segment's shared secret, generated, bound to the postbacks function alone, and its ARN as an output", () => {
    const segment = buildStack({ enableSegmentSignatures: true });
    const secrets = resourcesOf(segment.template, 'AWS::SecretsManager::Secret');
    const id = Object.keys(secrets).find((k) => k.startsWith('SegmentSharedSecret'))!;
    expect(secrets[id]!.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 48, ExcludePunctuation: true });
    const fns = resourcesOf(segment.template, 'AWS::Lambda::Function');
    const envOf = (prefix: string) => Object.entries(fns).find(([k]) => k.startsWith(prefix))![1].Properties.Environment.Variables;
    expect(envOf('PostbacksFunction').SEGMENT_SECRET_ARN).toEqual({ Ref: id });
    expect(envOf('ClicksFunction').SEGMENT_SECRET_ARN).toBeUndefined();
    expect(envOf('RetryFunction').SEGMENT_SECRET_ARN).toBeUndefined();
    const read = statementsOf(segment.template, 'PostbacksFunction').filter((st) =>
      actionsOf([st]).includes('secretsmanager:GetSecretValue'),
    );
    expect(read.flatMap((st) => [st.Resource].flat())).toEqual([
      { Ref: logicalId('AWS::SecretsManager::Secret', 'PostbackToken') },
      { Ref: id },
    ]);
    expect(read.every((st) => actionsOf([st]).includes('secretsmanager:DescribeSecret'))).toBe(true);
    const outputs = segment.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs['SegmentSharedSecretArn']!.Value).toEqual({ Ref: id });
    // Off by default: no secret, no variable, no output.
    expect(Object.keys(resourcesOf(built.template, 'AWS::SecretsManager::Secret')).some((k) => k.startsWith('SegmentSharedSecret'))).toBe(
      false,
    );
    expect((built.template.toJSON().Outputs as Record<string, unknown>)['SegmentSharedSecretArn']).toBeUndefined();
  });

  it('retry: query the due index only, read/create/update conversions (bulk jobs, approvals), read the API keys; no clicks, no token', () => {
    expect(grants('RetryFunction')).toEqual([
      logsGrant('RetryFunction'),
      { actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [tableArn('TablesConversions')] },
      { actions: ['dynamodb:Query'], resources: [{ 'Fn::Join': ['', [tableArn('TablesConversions'), '/index/due']] }] },
      { actions: ['secretsmanager:GetSecretValue'], resources: [{ Ref: logicalId('AWS::SecretsManager::Secret', 'PartnerizeApiKeys') }] },
    ]);
  });

  it('the Partnerize API keys secret is created empty: no value, generated or given, in the template', () => {
    const secret = resourcesOf(built.template, 'AWS::SecretsManager::Secret')[
      logicalId('AWS::SecretsManager::Secret', 'PartnerizeApiKeys')
    ]!;
    expect(secret.Properties.GenerateSecretString).toBeUndefined();
    expect(secret.Properties.SecretString).toBeUndefined();
    expect(secret.Properties.Description).toMatch(/applicationKey.*userApiKey/);
  });

  it('no function uses a managed policy', () => {
    for (const role of Object.values(resourcesOf(built.template, 'AWS::IAM::Role')))
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('no statement grants a wildcard action', () => {
    for (const p of Object.values(resourcesOf(built.template, 'AWS::IAM::Policy'))) {
      for (const s of p.Properties.PolicyDocument.Statement) expect(JSON.stringify(s.Action)).not.toContain('*');
    }
  });
});

describe('outputs', () => {
  it('give the URLs, table names and the secret ARN (never its value)', () => {
    const outputs = built.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).sort()).toEqual([
      'AlarmTopicArn',
      'ApiAccessLogGroupName',
      'ApiUrl',
      'ClicksLogGroupName',
      'ClicksTableName',
      'ClicksUrl',
      'ConversionsTableName',
      'DashboardName',
      'OperatorSettings',
      'PartnerizeApiKeysSecretArn',
      'PartnerizeMode',
      'PostbackTokenSecretArn',
      'PostbacksLogGroupName',
      'PostbacksUrl',
      'ReconcileFunctionName',
      'ReconcileLogGroupName',
      'RetryLogGroupName',
    ]);
    // The CLI applies the stack's own settings (a custom duplicate answer, the retry schedule…).
    expect(JSON.parse(outputs['OperatorSettings']!.Value as string)).toMatchObject({
      partnerizeDuplicateAnswer: 'duplicat|already',
      leaseSeconds: 30,
    });
    // The CLI reads the mode: against a dry-run stack it sends nothing unless told --live.
    expect(outputs['PartnerizeMode']!.Value).toBe('dryrun');
    expect(outputs['PostbackTokenSecretArn']!.Value).toEqual({ Ref: logicalId('AWS::SecretsManager::Secret', 'PostbackToken') });
    expect(JSON.stringify(outputs['ClicksUrl']!.Value)).toContain('/clicks');
    expect(JSON.stringify(outputs['PostbacksUrl']!.Value)).toContain('/postbacks');
  });

  it('name the conversionRef prefix when one is configured (the CLI adds it to order ids)', () => {
    const outputs = buildStack({ conversionRefPrefix: 'TEST-' }).template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs['ConversionRefPrefix']!.Value).toBe('TEST-');
  });
});

describe('config warnings', () => {
  it('live without an alarm destination synthesizes, with a warning on the stack', () => {
    const b = buildStack({ partnerizeMode: 'live', partnerizeCampaignId: '1011l270' });
    const warnings = Annotations.fromStack(b.stack).findWarning('*', Match.stringLikeRegexp('no alarm reaches anyone'));
    expect(warnings).toHaveLength(1);
    expect(Annotations.fromStack(built.stack).findWarning('*', Match.stringLikeRegexp('no alarm reaches anyone'))).toEqual([]);
  });
});
