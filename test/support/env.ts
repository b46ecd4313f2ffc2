/**
 * A test environment of real parts: an embedded DynamoDB (dynalite) with the stack's tables, a
 * fake Partnerize HTTP server on 127.0.0.1, the real adapters, and a clock the test controls.
 */
import { randomUUID } from 'node:crypto';
import { DynamoClickStore, DynamoOwedConversions } from '#lambdas/adapters/dynamodb-stores.js';
import { DynamoUpdateOutbox } from '#lambdas/adapters/dynamodb-update-outbox.js';
import { createFetchSender } from '#lambdas/adapters/partnerize-sender.js';
import { staticTokens } from '#lambdas/adapters/token-source.js';
import { configFromEnv } from '#lambdas/runtime/env.js';
import type { OwedDeps, TrackerConfig } from '#lambdas/core/model.js';
import { createClicksHandler } from '#lambdas/handlers/clicks.js';
import { createPostbacksHandler } from '#lambdas/handlers/postbacks.js';
import { dynamoClient } from '#lambdas/runtime/dynamodb.js';
import { startEmbeddedDynamo, type EmbeddedDynamo } from '../../lib/local/embedded-dynamodb.js';
import { TcpProxy } from './tcp-proxy.js';
import { lambdaContext } from '../../lib/local/http-bridge.js';
import { FakePartnerize } from './fake-partnerize.js';
import { httpEvent, type EventInit } from './events.js';
import { MemoryLog, MemoryMetrics, TestClock } from './unit-deps.js';

export { TestClock };

export const TOKEN = 'test-token-0123456789';
export const CAMPAIGN = '1011l270';

export function testConfig(env: Record<string, string> = {}): TrackerConfig {
  return configFromEnv({
    PARTNERIZE_CAMPAIGN_ID: CAMPAIGN,
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: 'https://prf.hn',
    ...env,
  });
}

export { MemoryLog, MemoryMetrics };

export interface TestEnv {
  dynamo: EmbeddedDynamo;
  /** The cut-able path to DynamoDB (with `viaProxy`). */
  proxy: TcpProxy | undefined;
  /** The conversions table read directly, bypassing the proxy. */
  direct: DynamoOwedConversions;
  partnerize: FakePartnerize;
  clock: TestClock;
  deps: OwedDeps;
  log: MemoryLog;
  metrics: MemoryMetrics;
  /** Calls the postbacks handler (real stores, real sender) with an HTTP API event. */
  postback(init: EventInit): Promise<{ statusCode: number; body: any; headers: Record<string, unknown> }>;
  click(init: EventInit): Promise<{ statusCode: number; body: any }>;
  /** Rebuilds deps with a new config (same stores). */
  configure(env: Record<string, string>): void;
  close(): Promise<void>;
}

export interface TestEnvOptions {
  /**
   * Reach DynamoDB through a TCP proxy the test can cut, with the production client settings
   * (1 s request timeout, 3 attempts).
   */
  viaProxy?: boolean;
}

export async function startTestEnv(env: Record<string, string> = {}, opts: TestEnvOptions = {}): Promise<TestEnv> {
  const dynamo = await startEmbeddedDynamo();
  const proxy = opts.viaProxy ? await TcpProxy.start(dynamo.endpoint) : undefined;
  const db = proxy ? dynamoClient(proxy.url) : dynamo.client;
  const partnerize = await FakePartnerize.start();
  const clock = new TestClock();
  const log = new MemoryLog();
  const metrics = new MemoryMetrics();
  const make = (e: Record<string, string>): OwedDeps => ({
    config: testConfig({ PARTNERIZE_BASE_URL: partnerize.url, RETRY_DELAYS_S: '60,300,900', ...e }),
    clicks: new DynamoClickStore(db, dynamo.tables.clicks),
    conversions: new DynamoOwedConversions(db, dynamo.tables.conversions),
    updates: new DynamoUpdateOutbox(db, dynamo.tables.conversions),
    sender: createFetchSender(),
    clock,
    newId: randomUUID,
    random: () => 0.5,
    log,
    metrics,
  });
  const te: TestEnv = {
    dynamo,
    proxy,
    direct: new DynamoOwedConversions(dynamo.client, dynamo.tables.conversions),
    partnerize,
    clock,
    log,
    metrics,
    deps: make(env),
    configure(e) {
      te.deps = make({ ...env, ...e });
    },
    async postback(init) {
      const h = createPostbacksHandler({ ...te.deps, tokens: staticTokens(TOKEN), maxBodyBytes: 262_144 });
      const r = (await h(
        httpEvent({ path: '/postbacks', headers: { authorization: `Bearer ${TOKEN}` }, ...init }),
        lambdaContext('postbacks', 10_000),
      ))!;
      return { statusCode: r.statusCode ?? 200, body: r.body ? JSON.parse(r.body) : undefined, headers: r.headers ?? {} };
    },
    async click(init) {
      const h = createClicksHandler({ ...te.deps, maxBodyBytes: 16_384 });
      const r = (await h(httpEvent({ path: '/clicks', ...init }), lambdaContext('clicks', 5_000)))!;
      return { statusCode: r.statusCode ?? 200, body: r.body ? JSON.parse(r.body) : undefined };
    },
    async close() {
      await proxy?.close();
      await partnerize.close();
      await dynamo.close();
    },
  };
  return te;
}

let counter = 0;
/** A unique id for this test run (orders and sessions must not collide across tests). */
export const uniq = (prefix: string): string => `${prefix}-${Date.now().toString(36)}${(counter++).toString(36)}`;
