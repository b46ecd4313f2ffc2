/**
 * The local mode: the same Lambda handler modules behind node:http, an embedded DynamoDB
 * (dynalite), and the retry function on a timer. Its environment is read by the one environment
 * module (lambdas/runtime/env.ts, localModeFromEnv: README "Local mode settings" lists its names and
 * defaults); the functions get theirs as a record built here, as the stack would set
 * it. Nothing is read from or written to `process.env` on the way.
 *
 *   startLocal: settings ─► DATA_DIR claimed ─► serve: the token, the embedded DynamoDB, the
 *   functions, the route table, listening, the retry loop
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { DEMO_CAMPAIGN_ID, operatorSettingsOf, settingsToEnv, type PartnerizeMode, type Settings } from '#lambdas/core/settings.js';
import { ENV, localModeFromEnv, type Env, type LocalModeEnv } from '#lambdas/runtime/env.js';
import { clicksFunction } from '#lambdas/runtime/clicks.js';
import { postbacksFunction } from '#lambdas/runtime/postbacks.js';
import { retryFunction } from '#lambdas/runtime/retry.js';
import type { SweepReport } from '#lambdas/core/sweep.js';
import { startEmbeddedDynamo, type EmbeddedDynamo } from './embedded-dynamodb.js';
import { demoShop, type DemoShop } from './demo-shop.js';
import { buildSnippet } from '../snippet/build.js';
import { DynamoConversionStore } from '#lambdas/adapters/dynamodb-stores.js';
import { lambdaContext, PayloadTooLarge, readBody, toHttpApiEvent, writeResult, type LambdaHttpHandler } from './http-bridge.js';
import { claimDataDir, keptToken, type DataDirClaim } from './data-dir.js';
import { SECOND_MS } from '#lambdas/core/time.js';
import { FUNCTION_TIMEOUT_S } from '../function-timeouts.js';

/** The local mode's settings: its environment as read (runtime/env.ts), where it listens, DATA_DIR resolved. */
export interface LocalSettings extends LocalModeEnv {
  host: string;
}

export { DEMO_CAMPAIGN_ID };

/** Reads and checks the local mode's environment (README "Local mode settings"), with its defaults. */
export function localSettings(env: Env): LocalSettings {
  const read = localModeFromEnv(env);
  return { ...read, host: '127.0.0.1', dataDir: read.dataDir === undefined ? undefined : resolve(read.dataDir) };
}

/** Where the postback token came from: POSTBACK_TOKEN (kept in DATA_DIR when there is one), generated for this run, or kept in DATA_DIR. */
export type TokenOrigin =
  | { kind: 'env'; keptIn?: string | undefined }
  | { kind: 'generated' }
  | { kind: 'kept'; path: string; created: boolean };

function postbackToken(settings: LocalSettings): { token: string; origin: TokenOrigin } {
  if (settings.givenToken) {
    const keptIn = settings.dataDir ? keptToken(settings.dataDir, settings.givenToken).path : undefined;
    return { token: settings.givenToken, origin: { kind: 'env', keptIn } };
  }
  if (!settings.dataDir) return { token: randomBytes(24).toString('base64url'), origin: { kind: 'generated' } };
  const kept = keptToken(settings.dataDir);
  return { token: kept.token, origin: { kind: 'kept', path: kept.path, created: kept.created } };
}

/**
 * What the operator CLI needs to work against the local mode (served at {@link LOCAL_INFO_PATH},
 * on 127.0.0.1 only; the local mode prints the same token at start).
 */
export interface LocalInfo {
  mode: PartnerizeMode;
  dynamodbEndpoint: string;
  tables: { clicks: string; conversions: string };
  token: string;
  /**
   * What the CLI applies as the functions do (core/settings.ts OPERATOR_SETTINGS): the conversionRef
   * prefix, the retry schedule, the campaigns, Partnerize's API …
   */
  settings: Partial<Settings>;
  /** Whether the Partnerize API keys were given (never the keys): the CLI then reads the report through this server. */
  apiKeysSet: boolean;
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

/** A request as the routes see it. */
interface LocalRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** The path as sent, without the query. */
  raw: string;
  /** The path without trailing slashes (`/` for the root). */
  path: string;
}

/** A route of the local server: which requests it takes, and its answer. The first route that takes a request answers it. */
interface LocalRoute {
  takes(r: LocalRequest): boolean;
  answer(r: LocalRequest): Promise<void> | void;
}

/** A function behind its API route, as API Gateway would call it. */
interface FunctionRoute {
  name: 'clicks' | 'postbacks';
  methods: readonly string[];
  handler: LambdaHttpHandler;
  /** The browser origins it answers with CORS headers (only /clicks is called from pages). */
  corsOrigins?: readonly string[];
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
 * (validated already), where the embedded DynamoDB and its tables are, the postback token, the
 * Partnerize API keys when given (only the retry function reads them: runtime/retry.ts), and the
 * functions' own variables passed on as given.
 */
function functionsEnv(
  settings: LocalSettings,
  where: { endpoint: string; tables: { clicks: string; conversions: string }; token: string },
): Env {
  return {
    ...settingsToEnv(settings.functions),
    [ENV.dynamodbEndpoint]: where.endpoint,
    [ENV.clicksTable]: where.tables.clicks,
    [ENV.conversionsTable]: where.tables.conversions,
    [ENV.postbackToken]: where.token,
    [ENV.serviceName]: 'partnerize-s2s-local',
    ...(settings.apiKeys && {
      [ENV.partnerizeApplicationKey]: settings.apiKeys.applicationKey,
      [ENV.partnerizeUserApiKey]: settings.apiKeys.userApiKey,
    }),
    ...settings.passedOn,
  };
}

/** The local mode's functions, each built from the environment the stack would give it. */
function localFunctions(env: Env) {
  return {
    clicks: clicksFunction(env) as LambdaHttpHandler,
    postbacks: postbacksFunction(env) as LambdaHttpHandler,
    retry: retryFunction(env) as (e: undefined, c: ReturnType<typeof lambdaContext>) => Promise<SweepReport>,
  };
}

function localInfo(settings: LocalSettings, dynamo: EmbeddedDynamo, token: string): LocalInfo {
  return {
    mode: settings.functions.partnerizeMode,
    dynamodbEndpoint: dynamo.endpoint,
    tables: dynamo.tables,
    token,
    settings: operatorSettingsOf(settings.functions),
    apiKeysSet: settings.apiKeys !== undefined,
  };
}

/**
 * The route table, in order: the CLI's info, the report it reads through this server, the demo
 * shop, then the two API routes. Anything else is a 404.
 */
function routeTable(
  settings: LocalSettings,
  info: LocalInfo,
  demo: DemoShop,
  functions: { clicks: LambdaHttpHandler; postbacks: LambdaHttpHandler },
): LocalRoute[] {
  return [
    { takes: (r) => r.path === LOCAL_INFO_PATH && r.method === 'GET', answer: (r) => sendJson(r.res, 200, info) },
    { takes: (r) => r.raw.startsWith(`${LOCAL_API_PROXY_PATH}/`), answer: (r) => forwardReport(settings, r) },
    { takes: (r) => demo.takes(r.method, r.path), answer: (r) => demo.answer(r.req, r.res, r.path) },
    apiRoute('/clicks', { name: 'clicks', methods: ['GET', 'POST'], handler: functions.clicks, corsOrigins: settings.clickOrigins }),
    apiRoute('/postbacks', { name: 'postbacks', methods: ['GET', 'POST'], handler: functions.postbacks }),
  ];
}

const apiRoute = (path: string, fn: FunctionRoute): LocalRoute => ({ takes: (r) => r.path === path, answer: (r) => callFunction(fn, r) });

/** A request to an API route: its CORS preflight, a method it does not answer, or its function's answer. */
async function callFunction(fn: FunctionRoute, { req, res, method, path }: LocalRequest): Promise<void> {
  const cors = fn.corsOrigins ? corsHeaders(req, fn.corsOrigins) : {};
  if (method === 'OPTIONS' && fn.corsOrigins) {
    res.writeHead(204, {
      ...cors,
      'access-control-allow-methods': 'GET,POST,OPTIONS',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '600',
    });
    return void res.end();
  }
  if (!fn.methods.includes(method)) {
    return sendJson(
      res,
      405,
      { error: { code: 'method_not_allowed', message: `${path} answers ${fn.methods.join(' and ')}` } },
      { allow: fn.methods.join(', ') },
    );
  }
  const body = await bodyWithinLimit(req, res);
  if (body === undefined) return;
  writeResult(
    res,
    await fn.handler(toHttpApiEvent(req, body, `${method} ${path}`), lambdaContext(fn.name, FUNCTION_TIMEOUT_S[fn.name] * SECOND_MS)),
    cors,
  );
}

/** The request's body; over API Gateway's limit, a 413 and undefined. */
async function bodyWithinLimit(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
  try {
    return await readBody(req);
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
    return undefined;
  }
}

/** The conversion report, read from Partnerize's API with the local mode's keys (see {@link LOCAL_API_PROXY_PATH}). */
async function forwardReport(settings: LocalSettings, { req, res }: LocalRequest): Promise<void> {
  const target = (req.url ?? '').slice(LOCAL_API_PROXY_PATH.length);
  if (req.method !== 'GET' || !target.startsWith(REPORT_PREFIX))
    return sendJson(res, 404, { error: { code: 'not_found', message: `only GET ${LOCAL_API_PROXY_PATH}${REPORT_PREFIX}… is forwarded` } });
  if (!settings.apiKeys)
    return sendJson(res, 503, {
      error: {
        code: 'no_api_keys',
        message: `the local mode was started without ${ENV.partnerizeApplicationKey} and ${ENV.partnerizeUserApiKey}`,
      },
    });
  const { applicationKey, userApiKey } = settings.apiKeys;
  const base = settings.functions.partnerizeApiBaseUrl.replace(/\/+$/, '');
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

/** What answering a request needs; `port` is known once the server listens. */
interface Site {
  settings: LocalSettings;
  routes: readonly LocalRoute[];
  port: () => number;
}

/** One request: local-only routes guarded, then the first route that takes it, else a 404. */
async function handle(site: Site, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = (req.url ?? '/').split('?')[0]!;
  const r: LocalRequest = { req, res, method: req.method ?? 'GET', raw, path: raw.replace(/\/+$/, '') || '/' };
  if (isLocalOnly(r.path)) {
    const refusal = localOnlyRefusal(req, site.port());
    if (refusal) return sendJson(res, refusal.status, { error: { code: refusal.code, message: refusal.message } });
  }
  const route = site.routes.find((x) => x.takes(r));
  if (!route)
    return sendJson(res, 404, {
      error: { code: 'not_found', message: `no route ${req.method} ${r.path}; try POST /clicks or POST /postbacks` },
    });
  await route.answer(r);
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

/** Listens on the settings' host and port; the port it got (`PORT=0`: a free one). */
async function listen(server: Server, settings: LocalSettings): Promise<number> {
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => resolveListen());
  });
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : settings.port;
}

/** The retry function on a timer, one run at a time, starting at once (owed sends left by a previous run). */
function sweepLoop(retry: (event: undefined, context: ReturnType<typeof lambdaContext>) => Promise<SweepReport>, intervalS: number) {
  let running: Promise<SweepReport | undefined> | undefined;
  const sweepNow = (): Promise<SweepReport | undefined> => {
    running ??= retry(undefined, lambdaContext('retry', FUNCTION_TIMEOUT_S.retry * SECOND_MS))
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

/** Starts the local mode: the functions behind node:http, the embedded DynamoDB, the retry loop. */
export async function startLocal(env: Env): Promise<LocalServer> {
  const settings = localSettings(env);
  let claim: DataDirClaim | undefined;
  if (settings.dataDir) {
    mkdirSync(settings.dataDir, { recursive: true });
    claim = claimDataDir(settings.dataDir);
  }
  try {
    return await serve(settings, claim);
  } catch (err) {
    claim?.release();
    throw err;
  }
}

async function serve(settings: LocalSettings, claim: DataDirClaim | undefined): Promise<LocalServer> {
  const { token, origin: tokenOrigin } = postbackToken(settings);
  // dynalite on its own thread: the handlers and the embedded DynamoDB do not queue behind each
  // other on one event loop (in AWS they are separate services too).
  const dynamo = await startEmbeddedDynamo({ dataDir: settings.dataDir, thread: true });
  let url = '';
  let port = settings.port;
  let server: Server;
  let functions: ReturnType<typeof localFunctions>;
  const info = localInfo(settings, dynamo, token);
  try {
    functions = localFunctions(functionsEnv(settings, { endpoint: dynamo.endpoint, tables: dynamo.tables, token }));
    const demo = demoShop({
      apiUrl: () => url,
      token,
      snippet: await buildSnippet(),
      conversion: (ref) => new DynamoConversionStore(dynamo.client, dynamo.tables.conversions).get(ref),
    });
    server = httpServer({ settings, routes: routeTable(settings, info, demo, functions), port: () => port });
    port = await listen(server, settings);
  } catch (err) {
    await dynamo.close();
    throw err;
  }
  url = `http://${settings.host}:${port}`;
  claim?.announce(url);
  const sweeps = sweepLoop(functions.retry, settings.sweepIntervalS);
  return {
    settings: { ...settings, port },
    url,
    token,
    tokenOrigin,
    dynamo,
    info,
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
