/**
 * The measurements behind `npm run bench` and docs/performance.md. Every figure is measured in the
 * same run as its baseline and reported as a ratio to it.
 */
import { Agent, request } from 'node:http';
import { ConditionalCheckFailedException, type DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { DynamoClickStore, DynamoConversionStore, DynamoOrderUpdates } from '#lambdas/adapters/dynamodb-stores.js';
import { newId } from '#lambdas/adapters/ids.js';
import { createFetchSender } from '#lambdas/adapters/partnerize-sender.js';
import { staticTokens } from '#lambdas/adapters/token-source.js';
import { configFromEnv } from '#lambdas/runtime/env.js';
import { jsonLog, silentLog } from '#lambdas/observability/logger.js';
import { emfMetrics } from '#lambdas/observability/metrics.js';
import { ACCESS_LOG_FIELDS } from '../../lib/constructs/tracking-api.js';
import { createClicksHandler } from '#lambdas/handlers/clicks.js';
import { createPostbacksHandler } from '#lambdas/handlers/postbacks.js';
import type { Deps } from '#lambdas/core/model.js';
import { LOCAL_AWS_ENV, localDynamoClient, startEmbeddedDynamo } from '../../lib/local/embedded-dynamodb.js';
import { lambdaContext } from '../../lib/local/http-bridge.js';
import type { LocalInfo } from '../../lib/local/server.js';
import { DESKTOP_UA, IPHONE_UA, tealiumPurchase } from '../fixtures/tealium.js';
import { invokeBundle } from '../support/bundles.js';
import { httpEvent } from '../support/events.js';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startLocalProcess } from '../support/local-process.js';
import { instantPartnerize, MemoryClickStore, MemoryConversionStore, MemoryUpdateOutbox } from '../support/memory-stores.js';
import type { Bundle } from './bundles.js';
import { itemSize } from './item-size.js';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/* ---------- 1. cold init ---------- */

export const INIT_ENV: Record<string, string> = {
  ...LOCAL_AWS_ENV,
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  CLICKS_TABLE: 'Clicks',
  CONVERSIONS_TABLE: 'Conversions',
  PARTNERIZE_CAMPAIGN_ID: '1011l270',
  TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:token',
};

export interface InitResult {
  bundle: Bundle;
  medianMs: number;
  samples: number[];
  /**
   * Median over rounds of (this bundle's load time / the SDK-only bundle's in the same round): a
   * paired ratio, so the host's slow and fast moments cancel out.
   */
  pairedRatio: number;
}

/** Loads every bundle in a fresh Node process, `runs` rounds, interleaved (order rotated each round). */
export async function coldInit(bundles: Bundle[], runs: number, baselineName = 'DynamoDB client only'): Promise<InitResult[]> {
  const samples = new Map<string, number[]>(bundles.map((b) => [b.name, []]));
  for (let round = 0; round < runs; round++) {
    const order = bundles.map((_, i) => bundles[(i + round) % bundles.length]!);
    for (const b of order) {
      const r = await invokeBundle(b.file, INIT_ENV);
      if (!r.ok || r.loadMs === undefined) throw new Error(`${b.name} did not load: ${r.error}`);
      samples.get(b.name)!.push(r.loadMs);
    }
  }
  const sdk = samples.get(baselineName) ?? [];
  return bundles.map((b) => {
    const xs = samples.get(b.name)!;
    return { bundle: b, samples: xs, medianMs: median(xs), pairedRatio: median(xs.map((x, i) => x / (sdk[i] ?? x))) };
  });
}

/* ---------- 2. per-request CPU ---------- */

export interface CpuResult {
  name: string;
  p50us: number;
  p99us: number;
  n: number;
  /** The p99 of each of the equal slices the run was cut into (their median is `p99us`). */
  sliceP99s: number[];
}

export const CPU_SLICES = 5;

const TOKEN = 'bench-token-0123456789';

function memoryDeps(env: Record<string, string> = {}): Deps {
  let t = Date.UTC(2026, 10, 24, 10);
  return {
    config: configFromEnv({ PARTNERIZE_CAMPAIGN_ID: '1011l270', PARTNERIZE_MODE: 'live', ...env }),
    clicks: new MemoryClickStore(),
    conversions: new MemoryConversionStore(),
    updates: new MemoryUpdateOutbox(),
    sender: instantPartnerize,
    clock: { now: () => (t += 1) },
    newId,
    random: Math.random,
    log: jsonLog({ write: () => {} }),
    metrics: emfMetrics({ write: () => {} }),
  };
}

/**
 * Times only the handler: the events are built beforehand (building them is the benchmark's work,
 * not the function's).
 */
async function timeHandler<E>(handler: (event: E) => Promise<unknown>, events: E[], warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await handler(events[i]!);
  const out: number[] = [];
  for (let i = warmup; i < events.length; i++) {
    const t0 = process.hrtime.bigint();
    await handler(events[i]!);
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return out;
}

/** Each handler in-process with in-memory stores and an instant Partnerize: the code's own cost. */
export async function perRequestCpu(n = 20_000, warmup = 3_000): Promise<CpuResult[]> {
  const deps = memoryDeps();
  const ctx = lambdaContext('bench', 10_000);
  const clicks = createClicksHandler({ ...deps, maxBodyBytes: 16_384 });
  const postbacks = createPostbacksHandler({ ...deps, tokens: staticTokens(TOKEN), maxBodyBytes: 262_144 });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const total = n + warmup;
  const results: CpuResult[] = [];
  // The p99 of a slice of the run, five times: their median keeps a single host hiccup (another
  // process, a migration of the VM) from passing for the code's own tail.
  const record = (name: string, xs: number[]) => {
    const size = Math.floor(xs.length / CPU_SLICES);
    const sliceP99s = Array.from({ length: CPU_SLICES }, (_, i) => percentile(xs.slice(i * size, (i + 1) * size), 99));
    results.push({ name, p50us: percentile(xs, 50), p99us: median(sliceP99s), n: xs.length, sliceP99s });
  };
  const events = <E>(make: (i: number) => E): E[] => Array.from({ length: total }, (_, i) => make(i));

  record(
    'clicks (native JSON, with user agent)',
    await timeHandler(
      (e) => clicks(e, ctx),
      events((i) =>
        httpEvent({
          path: '/clicks',
          headers: { 'user-agent': IPHONE_UA },
          body: { sessionId: `bench-session-${i % 5000}`, clickref: `Ref${i}` },
        }),
      ),
      warmup,
    ),
  );
  record(
    'postbacks (native order, click lookup, Partnerize 200)',
    await timeHandler(
      (e) => postbacks(e, ctx),
      events((i) =>
        httpEvent({
          path: '/postbacks',
          headers: auth,
          body: {
            event: 'purchase',
            orderId: `N-${i}`,
            sessionId: `bench-session-${i % 5000}`,
            currency: 'GBP',
            consent: true,
            userAgent: DESKTOP_UA,
            items: [
              { sku: 'SKU-1', category: 'shoes', value: 19.99, quantity: 2 },
              { sku: 'SKU-2', category: 'socks', value: '4.50', quantity: 1 },
            ],
          },
        }),
      ),
      warmup,
    ),
  );
  record(
    'postbacks (Tealium purchase event)',
    await timeHandler(
      (e) => postbacks(e, ctx),
      events((i) =>
        httpEvent({
          path: '/postbacks',
          headers: auth,
          body: tealiumPurchase({ udo: { order_id: `T-${i}`, tealium_visitor_id: `bench-session-${i % 5000}` } }),
        }),
      ),
      warmup,
    ),
  );
  return results;
}

/* ---------- 3. local throughput vs the DynamoDB floor ---------- */

export interface ThroughputResult {
  name: string;
  serverRps: number;
  floorRps: number;
  /** Median over rounds of server/floor within the round (paired: the host's drift cancels). */
  pairedRatio: number;
  rounds: Array<{ server: number; floor: number }>;
}

async function loadFor(ms: number, concurrency: number, one: (i: number) => Promise<void>): Promise<number> {
  let i = 0;
  let done = 0;
  const end = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < end) {
      await one(i++);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / ((performance.now() - started) / 1000);
}

/**
 * Requests per second through the local server (HTTP → handler → dynalite), next to issuing the
 * same DynamoDB operations straight to the same dynalite from here. Phases alternate; each figure
 * is the median of its rounds.
 */
export async function localThroughput(opts: { seconds: number; rounds: number; concurrency: number }): Promise<ThroughputResult[]> {
  const local = await startLocalProcess({ POSTBACK_TOKEN: TOKEN, POWERTOOLS_LOG_LEVEL: 'WARN' });
  try {
    const info = (await (await fetch(`${local.url}/_local/info`)).json()) as LocalInfo;
    const db = localDynamoClient(info.dynamodbEndpoint);
    const clicks = new DynamoClickStore(db, info.tables.clicks);
    const conversions = new DynamoConversionStore(db, info.tables.conversions);
    // The load generator is node:http with keep-alive (lighter than fetch): its own cost should
    // not be charged to the server it measures.
    const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
    const { hostname, port } = new URL(local.url);
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      new Promise<void>((resolve, reject) => {
        const payload = JSON.stringify(body);
        const req = request(
          {
            agent,
            hostname,
            port,
            path,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers },
          },
          (res) => {
            res.resume();
            res.on('end', () => ((res.statusCode ?? 500) >= 300 ? reject(new Error(`${path} answered ${res.statusCode}`)) : resolve()));
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    // A real dry-run record, as the postback path writes it, to replay its writes for the floor.
    await post('/clicks', { sessionId: 'bench-floor-session', clickref: 'FloorRef' });
    await post(
      '/postbacks',
      { orderId: 'FLOOR-TEMPLATE', sessionId: 'bench-floor-session', currency: 'GBP', consent: true, items: [{ sku: 'S', value: 1 }] },
      { authorization: `Bearer ${TOKEN}` },
    );
    const template = (await conversions.get('FLOOR-TEMPLATE'))!;
    const run = Date.now().toString(36);
    const phases: Array<[string, 'server' | 'floor', (i: number) => Promise<void>]> = [
      [
        'clicks: 1 PutItem',
        'floor',
        // With the click lock's condition, as the clicks function writes it.
        async (i) => {
          const now = Date.now();
          await clicks.put(
            { sessionId: `f-${run}-${i}`, clickref: 'FloorRef', clickedAt: now, device: 'mobile', expiresAt: 2e9 },
            now - 1_800_000,
          );
        },
      ],
      [
        'clicks: 1 PutItem',
        'server',
        (i) => post('/clicks', { sessionId: `s-${run}-${i}`, clickref: 'BenchRef' }, { 'user-agent': IPHONE_UA }),
      ],
      [
        'postbacks (dry run): GetItem + PutItem',
        'floor',
        async (i) => {
          await clicks.get('bench-floor-session');
          await conversions.create({ ...template, conversionRef: `FLOOR-${run}-${i}`, orderId: `FLOOR-${run}-${i}`, writeId: newId() });
        },
      ],
      [
        'postbacks (dry run): GetItem + PutItem',
        'server',
        (i) =>
          post(
            '/postbacks',
            {
              orderId: `S-${run}-${i}`,
              sessionId: 'bench-floor-session',
              currency: 'GBP',
              consent: true,
              items: [{ sku: 'S', value: 1 }],
            },
            { authorization: `Bearer ${TOKEN}` },
          ),
      ],
    ];
    const rps = new Map<string, number[]>();
    for (const [, , one] of phases) await loadFor(300, opts.concurrency, one); // warm both paths
    for (let r = 0; r < opts.rounds; r++) {
      // Alternate which of each pair goes first: the tables grow as the run goes on, and whoever
      // always ran second would always meet the bigger table.
      const order = r % 2 === 0 ? phases : [phases[1]!, phases[0]!, phases[3]!, phases[2]!];
      for (const [name, kind, one] of order) {
        const key = `${name}|${kind}`;
        rps.set(key, [...(rps.get(key) ?? []), await loadFor(opts.seconds * 1000, opts.concurrency, one)]);
      }
    }
    db.destroy();
    agent.destroy();
    const names = [...new Set(phases.map(([n]) => n))];
    return names.map((name) => {
      const server = rps.get(`${name}|server`)!;
      const floor = rps.get(`${name}|floor`)!;
      return {
        name,
        serverRps: median(server),
        floorRps: median(floor),
        pairedRatio: median(server.map((x, i) => x / floor[i]!)),
        rounds: server.map((x, i) => ({ server: x, floor: floor[i]! })),
      };
    });
  } finally {
    await local.stop();
  }
}

/* ---------- 4. what one click and one conversion consume ---------- */

export interface Consumption {
  /** DynamoDB operations per request, by command. */
  ops: Record<string, number>;
  wru: number;
  rru: number;
  /** Writes to the due index (KEYS_ONLY, one WRU each). */
  indexWrites: number;
  /** Largest item written, bytes. */
  itemBytes: number;
  /** Function log + EMF bytes per request. */
  logBytes: number;
  /** API access log bytes per request (one line). */
  accessLogBytes: number;
  /** Partnerize calls per request. */
  partnerizeCalls: number;
}

const CONVERSION_WRITES = new Set(['PutItemCommand', 'UpdateItemCommand']);

/** A DynamoDB client that asks for consumed capacity on every call and counts it. */
function countingClient(endpoint: string, raw: DynamoDBClient, tables: { conversions: string }) {
  const client = localDynamoClient(endpoint);
  const tally = { ops: {} as Record<string, number>, wru: 0, rru: 0, indexWrites: 0, itemBytes: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as {
        ReturnConsumedCapacity?: string;
        TableName?: string;
        Key?: Record<string, AttributeValue>;
        Item?: Record<string, AttributeValue>;
      };
      input.ReturnConsumedCapacity = 'TOTAL';
      const name = context.commandName ?? 'unknown';
      const isConversionWrite = CONVERSION_WRITES.has(name) && input.TableName === tables.conversions;
      const keyOf = () => input.Key ?? { conversionRef: input.Item!['conversionRef']! };
      const indexed = async () =>
        (await raw.send(new GetItemCommand({ TableName: tables.conversions, Key: keyOf(), ConsistentRead: true }))).Item?.['dueShard'] !==
        undefined;
      const before = isConversionWrite ? await indexed() : false;
      let res: Awaited<ReturnType<typeof next>>;
      try {
        res = await next(args);
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) tally.wru += 1; // a failed condition still costs the write
        throw err;
      } finally {
        tally.ops[name] = (tally.ops[name] ?? 0) + 1;
      }
      const out = res.output as { ConsumedCapacity?: { CapacityUnits?: number } };
      const units = out.ConsumedCapacity?.CapacityUnits ?? 0;
      if (/Put|Update|Delete/.test(name)) tally.wru += units;
      else tally.rru += units;
      if (input.Item) tally.itemBytes = Math.max(tally.itemBytes, itemSize(input.Item));
      if (isConversionWrite) {
        const after = await indexed();
        // An index entry appears, disappears, or moves (its sort key changes): one write, or two for a move.
        if (before !== after) tally.indexWrites += 1;
        else if (before && after && name === 'UpdateItemCommand' && JSON.stringify(input).includes(':dueAt')) tally.indexWrites += 2;
        const item = (await raw.send(new GetItemCommand({ TableName: tables.conversions, Key: keyOf(), ConsistentRead: true }))).Item;
        if (item) tally.itemBytes = Math.max(tally.itemBytes, itemSize(item));
      }
      return res;
    },
    { step: 'initialize', name: 'benchCapacity' },
  );
  return { client, tally };
}

/** A representative access log line (the stage's format with typical values). */
export function accessLogLine(): string {
  const sample: Record<string, string> = {
    requestId: 'c4f1a0b2-3d4e-5f60-7182-93a4b5c6d7e8',
    time: '1795515300123',
    routeKey: 'POST /postbacks',
    status: '202',
    responseLength: '52',
    responseLatency: '187',
    integrationStatus: '200',
    integrationLatency: '183',
    integrationError: '-',
    error: '-',
  };
  const line = JSON.stringify(ACCESS_LOG_FIELDS).replace(/\$context\.[A-Za-z.]+/g, (m) => {
    const k = Object.entries(ACCESS_LOG_FIELDS).find(([, v]) => v === m)?.[0];
    return k ? (sample[k] ?? '-') : '-';
  });
  return `${line}\n`;
}

/**
 * Runs `n` clicks and `n` Tealium purchases (each with its session's click, Partnerize answering
 * 200) through the real handlers and DynamoDB adapters against dynalite, counting what each
 * request consumed.
 */
export async function consumption(n = 200): Promise<{ click: Consumption; conversion: Consumption }> {
  const dynamo = await startEmbeddedDynamo();
  const partnerize = await FakePartnerize.start();
  const raw = localDynamoClient(dynamo.endpoint);
  try {
    const logBytes = { n: 0 };
    const sink = (line: string) => {
      logBytes.n += Buffer.byteLength(line);
    };
    const measure = async (fn: (deps: Deps) => Promise<void>) => {
      const { client, tally } = countingClient(dynamo.endpoint, raw, dynamo.tables);
      const deps: Deps = {
        config: configFromEnv({ PARTNERIZE_CAMPAIGN_ID: '1011l270', PARTNERIZE_MODE: 'live', PARTNERIZE_BASE_URL: partnerize.url }),
        clicks: new DynamoClickStore(client, dynamo.tables.clicks),
        conversions: new DynamoConversionStore(client, dynamo.tables.conversions),
        updates: new DynamoOrderUpdates(client, dynamo.tables.conversions),
        sender: createFetchSender(),
        clock: { now: Date.now },
        newId,
        random: Math.random,
        log: jsonLog({ write: sink }),
        metrics: emfMetrics({ write: sink }),
      };
      logBytes.n = 0;
      const calls = partnerize.requests.length;
      await fn(deps);
      client.destroy();
      return {
        ops: Object.fromEntries(Object.entries(tally.ops).map(([k, v]) => [k.replace('Command', ''), v / n])),
        wru: tally.wru / n,
        rru: tally.rru / n,
        indexWrites: tally.indexWrites / n,
        itemBytes: tally.itemBytes,
        logBytes: logBytes.n / n,
        accessLogBytes: Buffer.byteLength(accessLogLine()),
        partnerizeCalls: (partnerize.requests.length - calls) / n,
      };
    };
    const ctx = lambdaContext('bench', 10_000);
    const click = await measure(async (deps) => {
      // The clicks function flushes its counts once a minute per instance: at steady traffic that is
      // one EMF line per minute; here one flush over the whole run stands for it.
      let t = 0;
      const metrics = emfMetrics({ write: sink, minFlushIntervalMs: 60_000, now: () => t });
      const h = createClicksHandler({ ...deps, metrics, maxBodyBytes: 16_384 });
      for (let i = 0; i < n; i++)
        await h(
          httpEvent({
            path: '/clicks',
            headers: { 'user-agent': IPHONE_UA },
            body: { sessionId: `cost-session-${i}`, clickref: `Cost${i}` },
          }),
          ctx,
        );
      t = 120_000; // the minute is over: the one line for these clicks goes out
      metrics.flush!();
    });
    const conversion = await measure(async (deps) => {
      const h = createPostbacksHandler({ ...deps, tokens: staticTokens(TOKEN), maxBodyBytes: 262_144 });
      const c = createClicksHandler({
        ...deps,
        log: silentLog,
        metrics: emfMetrics({ write: () => {} }),
        clicks: new DynamoClickStore(raw, dynamo.tables.clicks),
        maxBodyBytes: 16_384,
      });
      for (let i = 0; i < n; i++) {
        await c(httpEvent({ path: '/clicks', body: { sessionId: `visitor-cost-${i}-0000000000`, clickref: `Conv${i}` } }), ctx);
      }
      for (let i = 0; i < n; i++) {
        const r = await h(
          httpEvent({
            path: '/postbacks',
            headers: { authorization: `Bearer ${TOKEN}` },
            body: tealiumPurchase({ udo: { order_id: `COST-${i}`, tealium_visitor_id: `visitor-cost-${i}-0000000000` } }),
          }),
          ctx,
        );
        if (r?.statusCode !== 202 || !r.body?.includes('"sent"'))
          throw new Error(`cost run: postback ${i} answered ${r?.statusCode} ${r?.body}`);
      }
    });
    return { click, conversion };
  } finally {
    raw.destroy();
    await partnerize.close();
    await dynamo.close();
  }
}
