/**
 * Dependencies for unit tests of the use cases (lambdas/core): the real config reader with test
 * values, in-memory stores with the DynamoDB adapters' semantics, a scripted Partnerize, a clock the
 * test moves, and logs and metrics kept for assertions. Nothing here opens a socket.
 */
import { configFromEnv } from '#lambdas/runtime/env.js';
import type { Metrics } from '#lambdas/core/metrics.js';
import { DUE_SHARD, type AdminDeps, type ConversionRecord, type Log } from '#lambdas/core/model.js';
import { MemoryClickStore, MemoryConversionAdmin, MemoryUpdateOutbox } from './memory-stores.js';
import { ScriptedSender, type ScriptedAnswer } from './scripted-sender.js';

/*
 * TestClock, MemoryLog and MemoryMetrics are copies of those in ./env.ts: importing env.ts loads the
 * AWS SDK, dynalite and the fetch sender, which costs every unit test file about 0.7 s.
 */

export class TestClock {
  constructor(public t: number = Date.UTC(2026, 10, 24, 10, 0, 0)) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Log lines kept for assertions (and to check that no personal data is logged). */
export class MemoryLog implements Log {
  readonly lines: Array<{ level: string; message: string; fields?: Record<string, unknown> | undefined }> = [];
  info = (message: string, fields?: Record<string, unknown>) => void this.lines.push({ level: 'info', message, fields });
  warn = (message: string, fields?: Record<string, unknown>) => void this.lines.push({ level: 'warn', message, fields });
  error = (message: string, fields?: Record<string, unknown>) => void this.lines.push({ level: 'error', message, fields });
  /** The messages logged at `level`. */
  messages = (level: string): string[] => this.lines.filter((l) => l.level === level).map((l) => l.message);
}

/** Metric values added, summed by name. */
export class MemoryMetrics implements Metrics {
  readonly totals = new Map<string, number>();
  add = (name: string, value: number) => void this.totals.set(name, (this.totals.get(name) ?? 0) + value);
  get = (name: string): number => this.totals.get(name) ?? 0;
}

export const CAMPAIGN = '1011l270';
export const BASE_URL = 'https://prf.test';

/** The tracker's config as the functions read it, live, with a short retry schedule. */
export const unitConfig = (env: Record<string, string> = {}) =>
  configFromEnv({
    PARTNERIZE_CAMPAIGN_ID: CAMPAIGN,
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: BASE_URL,
    RETRY_DELAYS_S: '60,300,900',
    ...env,
  });

export interface UnitDeps extends AdminDeps {
  clicks: MemoryClickStore;
  conversions: MemoryConversionAdmin;
  updates: MemoryUpdateOutbox;
  sender: ScriptedSender;
  clock: TestClock;
  log: MemoryLog;
  metrics: MemoryMetrics;
}

export interface UnitDepsOptions {
  env?: Record<string, string>;
  /** Partnerize's answers, in order. */
  script?: ScriptedAnswer[];
  /** Partnerize's answer once the script is used up (default: none, an extra call fails the test). */
  otherwise?: ScriptedAnswer;
}

/** Fresh stores, a clock at 2026-11-24T10:00Z, ids `id-1`, `id-2` …, and no jitter (random 0.5). */
export function unitDeps(opts: UnitDepsOptions = {}): UnitDeps {
  const clock = new TestClock();
  let n = 0;
  const conversions = new MemoryConversionAdmin();
  return {
    config: unitConfig(opts.env),
    clicks: new MemoryClickStore(),
    conversions,
    updates: new MemoryUpdateOutbox(conversions),
    sender: new ScriptedSender(opts.script, { clock, ...(opts.otherwise ? { otherwise: opts.otherwise } : {}) }),
    clock,
    newId: () => `id-${++n}`,
    random: () => 0.5,
    log: new MemoryLog(),
    metrics: new MemoryMetrics(),
  };
}

/**
 * A conversion record as the postback path writes one, for seeding a store: by default an owed
 * send (`pending`, in the due index, due now) with its exact call.
 */
export function conversionRecord(
  overrides: Partial<ConversionRecord> & { conversionRef: string },
  now = new TestClock().t,
): ConversionRecord {
  const at = new Date(now).toISOString();
  return {
    writeId: `w-${overrides.conversionRef}`,
    orderId: overrides.conversionRef,
    status: 'pending',
    createdAt: at,
    updatedAt: at,
    orderTime: now,
    mode: 'live',
    source: 'native',
    sessionId: 'session-0001',
    clickref: 'AbC123',
    clickrefSource: 'postback',
    consent: true,
    consentPolicy: 'required',
    currency: 'GBP',
    itemCount: 1,
    orderValue: '10',
    request: {
      method: 'GET',
      url: `${BASE_URL}/conversion/tracking_mode:api/campaign:${CAMPAIGN}/clickref:AbC123/conversionref:${overrides.conversionRef}/currency:GBP/[value:10/quantity:1]`,
    },
    attempts: [],
    retries: 0,
    dueShard: DUE_SHARD,
    dueAt: now,
    expiresAt: Math.ceil(now / 1000) + 400 * 86_400,
    ...overrides,
  };
}
