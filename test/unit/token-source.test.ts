/**
 * The token source against an in-memory model of Secrets Manager (versions and staging labels, see
 * test/support/secrets-manager-model.ts), on fake timers so waits and read spacing are exact.
 */
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadline } from '#lambdas/adapters/deadline.js';
import { ANSWER_BUDGET_MS } from '#lambdas/core/answer-budget.js';
import { SecretsManagerTokens, staticTokens, tokenOf } from '#lambdas/adapters/token-source.js';
import { originGuard } from '#lambdas/http/origin-guard.js';
import type { HttpEvent } from '#lambdas/http/http.js';
import { SecretsManagerModel } from '../support/secrets-manager-model.js';

const sm = mockClient(SecretsManagerClient);
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PostbackToken-AbCdEf';
const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);
const TTL = 300_000;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
  sm.reset();
});

const source = (options: ConstructorParameters<typeof SecretsManagerTokens>[4] = {}) =>
  new SecretsManagerTokens(new SecretsManagerClient({}), ARN, TTL, undefined, options);
const rotate = (model: SecretsManagerModel, token: string) => model.putSecretValue({ SecretId: ARN, SecretString: token });
/**
 * Reads of the secret: a cold one is one GetSecretValue per stage, started together; a warm one is
 * a DescribeSecret, and a GetSecretValue by id for each version not read before.
 */
const readsOf = (model: SecretsManagerModel) => model.describes.length + model.reads.filter((r) => r.stage === 'AWSCURRENT').length;
/** Secrets Manager calls made (each billed the same: $0.05 per 10,000). */
const callsOf = (model: SecretsManagerModel) => model.describes.length + model.reads.length;

/** Settles `p`, running fake time from timer to timer meanwhile, and says how long it took. */
async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let settled = false;
  const done = p.finally(() => {
    settled = true;
  });
  done.catch(() => undefined);
  for (let steps = 0; !settled; steps += 1) {
    if (steps > 10_000) throw new Error('never settled');
    await vi.advanceTimersToNextTimerAsync();
  }
  return { value: await done, ms: Date.now() - start };
}

describe('staticTokens', () => {
  it('accepts its tokens only', async () => {
    const tokens = staticTokens('local-token-1', 'local-token-2');
    expect(await tokens.accepts('local-token-2')).toBe(true);
    expect(await tokens.accepts('local-token-3')).toBe(false);
    expect(await tokens.accepts(undefined)).toBe(false);
    expect(await tokens.accepts('')).toBe(false);
  });
});

describe('SecretsManagerTokens: what is read', () => {
  it('accepts AWSCURRENT, AWSPREVIOUS and AWSPENDING, cached for ttlMs', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    rotate(model, 'token-v2');
    model.putSecretValue({ SecretId: ARN, SecretString: 'token-v3-staged', VersionStages: ['AWSPENDING'] });
    const tokens = source();
    expect(await tokens.tokens()).toEqual(['token-v2', 'token-v1', 'token-v3-staged']);
    for (const t of ['token-v1', 'token-v2', 'token-v3-staged']) expect(await tokens.accepts(t)).toBe(true);
    expect(readsOf(model)).toBe(1);
    vi.advanceTimersByTime(TTL);
    await tokens.tokens();
    expect(readsOf(model)).toBe(2);
    // Nothing changed: the refresh was one DescribeSecret, no value read again.
    expect(callsOf(model)).toBe(3 + 1);
  });

  it('works before any rotation (only AWSCURRENT)', async () => {
    const model = new SecretsManagerModel(ARN, 'only').install(sm);
    expect(await source().tokens()).toEqual(['only']);
    expect(model.reads.map((r) => r.stage)).toEqual(['AWSCURRENT', 'AWSPREVIOUS', 'AWSPENDING']);
  });

  it('reads a plain secret or JSON {"token": …}', () => {
    expect(tokenOf(' abc ')).toBe('abc');
    expect(tokenOf('{"token":"xyz"}')).toBe('xyz');
    expect(tokenOf('{not json')).toBe('{not json');
  });

  it('a missing or empty header is refused without a read', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    const tokens = source();
    expect(await tokens.accepts(undefined)).toBe(false);
    expect(await tokens.accepts('')).toBe(false);
    expect(model.reads).toHaveLength(0);
  });
});

describe('rotation: a token valid before the request arrived is accepted by it', () => {
  it('(1) the cache was just loaded, then a rotation, then the new token: accepted at once', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    const tokens = source();
    expect(await tokens.accepts('token-v1')).toBe(true);
    vi.advanceTimersByTime(2_000);
    rotate(model, 'token-v2');
    const { value, ms } = await timed(tokens.accepts('token-v2'));
    expect(value).toBe(true);
    expect(ms).toBe(0);
    expect(readsOf(model)).toBe(2);
    // That read: a DescribeSecret, then the one new version by its id (token-v1 is known).
    expect(model.describes).toHaveLength(1);
    expect(model.reads.slice(3).map((r) => [r.stage, r.versionId !== undefined])).toEqual([[undefined, true]]);
    // The old token is AWSPREVIOUS: still valid, from the cache.
    expect(await tokens.accepts('token-v1')).toBe(true);
    expect(readsOf(model)).toBe(2);
  });

  it("(1) the same for a check made with the secrets (Segment's signature): a rotated secret is read at once", async () => {
    const model = new SecretsManagerModel(ARN, 'secret-v1').install(sm);
    const secrets = source();
    const signedWith = (secret: string) => (valid: readonly string[]) => valid.includes(secret);
    expect(await secrets.satisfies(signedWith('secret-v1'))).toBe(true);
    vi.advanceTimersByTime(2_000);
    rotate(model, 'secret-v2');
    const { value, ms } = await timed(secrets.satisfies(signedWith('secret-v2')));
    expect(value).toBe(true);
    expect(ms).toBe(0);
    expect(readsOf(model)).toBe(2);
    expect(await secrets.satisfies(signedWith('secret-v1'))).toBe(true);
    expect(await staticTokens('a', 'b').satisfies((valid) => valid.join() === 'a,b')).toBe(true);
  });

  it('(1) the same through the origin guard', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    const guard = originGuard(source())!;
    const request = (value: string) => ({ headers: { 'x-origin-verify': value } }) as unknown as HttpEvent;
    const check = async (value: string) => {
      const deadline = Deadline.in(ANSWER_BUDGET_MS); // as the HTTP function makes one per request
      try {
        return (await timed(guard(request(value), deadline))).value;
      } finally {
        deadline.dispose();
      }
    };
    expect(await check('token-v1')).toBeUndefined();
    vi.advanceTimersByTime(2_000);
    rotate(model, 'token-v2');
    expect(await check('token-v2')).toBeUndefined();
    expect((await check('token-v3')) as { statusCode: number }).toMatchObject({ statusCode: 403 });
  });

  it('(1) a read in flight that started before the rotation is waited for, then one more is made', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    model.latencyMs = 200;
    const tokens = source();
    await timed(tokens.accepts('token-v1'));
    vi.advanceTimersByTime(5_000);
    const junk = tokens.accepts('junk'); // starts a read, in flight for 200 ms
    await vi.advanceTimersByTimeAsync(50);
    rotate(model, 'token-v2');
    await vi.advanceTimersByTimeAsync(50);
    const { value, ms } = await timed(tokens.accepts('token-v2'));
    expect(await junk).toBe(false);
    expect(value).toBe(true);
    expect(readsOf(model)).toBe(3);
    // It waited for the junk read (100 ms more), then made its own at once: a DescribeSecret, then
    // the new version by id (200 ms each). No slot to wait for.
    expect(ms).toBe(100 + 200 + 200);
  });

  it('a rotation between two requests is seen by the next one at once, however close they are', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    model.latencyMs = 20;
    const tokens = source();
    await timed(tokens.accepts('token-v1'));
    expect((await timed(tokens.accepts('junk'))).value).toBe(false); // a read that ended just now
    rotate(model, 'token-v2');
    const { value, ms } = await timed(tokens.accepts('token-v2'));
    expect(value).toBe(true);
    expect(ms).toBe(20 + 20); // a DescribeSecret, then the new version by id
    rotate(model, 'token-v3');
    expect(await timed(tokens.accepts('token-v3'))).toEqual({ value: true, ms: 40 });
    expect(await timed(tokens.accepts('token-v2'))).toEqual({ value: true, ms: 0 }); // AWSPREVIOUS, cached
    expect((await timed(tokens.accepts('token-v1'))).value).toBe(false); // no label any more
  });

  it('requests with unknown tokens that arrive together share one read', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    model.latencyMs = 20;
    const tokens = source();
    await timed(tokens.accepts('token-v1'));
    vi.advanceTimersByTime(5_000);
    rotate(model, 'token-v2');
    const answers = await timed(Promise.all(['token-v2', 'junk-a', 'token-v2', 'junk-b', 'junk-c'].map((t) => tokens.accepts(t))));
    expect(answers.value).toEqual([true, false, true, false, false]);
    expect(readsOf(model)).toBe(2);
  });
});

describe('junk traffic (wrong tokens) is bounded', () => {
  it('(2) a flood of wrong tokens: one read at a time, one DescribeSecret each and no GetSecretValue; the valid token never waits', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    model.latencyMs = 30;
    const tokens = source();
    await timed(tokens.accepts('token-v1'));
    const start = Date.now();
    const calls = callsOf(model);
    const junk: { at: number; p: Promise<boolean> }[] = [];
    const waits: number[] = [];
    const send = (token: string) => {
      const at = Date.now();
      const p = tokens.accepts(token);
      void p.then(() => waits.push(Date.now() - at));
      junk.push({ at, p });
    };
    let validChecks = 0;
    // 10 s: every 50 ms four new random tokens and one repeated token; a valid request every 100 ms.
    for (let tick = 0; tick < 200; tick += 1) {
      for (let i = 0; i < 4; i += 1) send(`junk-${tick}-${i}-${Math.random()}`);
      send('the-same-wrong-token');
      if (tick % 2 === 0) {
        let answered = false;
        void tokens.accepts('token-v1').then((ok) => {
          answered = ok;
        });
        await Promise.resolve();
        await Promise.resolve();
        expect(answered).toBe(true); // from the cache, in the same tick: no wait, no read
        validChecks += 1;
      }
      await vi.advanceTimersByTimeAsync(50);
    }
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await Promise.all(junk.map((j) => j.p))).toEqual(junk.map(() => false));
    expect(validChecks).toBe(100);

    // The five requests of a tick share one read: 200 reads for 1,000 wrong tokens, one call each.
    expect(model.describes.filter((d) => d.at >= start)).toHaveLength(200);
    expect(callsOf(model) - calls).toBe(200);
    expect(model.reads.filter((r) => r.at >= start)).toHaveLength(0);
    expect(model.maxInFlight).toBe(3); // the cold read's three calls; since then one at a time
    // Nobody waits longer than a read.
    expect(waits).toHaveLength(junk.length);
    expect(Math.max(...waits)).toBe(30);
  });

  it('(2) a warm instance serving wrong tokens one after another (as Lambda does): one DescribeSecret each, no GetSecretValue, no wait for a slot', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    rotate(model, 'token-v2');
    model.putSecretValue({ SecretId: ARN, SecretString: 'token-v3-staged', VersionStages: ['AWSPENDING'] });
    model.latencyMs = 20;
    const tokens = source();
    await timed(tokens.accepts('token-v2'));
    const gets = model.reads.length;
    for (let i = 0; i < 100; i += 1) {
      const describes = model.describes.length;
      // Each one right after the last: the read before ended 0 ms ago.
      expect(await timed(tokens.accepts(`junk-${i}`))).toEqual({ value: false, ms: 20 });
      expect(model.describes.length - describes).toBe(1);
    }
    expect(model.reads).toHaveLength(gets);
    expect(model.maxInFlight).toBe(3);
  });
});

describe('waitForRead: false (the origin-verify value): an unknown value never waits', () => {
  it('is decided by a read when the slot is free, refused at once when not; a value put before the read is accepted', async () => {
    const model = new SecretsManagerModel(ARN, 'edge-v1').install(sm);
    model.latencyMs = 30;
    const tokens = source({ readSpacingMs: 30_000, waitForRead: false });
    await timed(tokens.accepts('edge-v1'));
    const reads = readsOf(model);
    for (let i = 0; i < 100; i += 1) {
      const r = await timed(tokens.accepts(`made-up-${i}`));
      expect(r).toEqual({ value: false, ms: 0 });
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(readsOf(model)).toBe(reads); // 10 s of made-up values: no read (the last one was 10 s ago)
    rotate(model, 'edge-v2');
    expect((await timed(tokens.accepts('edge-v2'))).value).toBe(false); // slot not free yet
    await vi.advanceTimersByTimeAsync(20_000);
    // One read, no wait for a slot: a DescribeSecret, then the new version by id.
    expect(await timed(tokens.accepts('edge-v2'))).toEqual({ value: true, ms: 30 + 30 });
    expect(readsOf(model)).toBe(reads + 1);
  });
});

describe('a refused token that becomes valid is accepted at once', () => {
  it('(3) Tealium switched before the secret did: refused, then accepted by the first request after the rotation', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    const tokens = source();
    await timed(tokens.accepts('token-v1'));
    for (let i = 0; i < 5; i += 1) expect((await timed(tokens.accepts('token-v2'))).value).toBe(false);
    rotate(model, 'token-v2');
    const { value, ms } = await timed(tokens.accepts('token-v2'));
    expect(value).toBe(true);
    expect(ms).toBeLessThanOrEqual(1_000);
  });

  it("(3) a mistaken retire rolled back: the caller's token is accepted again at once", async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    const tokens = source();
    rotate(model, 'token-v2');
    expect(await tokens.accepts('token-v1')).toBe(true); // the caller has not switched yet
    const previous = model.listSecretVersionIds({ SecretId: ARN }).Versions!.find((v) => v.VersionStages!.includes('AWSPREVIOUS'))!
      .VersionId!;
    model.updateSecretVersionStage({ SecretId: ARN, VersionStage: 'AWSPREVIOUS', RemoveFromVersionId: previous });
    vi.advanceTimersByTime(TTL);
    expect((await timed(tokens.accepts('token-v1'))).value).toBe(false);
    expect((await timed(tokens.accepts('token-v1'))).value).toBe(false);
    model.updateSecretVersionStage({ SecretId: ARN, VersionStage: 'AWSPREVIOUS', MoveToVersionId: previous });
    expect((await timed(tokens.accepts('token-v1'))).value).toBe(true);
  });

  it('(3) a token refused again and again, then staged as AWSPENDING: accepted at once', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    const tokens = source();
    for (let i = 0; i < 3; i += 1) expect((await timed(tokens.accepts('token-staged'))).value).toBe(false);
    const calls = callsOf(model);
    model.putSecretValue({ SecretId: ARN, SecretString: 'token-staged', VersionStages: ['AWSPENDING'] });
    expect((await timed(tokens.accepts('token-staged'))).value).toBe(true);
    // A DescribeSecret, then the staged version by id.
    expect(callsOf(model) - calls).toBe(2);
    expect(model.reads.at(-1)).toMatchObject({ stage: undefined, versionId: expect.any(String) });
    expect(await tokens.accepts('token-v1')).toBe(true);
    expect(callsOf(model) - calls).toBe(2);
  });
});

describe('when the secret cannot be read', () => {
  it('known tokens are still accepted; an unknown one is an error (503, retried by Tealium), not a refusal (401, lost)', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    const tokens = source();
    await timed(tokens.accepts('token-v1'));
    vi.advanceTimersByTime(TTL);
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: {} });
    sm.on(GetSecretValueCommand).rejects(throttled);
    sm.on(DescribeSecretCommand).rejects(throttled);
    expect((await timed(tokens.accepts('token-v1'))).value).toBe(true);
    await expect(timed(tokens.accepts('token-v2'))).rejects.toMatchObject({ name: 'ThrottlingException' });
    // A failed read is not retried by every request for a known token: stale tokens are served for `readSpacingMs` (1 s).
    const calls = sm.commandCalls(DescribeSecretCommand).length + sm.commandCalls(GetSecretValueCommand).length;
    expect(await tokens.accepts('token-v1')).toBe(true);
    expect(sm.commandCalls(DescribeSecretCommand).length + sm.commandCalls(GetSecretValueCommand).length).toBe(calls);
    expect(readsOf(model)).toBe(1);
  });

  it('a cold instance that cannot read the secret is an error, not a refusal', async () => {
    sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('unreachable'), { name: 'TimeoutError', $metadata: {} }));
    await expect(timed(source().accepts('token-v1'))).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('a request whose deadline passes while it waits for a read is an AbortError (503)', async () => {
    const model = new SecretsManagerModel(ARN, 'token-v1').install(sm);
    const tokens = source();
    await timed(tokens.accepts('token-v1'));
    model.latencyMs = 1_000; // a slow Secrets Manager
    const view = tokens.withDeadline(new Deadline(Date.now() + 300));
    await expect(timed(view.accepts('token-v2'))).rejects.toMatchObject({ name: 'AbortError' });
    // The read it was waiting for still happens, and serves later requests.
    expect((await timed(tokens.accepts('token-v1'))).value).toBe(true);
  });
});
