import { type Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, ApplicationLogLevel, LoggingFormat, Runtime, SystemLogLevel } from 'aws-cdk-lib/aws-lambda';
import { Charset, LogLevel, NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import { METRICS_NAMESPACE } from '#lambdas/observability/metrics.js';
import { lambdaEntry, PROJECT_ROOT } from '../paths.js';

/**
 * An ESM bundle that still calls `require` (the AWS SDK does, for node: built-ins) fails at load
 * with "Dynamic require of … is not supported" unless `require` exists: give it one.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

export const RUNTIME = Runtime.NODEJS_24_X;

/** The esbuild settings of every function: also what `npm run bench` measures. */
export const BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node24',
  platform: 'node',
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: false,
  banner: ESM_REQUIRE_BANNER,
  bundleAwsSDK: true,
  externalModules: [],
  charset: Charset.UTF8,
  logLevel: LogLevel.WARNING,
  forceDockerBundling: false,
} as BundlingOptions;

export interface TrackingFunctionProps {
  /** Entry module under lambdas/, without extension: `clicks`, `postbacks`, `retry`, `reconcile`. */
  entry: string;
  description: string;
  environment: Record<string, string>;
  memorySize: number;
  timeout: Duration;
  logRetentionDays: number;
}

/**
 * One function construct with the project's defaults: Node 24 on arm64, an ESM bundle built and
 * minified by the local esbuild (never Docker), JSON logs with a retained log group.
 */
export class TrackingFunction extends NodejsFunction {
  readonly logGroupArn: string;
  readonly logGroupName: string;

  constructor(scope: Construct, id: string, props: TrackingFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: props.logRetentionDays as RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role, allowed to write to its own log group only (instead of the managed
    // AWSLambdaBasicExecutionRole, which may write to any log group).
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (${Stack.of(scope).stackName})`,
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    super(scope, id, {
      role,
      entry: lambdaEntry(props.entry),
      handler: 'handler',
      runtime: RUNTIME,
      architecture: Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize,
      timeout: props.timeout,
      environment: {
        // The `service` dimension of every metric: the stack name, so two stacks never mix.
        POWERTOOLS_SERVICE_NAME: Stack.of(scope).stackName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...props.environment,
      },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      bundling: BUNDLING,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      logGroup,
    });
    this.logGroupArn = logGroup.logGroupArn;
    this.logGroupName = logGroup.logGroupName;
  }

  /**
   * Gives the function a table: its name in `variable` and exactly `actions` on it (and on
   * `index`, for queries) — in one call, so the variable and the grant cannot drift apart.
   */
  bindTable(variable: string, table: ITable, actions: readonly string[], index?: { name: string; actions: readonly string[] }): this {
    this.addEnvironment(variable, table.tableName);
    this.addToRolePolicy(new PolicyStatement({ actions: [...actions], resources: [table.tableArn] }));
    if (index)
      this.addToRolePolicy(new PolicyStatement({ actions: [...index.actions], resources: [`${table.tableArn}/index/${index.name}`] }));
    return this;
  }

  /** Gives the function a secret: its ARN in `variable` and the right to read it. */
  bindSecret(variable: string, secret: ISecret, actions: readonly string[] = ['secretsmanager:GetSecretValue']): this {
    this.addEnvironment(variable, secret.secretArn);
    this.addToRolePolicy(new PolicyStatement({ actions: [...actions], resources: [secret.secretArn] }));
    return this;
  }

  /**
   * Gives the function a secret it checks presented values against (the postback token, Segment's
   * shared secret, the origin-verify value: lambdas/adapters/token-source.ts). Besides the values,
   * DescribeSecret: which version carries each label, no value. One such call decides an unknown
   * value when nothing changed since the last read.
   */
  bindTokenSecret(variable: string, secret: ISecret): this {
    return this.bindSecret(variable, secret, ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']);
  }
}
