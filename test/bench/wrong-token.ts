/**
 * What a wrong postback token costs a warm function: the real postbacks handler (runtime/postbacks.ts,
 * as Lambda builds it) answers N wrong-token requests one after another, as one Lambda instance
 * does, against a fake Secrets Manager (test/support/secrets-manager-model.ts: versions and labels,
 * every call answered after `--latency` ms). Prints ms per 401, Secrets Manager calls per 401, and
 * what a million of them cost; then how long a rotated token waits on the same warm instance.
 *
 * With `--baseline <git revision>` (default: the commit before DescribeSecret was used), the token
 * source of that revision runs the same requests through the same handler, for comparison.
 *
 *   node --import tsx test/bench/wrong-token.ts [--n 20] [--latency 20] [--baseline <rev> | --baseline none]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { TokenSource } from '#lambdas/core/auth.js';
import { createPostbacksHandler } from '#lambdas/handlers/postbacks.js';
import { depsFromEnv } from '#lambdas/runtime/deps.js';
import { ENV } from '#lambdas/runtime/env.js';
import { postbacksFunction } from '#lambdas/runtime/postbacks.js';
import { secretsClient } from '#lambdas/runtime/secrets.js';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { httpEvent } from '../support/events.js';
import { SecretsManagerModel } from '../support/secrets-manager-model.js';
import { PRICES } from './cost-model.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '20' },
    latency: { type: 'string', default: '20' },
    /** The token source before this change: one read = 3 GetSecretValue, at least 1 s apart. */
    baseline: { type: 'string', default: '7bd9959' },
  },
});
const N = Number(args.n);
const LATENCY_MS = Number(args.latency);
/** The postbacks function's memory (cdk.json `postbacksMemoryMb`), arm64. */
const MEMORY_GB = 512 / 1024;

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:PostbackToken-AbCdEf';
const env = {
  [ENV.clicksTable]: 'bench-clicks',
  [ENV.conversionsTable]: 'bench-conversions',
  // Never reached: a 401 is answered before any store is read.
  [ENV.dynamodbEndpoint]: 'http://127.0.0.1:9',
  [ENV.tokenSecretArn]: ARN,
  PARTNERIZE_CAMPAIGN_ID: 'benchcamp',
  PARTNERIZE_MODE: 'dryrun',
  POWERTOOLS_METRICS_DISABLED: 'true',
  LOG_LEVEL: 'ERROR',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
};

type Handler = ReturnType<typeof createPostbacksHandler>;
type TokenSourceClass = new (client: SecretsManagerClient, secretId: string, ttlMs?: number) => TokenSource;

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
const sm = mockClient(SecretsManagerClient);
const context = { getRemainingTimeInMillis: () => 10_000 };
const postback = (token: string | undefined, body: Record<string, unknown> = { event: 'purchase', orderId: 'bench-1' }) =>
  httpEvent({ path: '/postbacks', headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, body });

interface Run {
  name: string;
  coldMs: number;
  coldCalls: number;
  msPer401: number[];
  /** Requests without any token: refused before any read. */
  msPerAnonymous401: number[];
  describesPer401: number;
  getsPer401: number;
  rotatedMs: number;
  rotatedCalls: number;
}

async function measure(name: string, handler: Handler, model: SecretsManagerModel): Promise<Run> {
  const calls = () => model.reads.length + model.describes.length;
  const call = async (token: string | undefined, body?: Record<string, unknown>) => {
    const start = performance.now();
    const r = await handler(postback(token, body), context);
    return { status: r.statusCode, ms: performance.now() - start };
  };
  // The first request of a cold instance reads the whole secret.
  const cold = await call('not-the-token-cold');
  const coldCalls = calls();
  const before = { describes: model.describes.length, gets: model.reads.length };
  const msPer401: number[] = [];
  for (let i = 0; i < N; i += 1) {
    const r = await call(`not-the-token-${i}`);
    if (r.status !== 401) throw new Error(`${name}: expected 401, got ${r.status}`);
    msPer401.push(r.ms);
  }
  const describesPer401 = (model.describes.length - before.describes) / N;
  const getsPer401 = (model.reads.length - before.gets) / N;
  const anonymousFrom = calls();
  const msPerAnonymous401: number[] = [];
  for (let i = 0; i < N; i += 1) {
    const r = await call(undefined);
    if (r.status !== 401) throw new Error(`${name}: expected 401 without a token, got ${r.status}`);
    msPerAnonymous401.push(r.ms);
  }
  if (calls() !== anonymousFrom) throw new Error(`${name}: a request without a token read the secret`);
  // A rotation, then the new token at once, with an order that lacks its id: once the token is
  // accepted the answer is a 400 naming the field, before any store is called (there is none here).
  model.putSecretValue({ SecretId: ARN, SecretString: 'rotated-token-0123456789' });
  const rotatedFrom = calls();
  const rotated = await call('rotated-token-0123456789', { event: 'purchase' });
  if (rotated.status !== 400) throw new Error(`${name}: the rotated token was answered ${rotated.status}, not 400`);
  return {
    name,
    coldMs: cold.ms,
    coldCalls,
    msPer401,
    msPerAnonymous401,
    describesPer401,
    getsPer401,
    rotatedMs: rotated.ms,
    rotatedCalls: calls() - rotatedFrom,
  };
}

/** The token source of `rev`, written where its imports resolve to this checkout's modules. */
async function tokenSourceAt(rev: string): Promise<TokenSourceClass | undefined> {
  let source: string;
  try {
    source = execFileSync('git', ['show', `${rev}:lambdas/adapters/token-source.ts`], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch {
    return undefined;
  }
  const dir = join(PROJECT_ROOT, 'node_modules', '.cache', 'pz-bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `token-source-${rev.replace(/\W/g, '_')}.ts`);
  const lambdas = join(PROJECT_ROOT, 'lambdas');
  writeFileSync(file, source.replaceAll("from '../", `from '${lambdas}/`).replaceAll("from './", `from '${lambdas}/adapters/`));
  return ((await import(file)) as { SecretsManagerTokens: TokenSourceClass }).SecretsManagerTokens;
}

const fresh = () => {
  sm.reset();
  const model = new SecretsManagerModel(ARN, 'the-postback-token-0123456789').install(sm);
  model.latencyMs = LATENCY_MS;
  return model;
};

const runs: Run[] = [];
if (args.baseline !== 'none') {
  const Old = await tokenSourceAt(args.baseline);
  if (!Old) console.log(`(no baseline: git cannot show ${args.baseline})`);
  else {
    const model = fresh();
    const deps = depsFromEnv(env, { clicks: true });
    const handler = createPostbacksHandler({
      ...deps,
      tokens: new Old(secretsClient(), ARN, 300_000),
      maxBodyBytes: deps.config.maxBodyBytes,
    });
    runs.push(await measure(`before (${args.baseline})`, handler, model));
  }
}
runs.push(await measure('this checkout', postbacksFunction(env), fresh()));

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
console.log(`${N} wrong-token postbacks, one after another on one warm instance; every Secrets Manager call takes ${LATENCY_MS} ms\n`);
for (const r of runs) {
  const ms = mean(r.msPer401);
  const smCalls = r.describesPer401 + r.getsPer401;
  const lambda = ((ms / 1000) * MEMORY_GB * PRICES.lambdaArmGbSecond + PRICES.lambdaRequestsPerMillion / 1e6) * 1e6;
  const secrets = (smCalls * PRICES.secretsApiPer10k * 1e6) / 1e4;
  console.log(`${r.name}`);
  console.log(`  cold instance, first 401      ${r.coldMs.toFixed(0)} ms, ${r.coldCalls} Secrets Manager calls`);
  console.log(
    `  warm, per 401                 ${ms.toFixed(1)} ms (p50 ${pct(r.msPer401, 50).toFixed(1)}, max ${Math.max(...r.msPer401).toFixed(1)}), ` +
      `${smCalls.toFixed(2)} Secrets Manager calls (${r.describesPer401.toFixed(2)} DescribeSecret, ${r.getsPer401.toFixed(2)} GetSecretValue)`,
  );
  console.log(`  without any token, per 401    ${mean(r.msPerAnonymous401).toFixed(2)} ms, no Secrets Manager call`);
  console.log(
    `  per million 401s              Lambda $${lambda.toFixed(2)} (512 MB arm64, incl. requests), Secrets Manager $${secrets.toFixed(2)}`,
  );
  console.log(`  concurrency at 200 401s/s     ${((200 * ms) / 1000).toFixed(1)} instances`);
  console.log(`  a rotated token, next request accepted in ${r.rotatedMs.toFixed(0)} ms, ${r.rotatedCalls} Secrets Manager calls\n`);
}
sm.restore();
