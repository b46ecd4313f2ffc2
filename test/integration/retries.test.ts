/**
 * The outbox under failure: retries on the schedule, Retry-After, rejections, timeouts, refused
 * connections, racing sweeps, expired leases, exhausted schedules, and a DynamoDB that goes away.
 * Real dynalite, a real fake Partnerize on 127.0.0.1, a clock the test moves.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Deadline } from '#lambdas/adapters/deadline.js';
import { DynamoUpdateAdmin } from '#lambdas/adapters/dynamodb-reconcile.js';
import { DynamoConversionAdmin } from '#lambdas/adapters/dynamodb-stores.js';
import { DUE_SHARD, type AdminDeps, type ConversionRecord } from '#lambdas/core/model.js';
import { METRICS } from '#lambdas/core/metrics.js';
import { confirmDelivered, replay } from '#lambdas/core/operations.js';
import { sweep } from '#lambdas/core/sweep.js';
import { freePort } from '../../lib/local/embedded-dynamodb.js';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startTestEnv, uniq, type TestEnv } from '../support/env.js';

let env: TestEnv;
beforeAll(async () => {
  env = await startTestEnv({}, { viaProxy: true });
});
afterAll(async () => env?.close());
afterEach(async () => {
  // Leave nothing owed behind for the next test: deliver whatever is still due.
  env.partnerize.reset();
  env.proxy!.restore();
  env.configure({});
  env.clock.advance(2 * 86_400_000);
  while ((await sweep(env.deps, { limit: 500, concurrency: 8, budgetMs: 30_000 })).claimed > 0);
  env.partnerize.reset();
});

const SWEEP = { limit: 100, concurrency: 4, budgetMs: 30_000 };
const order = (orderId: string, clickref = 'Retry1') => ({
  event: 'purchase',
  orderId,
  clickref,
  currency: 'GBP',
  consent: true,
  orderTime: '2026-11-24T09:00:00Z',
  items: [{ sku: 'S', value: 10, quantity: 1 }],
});
const record = (ref: string) => env.direct.get(ref);
const admin = (): AdminDeps => ({
  ...env.deps,
  conversions: new DynamoConversionAdmin(env.dynamo.client, env.dynamo.tables.conversions),
  updates: new DynamoUpdateAdmin(env.dynamo.client, env.dynamo.tables.conversions),
});
const minutes = (n: number) => n * 60_000;

describe('retries', () => {
  it('Partnerize answers 500 three times then 200: delivered once, four attempts on record, same call each time', async () => {
    env.partnerize.respondWith({ status: 500 }, { status: 500 }, { status: 500 });
    const ref = uniq('R500');
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('queued');
    const schedule = [60, 300, 900];
    for (const delayS of schedule) {
      env.clock.advance(delayS * 1000);
      await sweep(env.deps, SWEEP);
    }
    const rec = await record(ref);
    expect(rec!.status).toBe('sent');
    expect(rec!.attempts.map((a) => [a.trigger, a.result, a.status])).toEqual([
      ['inline', 'retryable', 500],
      ['retry', 'retryable', 500],
      ['retry', 'retryable', 500],
      ['retry', 'sent', 200],
    ]);
    const calls = env.partnerize.requestsFor(ref);
    expect(calls).toHaveLength(4);
    expect(new Set(calls.map((c) => c.url)).size).toBe(1);
    expect(calls[0]!.url).toContain('/conversion_time:2026-11-24%2009%3A00%3A00/');
    expect(env.partnerize.acceptedCounts().get(ref)).toBe(1);
    expect(rec!.dueAt).toBeUndefined();
  });

  it('nothing is sent before it is due', async () => {
    env.partnerize.respondWith({ status: 503 });
    const ref = uniq('EARLY');
    await env.postback({ body: order(ref) });
    env.clock.advance(30_000);
    const report = await sweep(env.deps, SWEEP);
    expect(report.claimed).toBe(0);
    expect(env.partnerize.requestsFor(ref)).toHaveLength(1);
  });

  it('429 with Retry-After: the next attempt waits at least that long, and the run stops claiming', async () => {
    const [a, b, c] = [uniq('RL'), uniq('RL'), uniq('RL')];
    env.partnerize.setDefault({ status: 500 });
    for (const ref of [a, b, c]) await env.postback({ body: order(ref) });
    env.clock.advance(minutes(2));
    env.partnerize.setDefault({ status: 429, headers: { 'retry-after': '600' } });
    const report = await sweep(env.deps, { ...SWEEP, concurrency: 1 });
    expect(report).toMatchObject({ due: 3, claimed: 1, stoppedBy: 'rate_limited' });
    const limited = (await Promise.all([a, b, c].map(record))).find((r) => r!.attempts.length === 2)!;
    expect(limited.attempts[1]).toMatchObject({ status: 429, retryAfterS: 600 });
    expect(limited.dueAt! - env.clock.now()).toBeGreaterThanOrEqual(600_000);
    env.partnerize.setDefault({ status: 200 });
    env.clock.advance(minutes(11));
    await sweep(env.deps, SWEEP);
    for (const ref of [a, b, c]) expect(env.partnerize.acceptedCounts().get(ref)).toBe(1);
  });

  it('400 is rejected and never retried', async () => {
    env.partnerize.respondWith({ status: 400, body: 'invalid clickref' });
    const ref = uniq('R400');
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('rejected');
    env.clock.advance(minutes(60 * 48));
    expect((await sweep(env.deps, SWEEP)).claimed).toBe(0);
    expect(env.partnerize.requestsFor(ref)).toHaveLength(1);
    expect(await record(ref)).toMatchObject({ status: 'rejected', attempts: [{ status: 400, body: 'invalid clickref' }] });
  });

  it('a hanging Partnerize times out and is retried', async () => {
    env.configure({ INLINE_TIMEOUT_MS: '300', RETRY_TIMEOUT_MS: '300' });
    env.partnerize.respondWith({ hang: true }, { hang: true });
    const ref = uniq('HANG');
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('queued');
    env.clock.advance(minutes(1));
    await sweep(env.deps, SWEEP);
    env.clock.advance(minutes(5));
    await sweep(env.deps, SWEEP);
    const rec = await record(ref);
    expect(rec!.attempts.map((x) => x.error ?? x.status)).toEqual(['timeout', 'timeout', 200]);
    expect(rec!.status).toBe('sent');
  });

  it('a refused connection is retried until Partnerize is back', async () => {
    const port = await freePort();
    env.configure({ PARTNERIZE_BASE_URL: `http://127.0.0.1:${port}` });
    const ref = uniq('REFUSED');
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('queued');
    expect((await record(ref))!.attempts[0]!.error).toBe('connection');
    const back = await FakePartnerize.start(port);
    try {
      env.clock.advance(minutes(1));
      await sweep(env.deps, SWEEP);
      expect(back.acceptedCounts().get(ref)).toBe(1);
      expect((await record(ref))!.status).toBe('sent');
    } finally {
      await back.close();
    }
  });

  it('after the last scheduled retry the record is failed, counted, and out of the due index', async () => {
    env.configure({ RETRY_DELAYS_S: '1,2' });
    env.partnerize.setDefault({ status: 502 });
    const ref = uniq('FAIL');
    const failedBefore = env.metrics.get(METRICS.conversionsFailed);
    await env.postback({ body: order(ref) });
    env.clock.advance(1_500);
    await sweep(env.deps, SWEEP);
    env.clock.advance(2_500);
    await sweep(env.deps, SWEEP);
    const rec = await record(ref);
    expect(rec).toMatchObject({ status: 'failed', retries: 3 });
    expect(rec!.attempts).toHaveLength(3);
    expect(rec!.dueShard).toBeUndefined();
    expect(env.metrics.get(METRICS.conversionsFailed)).toBe(failedBefore + 1);
  });

  it('every run emits a heartbeat', async () => {
    const before = env.metrics.get(METRICS.retryHeartbeat);
    await sweep(env.deps, SWEEP);
    await sweep(env.deps, SWEEP);
    expect(env.metrics.get(METRICS.retryHeartbeat)).toBe(before + 2);
  });
});

describe('concurrency and crashes', () => {
  it('two retry runs racing over the same due records send each record exactly once', async () => {
    env.partnerize.setDefault({ status: 500 });
    const refs = Array.from({ length: 30 }, () => uniq('RACE'));
    await Promise.all(refs.map((ref) => env.postback({ body: order(ref) })));
    env.partnerize.setDefault({ status: 200, delayMs: 30 });
    // The inline 500 (a postback slowed past its answer budget on a loaded machine skips it: owed at once).
    const before = new Map(refs.map((ref) => [ref, env.partnerize.requestsFor(ref).length]));
    env.clock.advance(minutes(2));
    const [r1, r2] = await Promise.all([sweep(env.deps, { ...SWEEP, concurrency: 5 }), sweep(env.deps, { ...SWEEP, concurrency: 5 })]);
    expect(r1.claimed + r2.claimed).toBe(30);
    const counts = env.partnerize.acceptedCounts();
    for (const ref of refs) {
      expect(counts.get(ref), ref).toBe(1);
      expect(env.partnerize.requestsFor(ref).length - before.get(ref)!, ref).toBe(1); // one retry call, from one of the two runs
    }
  });

  it('a record whose sender died mid-send is picked up again once its lease expires', async () => {
    const ref = uniq('DEAD');
    const now = env.clock.now();
    const orphan: ConversionRecord = {
      conversionRef: ref,
      writeId: 'w',
      orderId: ref,
      status: 'pending',
      createdAt: new Date(now).toISOString(),
      updatedAt: new Date(now).toISOString(),
      orderTime: now,
      mode: 'live',
      source: 'native',
      clickref: 'Orphan1',
      clickrefSource: 'postback',
      consentPolicy: 'required',
      currency: 'GBP',
      itemCount: 1,
      orderValue: '1',
      attempts: [],
      retries: 0,
      expiresAt: Math.ceil(now / 1000) + 86_400,
      request: {
        method: 'GET',
        url: `${env.partnerize.url}/conversion/tracking_mode:api/campaign:c/clickref:Orphan1/conversionref:${ref}/currency:GBP/[value:1/quantity:1]`,
      },
      dueShard: DUE_SHARD,
      dueAt: now + env.deps.config.leaseMs,
      leaseId: 'dead-process',
    };
    expect((await env.deps.conversions.create(orphan)).created).toBe(true);
    expect((await sweep(env.deps, SWEEP)).claimed).toBe(0); // the lease still holds
    env.clock.advance(env.deps.config.leaseMs + 1);
    await sweep(env.deps, SWEEP);
    expect(env.partnerize.acceptedCounts().get(ref)).toBe(1);
    // The dead sender, had it come back, can no longer write over the outcome.
    const late = await env.deps.conversions.finishAttempt(
      ref,
      'dead-process',
      { status: 'queued', retries: 1, dueAt: 1, attempt: { at: '', trigger: 'retry', result: 'retryable', latencyMs: 0 } },
      env.clock.now(),
    );
    expect(late).toBe(false);
    expect((await record(ref))!.status).toBe('sent');
  });

  it("Tealium's retry after our 5xx resumes the owed send instead of answering duplicate", async () => {
    const ref = uniq('RESUME');
    // The first request stored the record and died before sending (lease held, nothing sent).
    env.proxy!.dropResponses(0);
    const first = await env.deps.conversions.create({
      conversionRef: ref,
      writeId: 'first',
      orderId: ref,
      status: 'pending',
      createdAt: '',
      updatedAt: '',
      orderTime: env.clock.now(),
      mode: 'live',
      source: 'native',
      clickref: 'Resume1',
      clickrefSource: 'postback',
      consentPolicy: 'required',
      currency: 'GBP',
      itemCount: 1,
      orderValue: '10',
      attempts: [],
      retries: 0,
      expiresAt: 2e9,
      request: { method: 'GET', url: `${env.partnerize.url}/conversion/tracking_mode:api/clickref:Resume1/conversionref:${ref}/` },
      dueShard: DUE_SHARD,
      dueAt: env.clock.now() + env.deps.config.leaseMs,
      leaseId: 'died',
    });
    expect(first.created).toBe(true);
    // A concurrent duplicate while the lease holds: nothing is sent.
    expect((await env.postback({ body: order(ref, 'Resume1') })).body.outcome).toBe('duplicate');
    expect(env.partnerize.requestsFor(ref)).toHaveLength(0);
    // Tealium retries a minute later: the lease has run out, the send resumes.
    env.clock.advance(minutes(1));
    const retried = await env.postback({ body: order(ref, 'Resume1') });
    expect(retried.body).toEqual({ conversionRef: ref, outcome: 'sent' });
    expect(env.partnerize.acceptedCounts().get(ref)).toBe(1);
    expect((await record(ref))!.attempts.map((a) => a.trigger)).toEqual(['resume']);
    // And once sent, a further retry is a plain duplicate.
    expect((await env.postback({ body: order(ref, 'Resume1') })).body.outcome).toBe('duplicate');
  });
});

describe('dedupe while owed', () => {
  it('a repeated postback for a queued conversion is a duplicate and sends nothing (a double tag, support question Q11)', async () => {
    env.partnerize.respondWith({ status: 500 });
    const ref = uniq('DOUBLE');
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('queued');
    env.clock.advance(minutes(5)); // due, not yet picked up
    expect((await env.postback({ body: order(ref) })).body).toEqual({ conversionRef: ref, outcome: 'duplicate' });
    expect(env.partnerize.requestsFor(ref)).toHaveLength(1);
  });

  it('requeue never takes a record someone holds (a replay in flight)', async () => {
    env.partnerize.setDefault({ status: 502 });
    env.configure({ RETRY_DELAYS_S: '1' });
    const ref = uniq('HELD');
    await env.postback({ body: order(ref) });
    env.clock.advance(1_500);
    await sweep(env.deps, SWEEP);
    expect((await record(ref))!.status).toBe('failed');
    const admin = new DynamoConversionAdmin(env.dynamo.client, env.dynamo.tables.conversions);
    expect(admin.withDeadline(Deadline.in(1_000))).toBeInstanceOf(DynamoConversionAdmin); // a bound view keeps its class
    const lease = await admin.takeLease(ref, env.clock.now(), env.clock.now() + 30_000, 'replayer', 'replay');
    expect(lease).toBeDefined();
    expect(await admin.requeue(ref, ['failed'], env.clock.now())).toBe(false);
    env.clock.advance(31_000); // the replayer died: its lease ran out
    expect(await admin.requeue(ref, ['failed'], env.clock.now())).toBe(true);
    expect(await record(ref)).toMatchObject({ status: 'queued', retries: 0, dueShard: DUE_SHARD });
  });
});

describe('DynamoDB failures', () => {
  it("a hung DynamoDB still gets a 5xx back inside Tealium's 5 s (so Tealium retries)", async () => {
    const ref = uniq('STALL');
    env.proxy!.stall();
    const started = Date.now();
    const r = await env.postback({ body: order(ref) });
    const took = Date.now() - started;
    env.proxy!.restore();
    expect(r.statusCode).toBe(503);
    expect(took).toBeLessThan(5_000);
    expect(await record(ref)).toBeUndefined();
  });

  it('DynamoDB unreachable during a postback: 5xx, nothing stored; the retry then succeeds', async () => {
    const ref = uniq('DDBDOWN');
    env.proxy!.down();
    const failed = await env.postback({ body: order(ref) });
    expect(failed.statusCode).toBe(503);
    expect(failed.body.error.code).toBe('store_unavailable');
    expect(await record(ref)).toBeUndefined();
    expect(env.partnerize.requestsFor(ref)).toHaveLength(0);
    env.proxy!.restore();
    const retried = await env.postback({ body: order(ref) });
    expect(retried).toMatchObject({ statusCode: 202, body: { outcome: 'sent' } });
    expect(env.partnerize.acceptedCounts().get(ref)).toBe(1);
  });

  it('a write whose answer is lost (the SDK retries and finds our own record) still sends, once', async () => {
    const ref = uniq('LOSTACK');
    env.proxy!.dropResponses(1); // the PutItem lands, its answer does not
    const r = await env.postback({ body: order(ref) });
    expect(r.body).toEqual({ conversionRef: ref, outcome: 'sent' });
    expect(env.partnerize.acceptedCounts().get(ref)).toBe(1);
    expect((await record(ref))!.attempts).toHaveLength(1);
  });

  it('a DynamoDB that hangs while the send is recorded: the write gives up in seconds (no Lambda timeout, no 5xx, no second send)', async () => {
    const ref = uniq('HANGREC');
    env.partnerize.setDefault({ status: 200, delayMs: 100 });
    const pending = env.postback({ body: order(ref) });
    await env.partnerize.waitForRequests(1);
    env.proxy!.stall(); // connections accepted, nothing ever answered
    const started = Date.now();
    const r = await pending;
    const took = Date.now() - started;
    env.proxy!.restore();
    expect(r).toMatchObject({ statusCode: 202, body: { outcome: 'sent' } });
    // Bounded by the client (1 s per try, 3 tries), not by the socket: a warning-only timeout hung here for minutes.
    expect(took).toBeLessThan(6_000);
    expect(env.partnerize.requestsFor(ref)).toHaveLength(1);
    expect(env.log.lines.some((l) => l.level === 'error' && l.fields?.['conversionRef'] === ref)).toBe(true);
  });

  it('a store failure after the send is not answered as a failure, and the record stays owed', async () => {
    const ref = uniq('LATEFAIL');
    env.partnerize.setDefault({ status: 200, delayMs: 100 });
    const pending = env.postback({ body: order(ref) });
    await env.partnerize.waitForRequests(1);
    env.proxy!.down(); // DynamoDB goes away while Partnerize answers
    const r = await pending;
    env.proxy!.restore();
    expect(r).toMatchObject({ statusCode: 202, body: { outcome: 'sent' } });
    const rec = await record(ref);
    expect(rec!.status).toBe('pending'); // not recorded: still owed under its lease
    expect(env.log.lines.some((l) => l.level === 'error' && l.fields?.['conversionRef'] === ref)).toBe(true);
  });
});

describe('slow and cut answers: sent once, or delivered-after-uncertain, never rejected', () => {
  const DUPLICATE = { status: 400, body: 'Duplicate conversionref' };

  it('Partnerize answering after 3 s is waited for inline: one call, sent', async () => {
    env.partnerize.setDefault({ status: 200, body: 'OK', delayMs: 3_000 });
    const ref = uniq('SLOW3');
    const started = Date.now();
    const r = await env.postback({ body: order(ref) });
    expect(Date.now() - started).toBeLessThan(4_500);
    expect(r.body.outcome).toBe('sent');
    expect(env.partnerize.requestsFor(ref)).toHaveLength(1);
  });

  it('a connection cut after Partnerize read the call: held as unconfirmed, never sent again by itself, paged; confirmed by an operator', async () => {
    env.partnerize.respondWith({ drop: true, recorded: true });
    const ref = uniq('CUT');
    const unconfirmedBefore = env.metrics.get(METRICS.conversionsUnconfirmed);
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('queued');
    const held = (await record(ref))!;
    expect(held.status).toBe('unconfirmed');
    expect(held.dueAt).toBeUndefined(); // out of the due index: no retry takes it
    expect(held.attempts[0]).toMatchObject({ result: 'retryable', cause: 'reset', uncertain: true });
    expect(env.metrics.get(METRICS.conversionsUnconfirmed)).toBe(unconfirmedBefore + 1);
    // Sweeps long after: Partnerize is not called again (it may have counted the call).
    for (const m of [2, 10, 60, 24 * 60]) {
      env.clock.advance(minutes(m));
      await sweep(env.deps, SWEEP);
    }
    expect(env.partnerize.requestsFor(ref)).toHaveLength(1);
    expect(env.partnerize.recordedCounts().get(ref)).toBe(1);
    // A repeat of the postback does not send it either.
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('duplicate');
    expect(env.partnerize.requestsFor(ref)).toHaveLength(1);
    // The operator finds it in Partnerize and confirms it: sent, with the reason on the trail, no call.
    const confirmed = await confirmDelivered(held, 'in the conversion report', admin());
    expect(confirmed.status).toBe('sent');
    const rec = (await record(ref))!;
    expect(rec.status).toBe('sent');
    expect(rec.attempts[1]).toMatchObject({ trigger: 'confirm', result: 'sent', deliveredEarlier: true, body: 'in the conversion report' });
    expect(env.partnerize.requestsFor(ref)).toHaveLength(1);
  });

  it('a connection cut before Partnerize recorded it: held the same way, and `replay` sends it once more', async () => {
    env.partnerize.respondWith({ drop: true, recorded: false });
    const ref = uniq('CUTBEFORE');
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('queued');
    const held = (await record(ref))!;
    expect(held.status).toBe('unconfirmed');
    env.partnerize.setDefault({ status: 200, body: 'OK' });
    const { report } = await replay(held, {}, admin());
    expect(report.outcome.status).toBe('sent');
    expect(env.partnerize.recordedCounts().get(ref)).toBe(1);
  });

  it('confirm refuses a conversion that is not unconfirmed, and needs a reason', async () => {
    env.partnerize.setDefault({ status: 200, body: 'OK' });
    const ref = uniq('NOTHELD');
    await env.postback({ body: order(ref) });
    const rec = (await record(ref))!;
    await expect(confirmDelivered(rec, 'why', admin())).rejects.toThrow(/is sent: only an unconfirmed/);
    await expect(confirmDelivered({ ...rec, status: 'unconfirmed' }, '  ', admin())).rejects.toThrow(/reason|Partnerize holds/);
  });

  it('a sender that died mid-call: the next holder records the interrupted attempt, and a duplicate answer then means delivered', async () => {
    env.partnerize.dedupeWith(DUPLICATE);
    const ref = uniq('CRASH');
    // What a crash right after the send leaves: Partnerize has it, the record is pending under a dead lease.
    env.partnerize.respondWith({ hang: true, recorded: true });
    env.configure({ INLINE_TIMEOUT_MS: '300' });
    await env.postback({ body: order(ref) });
    const now = env.clock.now();
    const rec0 = (await record(ref))!;
    await env.direct.replace(
      {
        ...rec0,
        status: 'pending',
        attempts: [],
        retries: 0,
        dueAt: now,
        leaseId: 'dead',
        attemptStarted: { at: new Date(now).toISOString(), trigger: 'inline' },
      },
      rec0,
    );
    env.clock.advance(minutes(1));
    await sweep(env.deps, SWEEP);
    const rec = await record(ref);
    expect(rec!.status).toBe('sent');
    expect(rec!.attempts.map((a) => [a.trigger, a.error ?? a.status, a.deliveredEarlier ?? false])).toEqual([
      ['inline', 'interrupted', false],
      ['retry', 400, true],
    ]);
    expect(rec!.attemptStarted).toBeUndefined();
  });

  it('without an earlier uncertain attempt, a "duplicate" answer is a rejection (someone else — a pixel — already sent it)', async () => {
    env.partnerize.setDefault(DUPLICATE);
    const ref = uniq('DUPFIRST');
    expect((await env.postback({ body: order(ref) })).body.outcome).toBe('rejected');
  });
});
