/**
 * Where the CLI works: the local mode (found through its info endpoint) or a deployed stack (found
 * through CloudFormation outputs; region and credentials from the usual AWS settings).
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { systemClock } from '#lambdas/adapters/clock.js';
import { newId } from '#lambdas/adapters/ids.js';
import { DynamoClickStore, DynamoConversionAdmin } from '#lambdas/adapters/dynamodb-stores.js';
import { DynamoReconciliation, DynamoUpdateAdmin } from '#lambdas/adapters/dynamodb-reconcile.js';
import { secretCredentials } from '#lambdas/adapters/api-credentials.js';
import { createPartnerizeApi, staticCredentials, type CredentialSource } from '#lambdas/adapters/partnerize-api.js';
import { createFetchSender, dryRunSender } from '#lambdas/adapters/partnerize-sender.js';
import { tokenOf } from '#lambdas/adapters/token-source.js';
import {
  defaultSettings,
  ENV_NAMING,
  OPERATOR_SETTINGS,
  readSettings,
  envName,
  trackerConfig,
  type Settings,
} from '#lambdas/core/settings.js';
import { silentLog } from '#lambdas/observability/logger.js';
import { noMetrics } from '#lambdas/core/metrics.js';
import type { AdminDeps, ApiCredentials, PartnerizeApi, ReconciliationStore } from '#lambdas/core/model.js';
import { apiKeysFromEnv, ENV, EnvError, settingFromEnv } from '#lambdas/runtime/env.js';
import { LOCAL_AWS_ENV, localDynamoClient } from '../local/embedded-dynamodb.js';
import { LOCAL_API_PROXY_PATH, LOCAL_INFO_PATH, type LocalInfo } from '../local/server.js';

/** The tracker's mode as the target reports it (`unknown`: a stack deployed before it said). */
export type TargetMode = 'live' | 'dryrun' | 'unknown';

export interface Target {
  /** "local http://127.0.0.1:3000" or "stack PartnerizeS2S" */
  label: string;
  mode: TargetMode;
  apiUrl: string;
  conversionRefPrefix: string;
  deps: AdminDeps;
  /** The reconciliation's reads of the target's conversions table. */
  reconciliation: ReconciliationStore;
  /** Whether the target said which campaigns it has (a stack deployed before it published them did not). */
  campaignsKnown: boolean;
  /**
   * Partnerize's API for the conversion report: with the keys in `env` (PARTNERIZE_APPLICATION_KEY,
   * PARTNERIZE_USER_API_KEY; PARTNERIZE_API_BASE_URL), else the target's own (the stack's secret;
   * the local mode's keys, used by the local server on the CLI's behalf).
   */
  partnerizeApi(env: Record<string, string | undefined>): PartnerizeApi;
  token(): Promise<string>;
  close(): void;
}

export class TargetError extends Error {
  override name = 'TargetError';
}

export interface CliOptions {
  /** The operator said --live: calls may leave this process even if the tracker runs a dry run. */
  live: boolean;
}

/**
 * The CLI's dependencies. Its sender calls Partnerize only when the tracker runs live or the
 * operator said --live: a dry run is dry for the CLI too.
 */
function cliDeps(
  db: DynamoDBClient,
  tables: { clicks: string; conversions: string },
  mode: TargetMode,
  opts: CliOptions,
  published: Partial<Settings> | undefined,
): AdminDeps {
  const live = mode === 'live' || opts.live;
  return {
    // The target's own settings where it publishes them (an older stack does not: the defaults then).
    config: trackerConfig({ ...defaultSettings(), ...publishedSettings(published), partnerizeMode: live ? 'live' : 'dryrun' }),
    clicks: new DynamoClickStore(db, tables.clicks),
    conversions: new DynamoConversionAdmin(db, tables.conversions),
    updates: new DynamoUpdateAdmin(db, tables.conversions),
    sender: live ? createFetchSender('partnerize-s2s-tracker-cli') : dryRunSender,
    clock: systemClock,
    newId,
    random: Math.random,
    log: silentLog,
    metrics: noMetrics,
  };
}

/** The operator's own keys, when both are in the CLI's environment (one alone is a mistake, said so: runtime/env.ts). */
function keysFromEnv(env: Record<string, string | undefined>): ApiCredentials | undefined {
  try {
    return apiKeysFromEnv(env);
  } catch (err) {
    if (err instanceof EnvError) throw new TargetError(err.message);
    throw err;
  }
}

const apiUserAgent = 'partnerize-s2s-tracker-cli';

export async function localTarget(url: string, opts: CliOptions): Promise<Target> {
  const base = url.replace(/\/+$/, '');
  let info: LocalInfo;
  try {
    const res = await fetch(base + LOCAL_INFO_PATH, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    info = (await res.json()) as LocalInfo;
  } catch (err) {
    throw new TargetError(
      `no local endpoint answers at ${base} (${(err as Error).message}): start it with npm start, or pass --local <url> or --stack <name>`,
    );
  }
  const db = localDynamoClient(info.dynamodbEndpoint);
  const deps = cliDeps(db, info.tables, info.mode, opts, info.settings);
  return {
    label: `local ${base}`,
    mode: info.mode,
    apiUrl: base,
    conversionRefPrefix: deps.config.conversionRefPrefix,
    deps,
    reconciliation: new DynamoReconciliation(db, info.tables.conversions),
    campaignsKnown: true,
    partnerizeApi: (env) => {
      const keys = keysFromEnv(env);
      if (keys)
        return createPartnerizeApi({
          baseUrl: settingFromEnv(env, 'partnerizeApiBaseUrl') ?? deps.config.partnerizeApiBaseUrl,
          credentials: staticCredentials(keys),
          userAgent: apiUserAgent,
        });
      if (!info.apiKeysSet)
        throw new TargetError(
          `no Partnerize API keys: start the local mode with ${ENV.partnerizeApplicationKey} and ${ENV.partnerizeUserApiKey} (and ${envName('partnerizeApiBaseUrl')}), or give them to pz`,
        );
      // The local server reads the report with its own keys on the CLI's behalf: they never leave it.
      return createPartnerizeApi({
        baseUrl: `${base}${LOCAL_API_PROXY_PATH}`,
        credentials: staticCredentials({ applicationKey: 'local-mode', userApiKey: 'local-mode' }),
        userAgent: apiUserAgent,
      });
    },
    token: async () => info.token,
    close: () => db.destroy(),
  };
}

const modeOf = (v: string | undefined): TargetMode => (v === 'live' || v === 'dryrun' ? v : 'unknown');

const parseOutput = (v: string | undefined): Partial<Settings> | undefined => {
  if (!v) return undefined;
  try {
    return JSON.parse(v) as Partial<Settings>;
  } catch {
    throw new TargetError(`the stack's OperatorSettings output is not JSON: ${v.slice(0, 80)}`);
  }
};

/** Published settings, checked by the same readers as everywhere (a bad one is named). */
function publishedSettings(published: Partial<Settings> | undefined): Partial<Settings> {
  if (!published) return {};
  const keys = OPERATOR_SETTINGS.filter((k) => published[k] !== undefined);
  const read = readSettings((k) => (keys.includes(k as (typeof keys)[number]) ? published[k] : undefined), ENV_NAMING);
  return Object.fromEntries(keys.map((k) => [k, read[k]]));
}

export const STACK_OUTPUTS = ['ApiUrl', 'ClicksTableName', 'ConversionsTableName', 'PostbackTokenSecretArn'] as const;

/** A deployed stack's CloudFormation outputs, by key. */
export async function stackOutputs(stackName: string, region?: string): Promise<Record<string, string>> {
  const cfn = new CloudFormationClient(region ? { region } : {});
  try {
    const r = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = r.Stacks?.[0];
    if (!stack) throw new Error('not found');
    return Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } catch (err) {
    throw new TargetError(`cannot read stack ${stackName}: ${(err as Error).message} (check --region / AWS_REGION and your credentials)`);
  } finally {
    cfn.destroy();
  }
}

export async function stackTarget(stackName: string, region: string | undefined, opts: CliOptions): Promise<Target> {
  const clientOpts = region ? { region } : {};
  const outputs = await stackOutputs(stackName, region);
  const missing = STACK_OUTPUTS.filter((k) => !outputs[k]);
  if (missing.length > 0) throw new TargetError(`stack ${stackName} has no output ${missing.join(', ')}: is it this tracker's stack?`);
  const db = new DynamoDBClient(clientOpts);
  const mode = modeOf(outputs['PartnerizeMode']);
  const published = parseOutput(outputs['OperatorSettings']);
  const deps = cliDeps(db, { clicks: outputs['ClicksTableName']!, conversions: outputs['ConversionsTableName']! }, mode, opts, published);
  return {
    label: `stack ${stackName}`,
    mode,
    apiUrl: outputs['ApiUrl']!.replace(/\/+$/, ''),
    conversionRefPrefix: outputs['ConversionRefPrefix'] ?? '',
    deps,
    reconciliation: new DynamoReconciliation(db, outputs['ConversionsTableName']!),
    campaignsKnown: published?.partnerizeCampaignId !== undefined,
    partnerizeApi: (env) => {
      const keys = keysFromEnv(env);
      const secretArn = outputs['PartnerizeApiKeysSecretArn'];
      let credentials: CredentialSource;
      if (keys) credentials = staticCredentials(keys);
      else if (secretArn) credentials = secretCredentials(new SecretsManagerClient(clientOpts), secretArn);
      else
        throw new TargetError(
          `stack ${stackName} has no PartnerizeApiKeysSecretArn output: give pz the keys (${ENV.partnerizeApplicationKey}, ${ENV.partnerizeUserApiKey})`,
        );
      return createPartnerizeApi({
        baseUrl: settingFromEnv(env, 'partnerizeApiBaseUrl') ?? deps.config.partnerizeApiBaseUrl,
        credentials,
        userAgent: apiUserAgent,
      });
    },
    token: async () => {
      const sm = new SecretsManagerClient(clientOpts);
      try {
        const s = await sm.send(new GetSecretValueCommand({ SecretId: outputs['PostbackTokenSecretArn'] }));
        if (!s.SecretString) throw new TargetError('the postback token secret is empty');
        return tokenOf(s.SecretString);
      } finally {
        sm.destroy();
      }
    },
    close: () => db.destroy(),
  };
}

export { LOCAL_AWS_ENV };
