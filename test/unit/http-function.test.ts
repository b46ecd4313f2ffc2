/**
 * How an HTTP function answers around its body (http/http-function.ts): errors become answers,
 * metrics are flushed whatever happens, and a body that outlives Lambda's time is cut 5 ms before
 * Lambda would cut the invocation off — the behaviour the functions had when middy wrapped them.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import { httpFunction } from '#lambdas/http/http-function.js';
import { json } from '#lambdas/http/http.js';
import { httpEvent } from '../support/events.js';
import { MemoryLog, MemoryMetrics } from '../support/unit-deps.js';

afterEach(() => {
  vi.useRealTimers();
});

const setup = (body: () => Promise<ReturnType<typeof json>>) => {
  const log = new MemoryLog();
  let flushes = 0;
  const metrics = Object.assign(new MemoryMetrics(), {
    flush: () => {
      flushes += 1;
    },
  });
  const handler = httpFunction({ log, metrics }, body);
  return { handler, log, flushes: () => flushes };
};
const event = httpEvent({ path: '/postbacks', body: {} });

describe('httpFunction', () => {
  it("answers the body's result, then flushes the metrics", async () => {
    const f = setup(async () => json(202, { ok: true }));
    expect(await f.handler(event, { getRemainingTimeInMillis: () => 10_000 })).toMatchObject({ statusCode: 202 });
    expect(f.flushes()).toBe(1);
  });

  it('answers an error (bad input: its 4xx; an outage: 503; anything else: 500), then flushes the metrics', async () => {
    const bad = setup(async () => {
      throw new InputError('invalid_field', 'orderId must be a string', 'orderId');
    });
    expect(await bad.handler(event)).toMatchObject({ statusCode: 400 });
    expect(bad.flushes()).toBe(1);
    const outage = setup(async () => {
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    });
    expect(await outage.handler(event)).toMatchObject({ statusCode: 503, headers: { 'retry-after': '5' } });
    expect(outage.flushes()).toBe(1);
    const bug = setup(async () => {
      throw new TypeError('x is undefined');
    });
    expect(await bug.handler(event)).toMatchObject({ statusCode: 500 });
    expect(bug.log.lines.at(-1)).toMatchObject({ level: 'error', fields: { error: 'TypeError', kind: 'other' } });
  });

  it("a body still running 5 ms before Lambda's timeout is answered 503 (retried), named TimeoutError, and the metrics flushed", async () => {
    vi.useFakeTimers();
    const f = setup(() => new Promise(() => {}));
    const answered = f.handler(event, { getRemainingTimeInMillis: () => 1_000 });
    await vi.advanceTimersByTimeAsync(994);
    expect(f.flushes()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(await answered).toMatchObject({ statusCode: 503 });
    expect(f.log.lines.at(-1)).toMatchObject({
      level: 'error',
      message: 'request failed',
      fields: { error: 'TimeoutError', kind: 'transient', message: '[AbortError]: The operation was aborted.' },
    });
    expect(f.flushes()).toBe(1);
  });

  it('without a Lambda context (tests, the local server without one) nothing is timed', async () => {
    vi.useFakeTimers();
    let finish: (r: ReturnType<typeof json>) => void = () => {};
    const f = setup(
      () =>
        new Promise((resolve) => {
          finish = resolve;
        }),
    );
    const answered = f.handler(event);
    await vi.advanceTimersByTimeAsync(60_000);
    finish(json(202, {}));
    expect(await answered).toMatchObject({ statusCode: 202 });
  });
});
