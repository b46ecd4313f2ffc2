/**
 * The one place an environment is read: a function's (the entry files hand `process.env` in; the
 * local mode and the tests hand in their own records) and the local mode's own. Every variable has
 * its name here (the settings' names are rows of core/settings.ts, through envName), and every
 * reader fails loudly at start, naming the variable: a process with a bad environment must not
 * start, rather than run on a silent fallback.
 */
import type { Converted } from '../core/fields.js';
import type { ApiCredentials } from '../core/model.js';
import { positiveNumber, textList, wholeNumber, type Reader } from '../core/setting-readers.js';
import {
  ENV_NAMING,
  envName,
  readSettings,
  SETTINGS,
  SettingsError,
  trackerConfig,
  type SettingKey,
  type Settings,
  type TrackerConfig,
} from '../core/settings.js';
import { LOG_LEVELS, type LogLevel } from '../observability/logger.js';
import { METRICS_NAMESPACE } from '../observability/metrics.js';

/** An environment: `process.env`, or a record standing for it. */
export type Env = Readonly<Record<string, string | undefined>>;

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
  /** The Partnerize API keys themselves (the local mode, the operator CLI; the stack never sets them). */
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

/**
 * The local mode's own variables (README "Local mode settings" lists their names and defaults, which
 * scripts rely on). No function reads them; the local mode reads these, the settings and ENV's.
 */
export const LOCAL_ENV = {
  /** The port on 127.0.0.1 (`0` picks a free one). */
  port: 'PORT',
  /** Where the embedded DynamoDB keeps its tables (and the generated postback token); unset: in memory. */
  dataDir: 'DATA_DIR',
  /** How often the retry function runs, in seconds. */
  sweepIntervalS: 'SWEEP_INTERVAL_S',
  /** The browser origins /clicks answers with CORS headers. */
  clickOrigins: 'CLICK_ORIGINS',
  /** Connections open at once; past it new ones are dropped. */
  maxConnections: 'MAX_CONNECTIONS',
} as const;

export class EnvError extends Error {
  override name = 'EnvError';
}

export function required(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v.trim() === '') throw new EnvError(`${name} is not set`);
  return v;
}

/** A variable's value; unset or blank: undefined. */
export const optional = (env: Env, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
};

/**
 * A variable read by one of the settings' readers (core/setting-readers.ts), `fallback` when it is
 * unset (or blank, with `blankIsUnset`); a value the reader refuses names the variable.
 */
function variable<T>(env: Env, name: string, read: Reader<T>, fallback: T, opts: { blankIsUnset?: boolean } = {}): T {
  const raw = opts.blankIsUnset ? optional(env, name) : env[name];
  if (raw === undefined) return fallback;
  const r = read(raw);
  if (!r.ok) throw new EnvError(`${name} ${r.message}`);
  return r.value;
}

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

/** The settings from their variables; absent ones take their defaults; a bad one names its variable (SettingsError). */
export const settingsFromEnv = (env: Env): Settings => readSettings((key) => env[envName(key)], ENV_NAMING);

/**
 * One setting from its variable, read as the functions read it (the CLI's environment holds only
 * the few an operator sets): undefined when unset or blank; a bad value names its variable.
 */
export function settingFromEnv<K extends SettingKey>(env: Env, key: K): Settings[K] | undefined {
  const raw = optional(env, envName(key));
  if (raw === undefined) return undefined;
  const r = (SETTINGS[key].read as Reader<Settings[K]>)(raw) as Converted<Settings[K]>;
  if (!r.ok) throw new EnvError(`${envName(key)} ${r.message}`);
  return r.value;
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
  const keys = apiKeysFromEnv(env);
  return keys ? { keys } : { none: true };
}

/**
 * The Partnerize API keys given as the two variables (the local mode, the operator CLI): both, or
 * neither. One without the other is a mistake, refused naming both: Partnerize's API takes both.
 */
export function apiKeysFromEnv(env: Env): ApiCredentials | undefined {
  const applicationKey = optional(env, ENV.partnerizeApplicationKey)?.trim();
  const userApiKey = optional(env, ENV.partnerizeUserApiKey)?.trim();
  if (applicationKey && userApiKey) return { applicationKey, userApiKey };
  if (applicationKey || userApiKey) {
    const [set, unset] = applicationKey
      ? [ENV.partnerizeApplicationKey, ENV.partnerizeUserApiKey]
      : [ENV.partnerizeUserApiKey, ENV.partnerizeApplicationKey];
    throw new EnvError(`${set} is set but ${unset} is not: Partnerize's API takes both (user application key and user API key)`);
  }
  return undefined;
}

export const originVerifySecretArnFromEnv = (env: Env): string | undefined => optional(env, ENV.originVerifySecretArn);
export const dynamodbEndpointFromEnv = (env: Env): string | undefined => optional(env, ENV.dynamodbEndpoint);

/** The local mode's environment, read and checked at start (README "Local mode settings"). */
export interface LocalModeEnv {
  port: number;
  /** The functions' settings, from the same variables the functions read (core/settings.ts). */
  functions: Settings;
  /** POSTBACK_TOKEN; unset: the local mode generates one (kept in DATA_DIR when there is one). */
  givenToken: string | undefined;
  dataDir: string | undefined;
  sweepIntervalS: number;
  clickOrigins: string[];
  maxConnections: number;
  /** The Partnerize API keys, both or neither (unset: order updates are kept and wait). */
  apiKeys: ApiCredentials | undefined;
  /**
   * The functions' own variables the local mode hands on as given (Segment's shared secret, the log
   * level, the metrics switch), each read by the function as in AWS. Metrics are off unless asked
   * for: EMF metric lines are for CloudWatch; locally they would only drown the log.
   */
  passedOn: Env;
}

const PASSED_ON = [ENV.segmentSharedSecret, ENV.metricsDisabled, ...ENV.logLevels];

/**
 * The settings of the README's "Local mode settings" table where an empty value has always meant "the
 * default" (`PARTNERIZE_BASE_URL= npm start`); for the others, as in a function, an empty value is
 * a value (an empty list, no prefix) or an error.
 */
const LOCAL_BLANK_MEANS_DEFAULT: readonly SettingKey[] = [
  'partnerizeBaseUrl',
  'partnerizeCampaignId',
  'partnerizeMode',
  'retryDelaysS',
  'partnerizeApiBaseUrl',
];

const withoutBlankDefaults = (env: Env): Env =>
  Object.fromEntries(
    Object.entries(env).filter(([name, v]) => !(v?.trim() === '' && LOCAL_BLANK_MEANS_DEFAULT.some((k) => envName(k) === name))),
  );

export function localModeFromEnv(env: Env): LocalModeEnv {
  return {
    port: variable(env, LOCAL_ENV.port, wholeNumber(0, 65_535), 3000, { blankIsUnset: true }),
    functions: settingsFromEnv(withoutBlankDefaults(env)),
    givenToken: optional(env, ENV.postbackToken),
    dataDir: optional(env, LOCAL_ENV.dataDir),
    sweepIntervalS: variable(env, LOCAL_ENV.sweepIntervalS, positiveNumber(), 60, { blankIsUnset: true }),
    // Set but empty: no origin gets CORS headers.
    clickOrigins: variable(env, LOCAL_ENV.clickOrigins, textList(), ['*']),
    // Enough for a browser (six per host), the CLI and a soak at concurrency 50; a flood is dropped.
    maxConnections: variable(env, LOCAL_ENV.maxConnections, positiveNumber({ whole: true }), 128, { blankIsUnset: true }),
    apiKeys: apiKeysFromEnv(env),
    passedOn: {
      [ENV.metricsDisabled]: 'true',
      ...Object.fromEntries(PASSED_ON.flatMap((n) => (env[n] === undefined ? [] : [[n, env[n]]]))),
    },
  };
}
