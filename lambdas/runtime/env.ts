/**
 * The one place a function's environment is read. Every variable has its name here (the settings'
 * names are in core/settings.ts), and every reader fails loudly at init, naming the variable: a
 * function with a bad environment must not start, rather than run on a silent fallback. Only the
 * entry files (lambdas/clicks.ts, …) hand `process.env` in; the local mode and the tests hand in
 * their own records.
 */
import type { ApiCredentials } from '../core/model.js';
import { settingsFromEnv, SettingsError, trackerConfig, type Env, type TrackerConfig } from '../core/settings.js';
import { LOG_LEVELS, type LogLevel } from '../observability/logger.js';
import { METRICS_NAMESPACE } from '../observability/metrics.js';

/** What the stack (or the local mode) sets besides the settings: where things are. */
export const ENV = {
  clicksTable: 'CLICKS_TABLE',
  conversionsTable: 'CONVERSIONS_TABLE',
  /** Points DynamoDB at the local mode's embedded dynalite. */
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  /** The Secrets Manager secret holding the postback token (AWS). */
  tokenSecretArn: 'TOKEN_SECRET_ARN',
  /** The postback token itself (local mode only; the stack never sets it). */
  postbackToken: 'POSTBACK_TOKEN',
  /** The Secrets Manager secret holding Segment's webhook shared secret (AWS, with enableSegmentSignatures). */
  segmentSecretArn: 'SEGMENT_SECRET_ARN',
  /** Segment's webhook shared secret itself (local mode only). Neither set: X-Signature is not accepted. */
  segmentSharedSecret: 'SEGMENT_SHARED_SECRET',
  /** The Secrets Manager secret holding the Partnerize API keys (AWS; the retry function only). */
  partnerizeApiKeysSecretArn: 'PARTNERIZE_API_KEYS_SECRET_ARN',
  /** The Partnerize API keys themselves (local mode only; the stack never sets them). */
  partnerizeApplicationKey: 'PARTNERIZE_APPLICATION_KEY',
  partnerizeUserApiKey: 'PARTNERIZE_USER_API_KEY',
  /**
   * The Secrets Manager secret holding the value CloudFront adds in front of the API with the
   * optional WAF: the functions read it at run time, so it is in no function's configuration.
   */
  originVerifySecretArn: 'ORIGIN_VERIFY_SECRET_ARN',
  /** The `service` dimension of metrics and the `service` of log lines: the stack name. */
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  metricsDisabled: 'POWERTOOLS_METRICS_DISABLED',
  /** Lambda's application log level; the Powertools variable people already use; a plain one. */
  logLevels: ['AWS_LAMBDA_LOG_LEVEL', 'POWERTOOLS_LOG_LEVEL', 'LOG_LEVEL'],
} as const;

export class EnvError extends Error {
  override name = 'EnvError';
}

export function required(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v.trim() === '') throw new EnvError(`${name} is not set`);
  return v;
}

const optional = (env: Env, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
};

export interface Observability {
  service: string;
  namespace: string;
  metricsDisabled: boolean;
  logLevel: LogLevel;
}

export function observabilityFromEnv(env: Env): Observability {
  const levelVar = ENV.logLevels.find((n) => optional(env, n) !== undefined);
  const given = levelVar ? env[levelVar]!.trim().toUpperCase() : 'INFO';
  // Lambda's own levels include TRACE and FATAL: the nearest of ours.
  const level = ({ TRACE: 'DEBUG', FATAL: 'CRITICAL' } as Record<string, string>)[given] ?? given;
  if (!(level in LOG_LEVELS))
    throw new EnvError(`${levelVar} must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got '${env[levelVar!]}'`);
  const disabled = optional(env, ENV.metricsDisabled)?.toLowerCase();
  if (disabled !== undefined && !['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(disabled)) {
    throw new EnvError(`${ENV.metricsDisabled} must be true or false, got '${env[ENV.metricsDisabled]}'`);
  }
  return {
    service: optional(env, ENV.serviceName) ?? 'partnerize-s2s',
    namespace: optional(env, ENV.metricsNamespace) ?? METRICS_NAMESPACE,
    metricsDisabled: disabled !== undefined && ['true', '1', 'yes', 'on'].includes(disabled),
    logLevel: level as LogLevel,
  };
}

/** The settings as the functions use them; a bad one names its variable. */
export function configFromEnv(env: Env): TrackerConfig {
  try {
    return trackerConfig(settingsFromEnv(env));
  } catch (err) {
    if (err instanceof SettingsError) throw new EnvError(err.message);
    throw err;
  }
}

/** Where the postback token comes from: the secret (AWS) or the variable (local mode). */
export type TokenLocation = { secretArn: string } | { token: string };

export function tokenLocationFromEnv(env: Env): TokenLocation {
  const secretArn = optional(env, ENV.tokenSecretArn);
  if (secretArn) return { secretArn };
  const token = optional(env, ENV.postbackToken);
  if (token) return { token };
  throw new EnvError(`neither ${ENV.tokenSecretArn} nor ${ENV.postbackToken} is set`);
}

/** Where Segment's webhook shared secret comes from, if signatures are accepted at all. */
export function segmentSecretLocationFromEnv(env: Env): TokenLocation | undefined {
  const secretArn = optional(env, ENV.segmentSecretArn);
  if (secretArn) return { secretArn };
  const token = optional(env, ENV.segmentSharedSecret);
  return token ? { token } : undefined;
}

/**
 * Where the Partnerize API keys come from: the secret (AWS), the two variables (local mode), or
 * nowhere yet (order updates wait). One key without the other is a mistake, refused at start.
 */
export type ApiKeysLocation = { secretArn: string } | { keys: ApiCredentials } | { none: true };

export function apiKeysLocationFromEnv(env: Env): ApiKeysLocation {
  const secretArn = optional(env, ENV.partnerizeApiKeysSecretArn);
  if (secretArn) return { secretArn };
  const applicationKey = optional(env, ENV.partnerizeApplicationKey);
  const userApiKey = optional(env, ENV.partnerizeUserApiKey);
  if (applicationKey && userApiKey) return { keys: { applicationKey: applicationKey.trim(), userApiKey: userApiKey.trim() } };
  if (applicationKey || userApiKey) {
    const [set, unset] = applicationKey
      ? [ENV.partnerizeApplicationKey, ENV.partnerizeUserApiKey]
      : [ENV.partnerizeUserApiKey, ENV.partnerizeApplicationKey];
    throw new EnvError(`${set} is set but ${unset} is not: Partnerize's API takes both (user application key and user API key)`);
  }
  return { none: true };
}

export const originVerifySecretArnFromEnv = (env: Env): string | undefined => optional(env, ENV.originVerifySecretArn);
export const dynamodbEndpointFromEnv = (env: Env): string | undefined => optional(env, ENV.dynamodbEndpoint);
