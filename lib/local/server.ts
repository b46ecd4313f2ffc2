/**
 * The local mode: the same Lambda handler modules behind node:http, an embedded DynamoDB
 * (dynalite), and the retry function on a timer. Settings come from environment variables
 * (README "Local mode settings": their names and defaults are a contract).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { DEMO_CAMPAIGN_ID, operatorSettingsOf, settingsFromEnv, settingsToEnv, type Settings } from '#lambdas/core/settings.js';
import { ENV } from '#lambdas/runtime/env.js';
import { clicksFunction } from '#lambdas/runtime/clicks.js';
import { postbacksFunction } from '#lambdas/runtime/postbacks.js';
import { retryFunction } from '#lambdas/runtime/retry.js';
import type { SweepReport } from '#lambdas/core/sweep.js';
import { startEmbeddedDynamo, type EmbeddedDynamo } from './embedded-dynamodb.js';
import { demoShop } from './demo-shop.js';
import { buildSnippet } from '../snippet/build.js';
import { DynamoConversionStore } from '#lambdas/adapters/dynamodb-stores.js';
import { lambdaContext, PayloadTooLarge, readBody, toHttpApiEvent, writeResult, type LambdaHttpHandler } from './http-bridge.js';
import { claimDataDir, keptToken, type DataDirClaim } from './data-dir.js';

type Env = Record<string, string | undefined>;

export interface LocalSettings {
  host: string;
  port: number;
  /** The functions' settings, from the same variables the functions read (core/settings.ts). */
  functions: Settings;
  baseUrl: string;
  campaignId: string;
  mode: 'live' | 'dryrun';
  /** POSTBACK_TOKEN; when absent the server generates one (kept in DATA_DIR when there is one). */
  givenToken: string | undefined;
  dataDir: string | undefined;
  retryDelaysS: number[];
  sweepIntervalS: number;
  clickOrigins: string[];
  maxConnections: number;
}

export { DEMO_CAMPAIGN_ID };

/** Enough for a browser (six per host), the CLI and a soak at concurrency 50; a flood is dropped. */
const DEFAULT_MAX_CONNECTIONS = 128;

const positive = (name: string, v: string | undefined, def: number): number => {
  if (v === undefined || v.trim() === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got '${v}'`);
  return n;
};

/**
 * The variables of the local mode's contract table, where an empty value has always meant "the
 * default" (`PARTNERIZE_BASE_URL= npm start`).
 */
const BLANK_MEANS_DEFAULT = [
  'PARTNERIZE_BASE_URL',
  'PARTNERIZE_CAMPAIGN_ID',
  'PARTNERIZE_MODE',
  'RETRY_DELAYS_S',
  'PARTNERIZE_API_BASE_URL',
];

/** Reads and checks the local mode's environment (the contract table), with its defaults. */
export function localSettings(env: Env = process.env): LocalSettings {
  const port = env['PORT'] === undefined || env['PORT'] === '' ? 3000 : Number(env['PORT']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got '${env['PORT']}'`);
  const given = Object.fromEntries(Object.entries(env).filter(([k, v]) => !(BLANK_MEANS_DEFAULT.includes(k) && v?.trim() === '')));
  const functions = settingsFromEnv(given);
  const maxConnections = positive('MAX_CONNECTIONS', env['MAX_CONNECTIONS'], DEFAULT_MAX_CONNECTIONS);
  if (!Number.isInteger(maxConnections)) throw new Error(`MAX_CONNECTIONS must be a whole number, got '${env['MAX_CONNECTIONS']}'`);
  return {
    host: '127.0.0.1',
    port,
    functions,
    baseUrl: functions.partnerizeBaseUrl,
    campaignId: functions.partnerizeCampaignId,
    mode: functions.partnerizeMode,
    givenToken: env['POSTBACK_TOKEN'] || undefined,
    dataDir: env['DATA_DIR'] ? resolve(env['DATA_DIR']) : undefined,
    retryDelaysS: functions.retryDelaysS,
    sweepIntervalS: positive('SWEEP_INTERVAL_S', env['SWEEP_INTERVAL_S'], 60),
    clickOrigins: (env['CLICK_ORIGINS'] ?? '*')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    maxConnections,
  };
}

/** Where the postback token came from: POSTBACK_TOKEN, generated for this run, or kept in DATA_DIR. */
export type TokenOrigin = { kind: 'env' } | { kind: 'generated' } | { kind: 'kept'; path: string; created: boolean };

function postbackToken(settings: LocalSettings): { token: string; origin: TokenOrigin } {
  if (settings.givenToken) return { token: settings.givenToken, origin: { kind: 'env' } };
  if (!settings.dataDir) return { token: randomBytes(24).toString('base64url'), origin: { kind: 'generated' } };
  const kept = keptToken(settings.dataDir);
  return { token: kept.token, origin: { kind: 'kept', path: kept.path, created: kept.created } };
}

/**
 * What the operator CLI needs to work against the local mode (served at {@link LOCAL_INFO_PATH},
 * on 127.0.0.1 only; the local mode prints the same token at start).
 */
export interface LocalInfo {
  mode: 'live' | 'dryrun';
  dynamodbEndpoint: string;
  tables: { clicks: string; conversions: string };
  token: string;
  conversionRefPrefix: string;
  retryDelaysS: number[];
  partnerize: { baseUrl: string; campaignId: string };
  /** What the CLI applies as the functions do (core/settings.ts OPERATOR_SETTINGS). */
  settings: Partial<Settings>;
  /** Partnerize's API for order updates, and whether its keys were given (never the keys). */
  partnerizeApi: { baseUrl: string; keysSet: boolean };
}

export const LOCAL_INFO_PATH = '/_local/info';
/**
 * `pz reconcile --local` reads Partnerize's conversion report through this route: the local server
 * adds its own API keys (PARTNERIZE_APPLICATION_KEY, PARTNERIZE_USER_API_KEY) and forwards the GET
 * to PARTNERIZE_API_BASE_URL, so the keys never leave the process that was given them. Only the
 * report is forwarded, only from this machine (a local-only route).
 */
export const LOCAL_API_PROXY_PATH = '/_local/partnerize-api';
const REPORT_PREFIX = '/reporting/report_advertiser/';
/** The answer headers the CLI reads besides the body (paging is in the body; waits are in these). */
const FORWARDED_HEADERS = [
  'content-type',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'x-ratelimit-retry-after',
  'retry-after',
];

export interface LocalServer {
  settings: LocalSettings;
  url: string;
  token: string;
  tokenOrigin: TokenOrigin;
  dynamo: EmbeddedDynamo;
  /** What the CLI is told (GET /_local/info). */
  info: LocalInfo;
  /** Runs one retry sweep now (also what the timer does). */
  sweepNow(): Promise<SweepReport | undefined>;
  close(): Promise<void>;
}

interface Route {
  name: string;
  methods: readonly string[];
  handler: LambdaHttpHandler;
  cors: boolean;
}

function corsHeaders(req: IncomingMessage, origins: readonly string[]): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin) return {};
  if (origins.includes('*')) return { 'access-control-allow-origin': '*' };
  return origins.includes(origin) ? { 'access-control-allow-origin': origin, vary: 'origin' } : {};
}

/**
 * Routes that exist only in the local mode, for the person at this machine: the CLI's info (it holds
 * the token) and the demo shop (its checkout posts orders). A web page must not reach them: not
 * through another host name that resolves to 127.0.0.1 (DNS rebinding: the Host is then that name),
 * nor by posting from another site (the browser then sends that site's Origin).
 */
const isLocalOnly = (path: string): boolean => path === '/' || path.startsWith('/_local') || path.startsWith('/demo');

function localOnlyRefusal(req: IncomingMessage, port: number): { status: number; code: string; message: string } | undefined {
  const names = ['127.0.0.1', 'localhost'];
  const hosts = names.flatMap((n) => (port === 80 ? [n, `${n}:80`] : [`${n}:${port}`]));
  const host = (req.headers.host ?? '').toLowerCase();
  if (!hosts.includes(host)) {
    return { status: 421, code: 'misdirected_request', message: `this local route answers only to Host ${hosts.join(' or ')}` };
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !hosts.some((h) => origin.toLowerCase() === `http://${h}`)) {
    return { status: 403, code: 'cross_origin', message: 'this local route is not for other sites' };
  }
  return undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * The environment the local mode hands its functions, as the stack would set it: every setting
 * (validated already), where the embedded DynamoDB and its tables are, and the postback token.
 * Nothing is read from or written to `process.env` on the way.
 */
function functionsEnv(
  settings: LocalSettings,
  env: Env,
  where: { endpoint: string; tables: { clicks: string; conversions: string }; token: string },
): Env {
  return {
    ...settingsToEnv(settings.functions),
    [ENV.dynamodbEndpoint]: where.endpoint,
    [ENV.clicksTable]: where.tables.clicks,
    [ENV.conversionsTable]: where.tables.conversions,
    [ENV.postbackToken]: where.token,
    ...(env[ENV.segmentSharedSecret] ? { [ENV.segmentSharedSecret]: env[ENV.segmentSharedSecret] } : {}),
    [ENV.serviceName]: 'partnerize-s2s-local',
    // EMF metric lines are for CloudWatch; locally they would only drown the log.
    [ENV.metricsDisabled]: env[ENV.metricsDisabled] ?? 'true',
    ...Object.fromEntries(ENV.logLevels.filter((n) => env[n] !== undefined).map((n) => [n, env[n]!])),
    // The Partnerize API keys, as given (only the retry function reads them: runtime/retry.ts).
    ...Object.fromEntries(API_KEY_VARS.filter((n) => env[n]?.trim()).map((n) => [n, env[n]!])),
  };
}

const API_KEY_VARS = [ENV.partnerizeApplicationKey, ENV.partnerizeUserApiKey];

/** Starts the local mode: the functions behind node:http, the embedded DynamoDB, the retry loop. */
export async function startLocal(env: Env = process.env): Promise<LocalServer> {
  const settings = localSettings(env);
  let claim: DataDirClaim | undefined;
  if (settings.dataDir) {
    mkdirSync(settings.dataDir, { recursive: true });
    claim = claimDataDir(settings.dataDir);
  }
  try {
    return await serve(settings, env, claim);
  } catch (err) {
    claim?.release();
    throw err;
  }
}

/** What the request handler needs; `port` is known once the server listens. */
interface Site {
  settings: LocalSettings;
  /** The local mode's Partnerize API keys, as given (for the report route). */
  apiKeys: { applicationKey: string; userApiKey: string } | undefined;
  routes: Record<string, Route>;
  info: LocalInfo;
  demo: ReturnType<typeof demoShop>;
  port: () => number;
}

/** One request: local-only routes guarded, the info endpoint, the demo shop, then the two API routes. */
async function handle(site: Site, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawPath = (req.url ?? '/').split('?')[0]!;
  const path = rawPath.replace(/\/+$/, '') || '/';
  if (isLocalOnly(path)) {
    const refusal = localOnlyRefusal(req, site.port());
    if (refusal) return sendJson(res, refusal.status, { error: { code: refusal.code, message: refusal.message } });
  }
  if (path === LOCAL_INFO_PATH && req.method === 'GET') return sendJson(res, 200, site.info);
  if (rawPath.startsWith(`${LOCAL_API_PROXY_PATH}/`)) return forwardReport(site, req, res);
  if (await site.demo(req, res, rawPath === '/demo/' ? rawPath : path)) return;
  const route = site.routes[path];
  if (!route)
    return sendJson(res, 404, {
      error: { code: 'not_found', message: `no route ${req.method} ${path}; try POST /clicks or POST /postbacks` },
    });
  const cors = route.cors ? corsHeaders(req, site.settings.clickOrigins) : {};
  if (req.method === 'OPTIONS' && route.cors) {
    res.writeHead(204, {
      ...cors,
      'access-control-allow-methods': 'GET,POST,OPTIONS',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '600',
    });
    return void res.end();
  }
  const method = req.method ?? 'GET';
  if (!route.methods.includes(method)) {
    return sendJson(
      res,
      405,
      { error: { code: 'method_not_allowed', message: `${path} answers ${route.methods.join(' and ')}` } },
      { allow: route.methods.join(', ') },
    );
  }
  let body: Buffer;
  try {
    body = await readBody(req);
  } catch (err) {
    if (!(err instanceof PayloadTooLarge)) throw err;
    // Stop reading and close: the rest of an oversized upload is not worth receiving.
    sendJson(
      res,
      413,
      { error: { code: 'payload_too_large', message: 'body is larger than 10 MB', field: 'body' } },
      { connection: 'close' },
    );
    res.on('finish', () => req.destroy());
    return;
  }
  const event: APIGatewayProxyEventV2 = toHttpApiEvent(req, body, `${method} ${path}`);
  writeResult(res, await route.handler(event, lambdaContext(route.name, 10_000)), cors);
}

/** The conversion report, read from Partnerize's API with the local mode's keys (see {@link LOCAL_API_PROXY_PATH}). */
async function forwardReport(site: Site, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = (req.url ?? '').slice(LOCAL_API_PROXY_PATH.length);
  if (req.method !== 'GET' || !target.startsWith(REPORT_PREFIX))
    return sendJson(res, 404, { error: { code: 'not_found', message: `only GET ${LOCAL_API_PROXY_PATH}${REPORT_PREFIX}… is forwarded` } });
  if (!site.apiKeys)
    return sendJson(res, 503, {
      error: { code: 'no_api_keys', message: `the local mode was started without ${API_KEY_VARS.join(' and ')}` },
    });
  const { applicationKey, userApiKey } = site.apiKeys;
  const base = site.settings.functions.partnerizeApiBaseUrl.replace(/\/+$/, '');
  let answer: Response;
  try {
    answer = await fetch(`${base}${target}`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${applicationKey}:${userApiKey}`).toString('base64')}`,
        accept: 'application/json',
        'user-agent': 'partnerize-s2s-tracker-local',
      },
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    return sendJson(res, 502, { error: { code: 'partnerize_unreachable', message: `${base}: ${(err as Error).message}` } });
  }
  const headers = Object.fromEntries(
    FORWARDED_HEADERS.flatMap((h) => (answer.headers.get(h) === null ? [] : [[h, answer.headers.get(h)!]])),
  );
  res.writeHead(answer.status, headers);
  res.end(Buffer.from(await answer.arrayBuffer()));
}

function httpServer(site: Site): Server {
  const server = createServer((req, res) => {
    handle(site, req, res).catch((err: unknown) => {
      // The path only: a GET postback's query string is the whole order.
      console.error(`local server: ${req.method} ${(req.url ?? '').split('?')[0]} failed:`, err);
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal_error', message: 'local server error' } });
      else res.end();
    });
  });
  // Past the cap new connections are dropped at once: a flood must not take the machine's sockets.
  server.maxConnections = site.settings.maxConnections;
  let lastDropNotice = 0;
  server.on('drop', () => {
    if (Date.now() - lastDropNotice < 10_000) return;
    lastDropNotice = Date.now();
    console.warn(`local server: ${site.settings.maxConnections} connections open (MAX_CONNECTIONS); dropping new ones`);
  });
  return server;
}

/** The retry function on a timer, one run at a time, starting at once (owed sends left by a previous run). */
function sweepLoop(retry: (event: undefined, context: ReturnType<typeof lambdaContext>) => Promise<SweepReport>, intervalS: number) {
  let running: Promise<SweepReport | undefined> | undefined;
  const sweepNow = (): Promise<SweepReport | undefined> => {
    running ??= retry(undefined, lambdaContext('retry', 60_000))
      .catch((err: unknown) => {
        console.error('local retry sweep failed:', err);
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void sweepNow(), intervalS * 1000);
  timer.unref();
  void sweepNow();
  return {
    sweepNow,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

async function serve(settings: LocalSettings, env: Env, claim: DataDirClaim | undefined): Promise<LocalServer> {
  const { token, origin: tokenOrigin } = postbackToken(settings);
  // dynalite on its own thread: the handlers and the embedded DynamoDB do not queue behind each
  // other on one event loop (in AWS they are separate services too).
  const dynamo = await startEmbeddedDynamo({ dataDir: settings.dataDir, thread: true });
  const functions = functionsEnv(settings, env, { endpoint: dynamo.endpoint, tables: dynamo.tables, token });
  let url = '';
  let port = settings.port;
  const site: Site = {
    settings,
    apiKeys:
      functions[ENV.partnerizeApplicationKey] && functions[ENV.partnerizeUserApiKey]
        ? { applicationKey: functions[ENV.partnerizeApplicationKey]!.trim(), userApiKey: functions[ENV.partnerizeUserApiKey]!.trim() }
        : undefined,
    routes: {
      '/clicks': { name: 'clicks', methods: ['GET', 'POST'], handler: clicksFunction(functions) as LambdaHttpHandler, cors: true },
      '/postbacks': {
        name: 'postbacks',
        methods: ['GET', 'POST'],
        handler: postbacksFunction(functions) as LambdaHttpHandler,
        cors: false,
      },
    },
    info: {
      mode: settings.mode,
      dynamodbEndpoint: dynamo.endpoint,
      tables: dynamo.tables,
      token,
      conversionRefPrefix: settings.functions.conversionRefPrefix,
      retryDelaysS: settings.retryDelaysS,
      partnerize: { baseUrl: settings.baseUrl, campaignId: settings.campaignId },
      settings: operatorSettingsOf(settings.functions),
      partnerizeApi: {
        baseUrl: settings.functions.partnerizeApiBaseUrl,
        keysSet: API_KEY_VARS.every((n) => Boolean(functions[n])),
      },
    },
    demo: demoShop({
      apiUrl: () => url,
      token,
      snippet: await buildSnippet(),
      conversion: (ref) => new DynamoConversionStore(dynamo.client, dynamo.tables.conversions).get(ref),
    }),
    port: () => port,
  };
  const server = httpServer(site);
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(settings.port, settings.host, () => resolveListen());
    });
  } catch (err) {
    await dynamo.close();
    throw err;
  }
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : settings.port;
  url = `http://${settings.host}:${port}`;
  claim?.announce(url);
  const sweeps = sweepLoop(
    retryFunction(functions) as (e: undefined, c: ReturnType<typeof lambdaContext>) => Promise<SweepReport>,
    settings.sweepIntervalS,
  );
  return {
    settings: { ...settings, port },
    url,
    token,
    tokenOrigin,
    dynamo,
    info: site.info,
    sweepNow: sweeps.sweepNow,
    close: async () => {
      await sweeps.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await dynamo.close();
      claim?.release();
    },
  };
}
