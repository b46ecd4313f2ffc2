import { describe, expect, it } from 'vitest';
import { attemptSend, interruptedAttempt, isDuplicateAnswer, logAttempt, mayHaveLandedBefore, outcomeOf } from '#lambdas/core/delivery.js';
import { METRICS } from '#lambdas/core/metrics.js';
import type { Attempt, AttemptStart, ConversionRecord } from '#lambdas/core/model.js';
import { answer } from '../../support/scripted-sender.js';
import { conversionRecord, unitConfig, unitDeps, type UnitDeps } from '../../support/unit-deps.js';

const NOW = Date.UTC(2026, 10, 24, 10);
const config = unitConfig();
const noJitter = () => 0.5;

const attempt = (over: Partial<Attempt> = {}): Attempt => ({
  at: new Date(NOW).toISOString(),
  trigger: 'retry',
  result: 'sent',
  status: 200,
  latencyMs: 5,
  ...over,
});
const fresh = { retries: 0, attempts: [] as Attempt[] };
const uncertainBefore = {
  retries: 1,
  attempts: [attempt({ result: 'retryable', status: undefined, error: 'timeout', cause: 'timeout', uncertain: true })],
};

describe('outcomeOf', () => {
  it('a 2xx is sent, and leaves the due index', () => {
    expect(outcomeOf(fresh, attempt(), NOW, config, noJitter)).toEqual({ status: 'sent', attempt: attempt(), retries: 0 });
  });

  it('a non-retryable 4xx is rejected, not retried', () => {
    const a = attempt({ result: 'rejected', status: 400, body: 'bad campaign' });
    expect(outcomeOf(fresh, a, NOW, config, noJitter)).toEqual({ status: 'rejected', attempt: a, retries: 0 });
  });

  it('a retryable failure is queued for the next delay of the schedule', () => {
    const a = attempt({ result: 'retryable', status: 503 });
    expect(outcomeOf(fresh, a, NOW, config, noJitter)).toEqual({ status: 'queued', attempt: a, retries: 1, dueAt: NOW + 60_000 });
    expect(outcomeOf({ retries: 2, attempts: [] }, a, NOW, config, noJitter)).toMatchObject({
      status: 'queued',
      retries: 3,
      dueAt: NOW + 900_000,
    });
  });

  it('after the last retry of the schedule the record is failed, with no next due time', () => {
    const a = attempt({ result: 'retryable', status: 500 });
    const o = outcomeOf({ retries: 3, attempts: [] }, a, NOW, config, noJitter);
    expect(o).toEqual({ status: 'failed', attempt: a, retries: 4 });
  });

  it("a 429's Retry-After is a lower bound for the next attempt", () => {
    const a = attempt({ result: 'retryable', status: 429, retryAfterS: 600 });
    expect(outcomeOf(fresh, a, NOW, config, noJitter).dueAt).toBe(NOW + 600_000);
  });

  it('jitter moves the next due time by at most a fifth of the delay', () => {
    const a = attempt({ result: 'retryable', status: 500 });
    expect(outcomeOf(fresh, a, NOW, config, () => 0).dueAt).toBe(NOW + 48_000);
    expect(outcomeOf(fresh, a, NOW, config, () => 0.999_999).dueAt).toBe(NOW + 72_000);
  });

  it('a connection cut after the call went out holds the record as unconfirmed: out of the due index, no retry', () => {
    const cut = attempt({ result: 'retryable', status: undefined, error: 'connection', cause: 'reset', uncertain: true });
    expect(outcomeOf(fresh, cut, NOW, config, noJitter)).toEqual({ status: 'unconfirmed', attempt: cut, retries: 0 });
    expect(outcomeOf({ retries: 3, attempts: [] }, cut, NOW, config, noJitter)).toEqual({
      status: 'unconfirmed',
      attempt: cut,
      retries: 3,
    });
  });

  it('a timeout or a refused connection stays retryable (the contract): queued for the next delay', () => {
    for (const [error, cause, uncertain] of [
      ['timeout', 'timeout', true],
      ['connection', 'refused', false],
      ['connection', 'dns', false],
    ] as const) {
      const a = attempt({ result: 'retryable', status: undefined, error, cause, uncertain });
      expect(outcomeOf(fresh, a, NOW, config, noJitter)).toMatchObject({ status: 'queued', retries: 1, dueAt: NOW + 60_000 });
    }
  });

  it('a duplicate answer after an attempt that may have landed is a delivery (deliveredEarlier)', () => {
    const a = attempt({ result: 'rejected', status: 400, body: 'Duplicate conversionref' });
    expect(outcomeOf(uncertainBefore, a, NOW, config, noJitter)).toEqual({
      status: 'sent',
      attempt: { ...a, deliveredEarlier: true },
      retries: 1,
    });
    const interrupted: AttemptStart = { at: new Date(NOW - 60_000).toISOString(), trigger: 'inline' };
    expect(outcomeOf({ ...fresh, interrupted }, a, NOW, config, noJitter).status).toBe('sent');
  });

  it('the same duplicate answer with no earlier uncertain attempt is a rejection', () => {
    const a = attempt({ result: 'rejected', status: 409, body: 'already exists' });
    expect(outcomeOf(fresh, a, NOW, config, noJitter)).toEqual({ status: 'rejected', attempt: a, retries: 0 });
  });
});

describe('mayHaveLandedBefore', () => {
  it('only an uncertain attempt or an interrupted one may have landed', () => {
    expect(mayHaveLandedBefore(fresh)).toBe(false);
    expect(mayHaveLandedBefore({ attempts: [attempt({ result: 'retryable', status: 503 })] })).toBe(false);
    expect(mayHaveLandedBefore({ attempts: [attempt({ result: 'retryable', cause: 'refused', uncertain: false })] })).toBe(false);
    expect(mayHaveLandedBefore(uncertainBefore)).toBe(true);
    expect(mayHaveLandedBefore({ attempts: [], interrupted: { at: 'x', trigger: 'retry' } })).toBe(true);
  });
});

describe('isDuplicateAnswer', () => {
  const pattern = config.duplicateAnswer;
  it.each([
    ['a 409', { result: 'rejected', status: 409, body: '' }, pattern, true],
    ['a 409 without a pattern', { result: 'rejected', status: 409 }, undefined, true],
    ['a 4xx whose body matches', { result: 'rejected', status: 400, body: 'Conversion ALREADY recorded' }, pattern, true],
    ['a 4xx whose body does not match', { result: 'rejected', status: 400, body: 'invalid campaign' }, pattern, false],
    ['a matching body without a pattern', { result: 'rejected', status: 400, body: 'duplicate' }, undefined, false],
    ['a 4xx without a body', { result: 'rejected', status: 400 }, pattern, false],
    ['a retryable answer that says duplicate', { result: 'retryable', status: 503, body: 'duplicate' }, pattern, false],
    ['a 2xx', { result: 'sent', status: 200, body: 'already tracked' }, pattern, false],
  ] as const)('%s → %s', (_, a, p, expected) => {
    expect(isDuplicateAnswer(a, p)).toBe(expected);
  });
});

describe('interruptedAttempt', () => {
  it('records an attempt whose sender stopped as uncertain, at the time it started', () => {
    expect(interruptedAttempt({ at: '2026-11-24T09:59:00.000Z', trigger: 'inline' })).toEqual({
      at: '2026-11-24T09:59:00.000Z',
      trigger: 'inline',
      result: 'retryable',
      error: 'interrupted',
      cause: 'interrupted',
      uncertain: true,
      latencyMs: 0,
    });
  });
});

/** A record claimed the way the sweep claims it (the store holds it under the returned lease). */
async function claimed(deps: UnitDeps, over: Partial<ConversionRecord> = {}): Promise<{ record: ConversionRecord; leaseId: string }> {
  const seeded = conversionRecord({ conversionRef: 'ORD-1', ...over }, deps.clock.now());
  deps.conversions.items.set(seeded.conversionRef, seeded);
  const leaseId = deps.newId();
  const now = deps.clock.now();
  const record = await deps.conversions.claim(seeded.conversionRef, now, now + deps.config.leaseMs, leaseId, 'retry');
  if (!record) throw new Error('not claimed');
  return { record, leaseId };
}

describe('attemptSend', () => {
  it('sends the recorded call with the given timeout and records the attempt; the lease is released', async () => {
    const deps = unitDeps({ script: [answer.sent('OK', 120)] });
    const { record, leaseId } = await claimed(deps);
    const startedAt = deps.clock.now();
    const report = await attemptSend(record, leaseId, 'retry', 15_000, deps);
    expect(deps.sender.calls).toEqual([{ call: record.request, timeoutMs: 15_000, at: startedAt }]);
    expect(report.recorded).toBe(true);
    expect(report.outcome).toMatchObject({
      status: 'sent',
      retries: 0,
      attempt: { trigger: 'retry', at: new Date(startedAt).toISOString(), latencyMs: 120 },
    });
    const stored = (await deps.conversions.get('ORD-1'))!;
    expect(stored).toMatchObject({ status: 'sent', updatedAt: new Date(startedAt + 120).toISOString() });
    expect(stored.attempts).toHaveLength(1);
    for (const k of ['leaseId', 'attemptStarted', 'dueAt', 'dueShard'] as const) expect(stored[k]).toBeUndefined();
    expect(deps.metrics.get(METRICS.partnerizeAnswer.sent)).toBe(1);
    expect(deps.metrics.get(METRICS.partnerizeLatency)).toBe(120);
  });

  it('a retryable answer leaves the record queued in the due index, due after the first delay', async () => {
    const deps = unitDeps({ script: [answer.status(502)] });
    const { record, leaseId } = await claimed(deps);
    const report = await attemptSend(record, leaseId, 'retry', 15_000, deps);
    expect(report.outcome).toMatchObject({ status: 'queued', retries: 1, dueAt: deps.clock.now() + 60_000 });
    expect(await deps.conversions.listDue(deps.clock.now() + 60_000, 10)).toEqual([
      { conversionRef: 'ORD-1', dueAt: deps.clock.now() + 60_000 },
    ]);
    expect(deps.metrics.get(METRICS.partnerizeAnswer.retryable)).toBe(1);
  });

  it('an unfinished attempt of an earlier holder goes on the record before this one', async () => {
    const deps = unitDeps({ script: [answer.sent()] });
    const started = { at: new Date(deps.clock.now() - 40_000).toISOString(), trigger: 'inline' as const };
    const { record, leaseId } = await claimed(deps, { attemptStarted: started, leaseId: 'dead-holder' });
    expect(record.interrupted).toEqual(started);
    await attemptSend(record, leaseId, 'retry', 15_000, deps);
    const stored = (await deps.conversions.get('ORD-1'))!;
    expect(stored.attempts.map((a) => [a.trigger, a.error ?? a.result])).toEqual([
      ['inline', 'interrupted'],
      ['retry', 'sent'],
    ]);
    expect(stored.attempts[0]).toEqual(interruptedAttempt(started));
  });

  it('a duplicate answer after an interrupted attempt is sent with deliveredEarlier, counted as a delivery', async () => {
    const deps = unitDeps({ script: [answer.rejected('duplicate conversion reference')] });
    const { record, leaseId } = await claimed(deps, {
      attemptStarted: { at: new Date(deps.clock.now() - 40_000).toISOString(), trigger: 'inline' },
    });
    const report = await attemptSend(record, leaseId, 'retry', 15_000, deps);
    expect(report.outcome.status).toBe('sent');
    expect(report.outcome.attempt.deliveredEarlier).toBe(true);
    expect(deps.metrics.get(METRICS.deliveredEarlier)).toBe(1);
    expect(deps.metrics.get(METRICS.partnerizeAnswer.sent)).toBe(1);
    expect(deps.metrics.get(METRICS.partnerizeAnswer.rejected)).toBe(0);
  });

  it('an uncertain failure (timeout) is counted as uncertain', async () => {
    const deps = unitDeps({ script: [answer.noAnswer('timeout', 15_000)] });
    const { record, leaseId } = await claimed(deps);
    const report = await attemptSend(record, leaseId, 'retry', 15_000, deps);
    expect(report.outcome.attempt).toMatchObject({
      result: 'retryable',
      error: 'timeout',
      cause: 'timeout',
      uncertain: true,
      host: 'prf.test',
    });
    expect(deps.metrics.get(METRICS.partnerizeUncertain)).toBe(1);
  });

  it('a failure after the last retry is failed, counted once it is on record', async () => {
    const deps = unitDeps({ script: [answer.status(500)] });
    const { record, leaseId } = await claimed(deps, { status: 'queued', retries: 3 });
    const report = await attemptSend(record, leaseId, 'retry', 15_000, deps);
    expect(report).toMatchObject({ recorded: true, outcome: { status: 'failed', retries: 4 } });
    expect(deps.metrics.get(METRICS.conversionsFailed)).toBe(1);
    expect(await deps.conversions.listDue(deps.clock.now() + 86_400_000, 10)).toEqual([]);
  });

  it('a lost lease: the result is not recorded, and a failure is not counted (the record stays owed)', async () => {
    const deps = unitDeps();
    const { record, leaseId } = await claimed(deps, { status: 'queued', retries: 3 });
    // Another process takes the record over while the call is in flight.
    deps.sender.enqueue({
      ...answer.status(500),
      during: () => deps.conversions.items.set('ORD-1', { ...deps.conversions.items.get('ORD-1')!, leaseId: 'other' }),
    });
    const report = await attemptSend(record, leaseId, 'retry', 15_000, deps);
    expect(report.recorded).toBe(false);
    expect(report.outcome.status).toBe('failed');
    expect(deps.metrics.get(METRICS.conversionsFailed)).toBe(0);
    expect((await deps.conversions.get('ORD-1'))!).toMatchObject({ status: 'queued', attempts: [], leaseId: 'other' });
  });

  it('a store failure after the send is reported, not thrown: the send happened and must not be repeated by the caller', async () => {
    const deps = unitDeps({ script: [answer.sent()] });
    const { record, leaseId } = await claimed(deps);
    deps.conversions.finishAttempt = async () => {
      throw new Error('ServiceUnavailable');
    };
    const errors: unknown[] = [];
    const report = await attemptSend(record, leaseId, 'retry', 15_000, deps, (err) => errors.push(err));
    expect(report).toMatchObject({ recorded: false, outcome: { status: 'sent' } });
    expect(errors.map(String)).toEqual(['Error: ServiceUnavailable']);
  });

  it('refuses a record without a call to send, and calls nobody', async () => {
    const deps = unitDeps();
    const { record, leaseId } = await claimed(deps, { request: undefined });
    await expect(attemptSend(record, leaseId, 'replay', 15_000, deps)).rejects.toThrow('ORD-1 has no request to send');
    expect(deps.sender.calls).toHaveLength(0);
  });
});

describe('logAttempt', () => {
  it('logs ids, classes and timings, never the call (its URL holds the clickref)', async () => {
    const deps = unitDeps({ script: [answer.status(503, { latencyMs: 80 })] });
    const { record, leaseId } = await claimed(deps);
    const { outcome } = await attemptSend(record, leaseId, 'retry', 15_000, deps);
    logAttempt(deps.log, 'ORD-1', outcome);
    expect(deps.log.lines).toEqual([
      {
        level: 'info',
        message: 'partnerize attempt',
        fields: {
          conversionRef: 'ORD-1',
          trigger: 'retry',
          result: 'retryable',
          httpStatus: 503,
          error: undefined,
          cause: undefined,
          uncertain: undefined,
          deliveredEarlier: undefined,
          interrupted: undefined,
          latencyMs: 80,
          status: 'queued',
          retries: 1,
        },
      },
    ]);
    expect(JSON.stringify(deps.log.lines)).not.toContain('AbC123');
  });
});
