/**
 * Both handlers attacked with arbitrary bodies, headers and query strings (fast-check), against
 * dynalite: never a 5xx, and never a record stored for a rejected input. Plus rotation of the
 * postback token through the handler and the constant-time check.
 */
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoClickStore, DynamoConversionStore } from '#lambdas/adapters/dynamodb-stores.js';
import { SecretsManagerTokens, staticTokens } from '#lambdas/adapters/token-source.js';
import { isAuthorized } from '#lambdas/core/auth.js';
import type { ClickRecord, ConversionRecord } from '#lambdas/core/model.js';
import { createClicksHandler } from '#lambdas/handlers/clicks.js';
import { clicksFunction } from '#lambdas/runtime/clicks.js';
import { ORIGIN_VERIFY_CACHE_MS, ORIGIN_VERIFY_SOURCE_OPTIONS } from '#lambdas/runtime/secrets.js';
import { LOCAL_AWS_ENV } from '../../lib/local/embedded-dynamodb.js';
import { createPostbacksHandler } from '#lambdas/handlers/postbacks.js';
import { lambdaContext } from '../../lib/local/http-bridge.js';
import { httpEvent } from '../support/events.js';
import { MemoryMetrics, startTestEnv, TOKEN, type TestEnv } from '../support/env.js';
import { METRICS } from '#lambdas/core/metrics.js';
import { tealiumPurchase } from '../fixtures/tealium.js';

let env: TestEnv;
beforeAll(async () => {
  env = await startTestEnv({ PARTNERIZE_MODE: 'dryrun' });
});
afterAll(async () => env?.close());

/** The real stores, counting the writes that succeeded. */
function countingStores() {
  const writes = { clicks: 0, conversions: 0 };
  const clicks = new DynamoClickStore(env.dynamo.client, env.dynamo.tables.clicks);
  const conversions = new DynamoConversionStore(env.dynamo.client, env.dynamo.tables.conversions);
  const put = clicks.put.bind(clicks);
  clicks.put = async (c: ClickRecord, lockedSince?: number) => {
    const stored = await put(c, lockedSince);
    if (stored) writes.clicks++;
    return stored;
  };
  // The handlers bind stores to a per-request deadline: keep the counting ones.
  (clicks as unknown as { withDeadline: () => unknown }).withDeadline = () => clicks;
  (conversions as unknown as { withDeadline: () => unknown }).withDeadline = () => conversions;
  const create = conversions.create.bind(conversions);
  conversions.create = async (r: ConversionRecord) => {
    const res = await create(r);
    if (res.created) writes.conversions++;
    return res;
  };
  return { writes, clicks, conversions };
}

const jsonish = fc.oneof(
  fc.json(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.constantFrom('{', '[]', 'null', '{"data":{"udo":{}}}', '{"orderId":"x"}', '\u0000', '{"__proto__":{"x":1}}'),
  fc
    .record({
      orderId: fc.oneof(fc.string(), fc.integer(), fc.constant(undefined)),
      sessionId: fc.oneof(fc.string(), fc.constant(undefined)),
      clickref: fc.oneof(fc.string(), fc.constant('AbC123')),
      currency: fc.oneof(fc.constantFrom('GBP', 'gbp', 'EURO', ''), fc.string()),
      consent: fc.oneof(fc.boolean(), fc.string()),
      items: fc.oneof(
        fc.array(
          fc.record({
            value: fc.oneof(fc.double(), fc.string()),
            quantity: fc.oneof(fc.integer(), fc.string()),
            metadata: fc.dictionary(fc.string(), fc.jsonValue()),
          }),
        ),
        fc.anything(),
      ),
      metadata: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.anything()),
      orderTime: fc.oneof(fc.string(), fc.integer(), fc.double()),
    })
    .map((o) => JSON.stringify(o)),
  fc.jsonValue().map((udo) => JSON.stringify({ data: { udo } })),
  fc.dictionary(fc.string(), fc.jsonValue()).map((udo) => JSON.stringify(tealiumPurchase({ udo }))),
);
const headers = fc.dictionary(
  fc.oneof(fc.constantFrom('content-type', 'authorization', 'user-agent', 'origin'), fc.string({ minLength: 1, maxLength: 20 })),
  fc.oneof(
    fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', `Bearer ${TOKEN}`, 'Basic Og=='),
    fc.string(),
  ),
);
const query = fc.oneof(
  fc.string(),
  fc.dictionary(fc.string(), fc.string()).map((d) => new URLSearchParams(d).toString()),
  fc.jsonValue().map((v) => `data=${encodeURIComponent(JSON.stringify(v))}`),
);

describe('fuzzing the handlers', () => {
  it('clicks: any input → 204 or a 4xx with a field; nothing stored when rejected', async () => {
    const { writes, clicks } = countingStores();
    const handler = createClicksHandler({ ...env.deps, clicks, maxBodyBytes: 16_384 });
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST'), jsonish, headers, query, fc.boolean(), async (method, body, hdrs, q, b64) => {
        const before = writes.clicks;
        const r = (await handler(
          httpEvent({ method, path: '/clicks', body: method === 'POST' ? body : undefined, headers: hdrs, query: q, base64: b64 }),
          lambdaContext('clicks', 5000),
        ))!;
        expect([204, 400, 413]).toContain(r.statusCode);
        seen.set(r.statusCode!, (seen.get(r.statusCode!) ?? 0) + 1);
        if (r.statusCode !== 204) {
          expect(writes.clicks).toBe(before);
          expect(JSON.parse(r.body!).error.message).toEqual(expect.any(String));
        }
      }),
      {
        numRuns: 300,
        examples: [
          ['POST', JSON.stringify({ sessionId: 'fuzz-session-1', clickref: 'Fz1' }), {}, '', false],
          ['GET', undefined as unknown as string, {}, 'sessionId=fuzz-session-2&clickref=Fz2', false],
        ],
      },
    );
    expect(seen.get(204)).toBeGreaterThan(0); // the property reached the store, not only the validators
    expect(seen.get(400)).toBeGreaterThan(0);
  });

  it('postbacks: any input → 202, 401, or a 4xx naming the field; nothing stored when rejected', async () => {
    const { writes, conversions } = countingStores();
    const handler = createPostbacksHandler({ ...env.deps, conversions, tokens: staticTokens(TOKEN), maxBodyBytes: 65_536 });
    const seen = new Map<number, number>();
    let n = 0;
    const valid = () => JSON.stringify({ orderId: `FUZZ-${n++}`, clickref: 'Fz3', currency: 'GBP', consent: true, items: [{ value: 1 }] });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST'),
        fc.oneof(jsonish, fc.constant('VALID')),
        headers,
        query,
        fc.boolean(),
        async (method, raw, hdrs, q, withToken) => {
          const before = writes.conversions;
          const body = raw === 'VALID' ? valid() : raw;
          const authorised = withToken ? { ...hdrs, authorization: `Bearer ${TOKEN}` } : hdrs;
          const r = (await handler(
            httpEvent({ method, path: '/postbacks', body: method === 'POST' ? body : undefined, headers: authorised, query: q }),
            lambdaContext('postbacks', 10_000),
          ))!;
          expect(r.statusCode).toBeLessThan(500);
          seen.set(r.statusCode!, (seen.get(r.statusCode!) ?? 0) + 1);
          if (r.statusCode !== 202) {
            expect([400, 401, 413]).toContain(r.statusCode);
            expect(writes.conversions).toBe(before);
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(seen.get(202)).toBeGreaterThan(0);
    expect(seen.get(400)).toBeGreaterThan(0);
    expect(seen.get(401)).toBeGreaterThan(0);
    expect(writes.conversions).toBeGreaterThan(0);
  });
});

describe('token rotation through the handler', () => {
  it('accepts the new token as soon as it is presented, and the old one during the switch', async () => {
    const sm = mockClient(SecretsManagerClient);
    try {
      sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'old-token-1234567890' });
      sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).rejects(
        new ResourceNotFoundException({ message: 'none', $metadata: {} }),
      );
      sm.on(GetSecretValueCommand, { VersionStage: 'AWSPENDING' }).rejects(
        new ResourceNotFoundException({ message: 'none', $metadata: {} }),
      );
      let t = 0;
      const tokens = new SecretsManagerTokens(new SecretsManagerClient({}), 'arn', 300_000, () => t);
      const handler = createPostbacksHandler({ ...env.deps, tokens, maxBodyBytes: 65_536 });
      const call = async (token: string) =>
        (await handler(
          httpEvent({ path: '/postbacks', headers: { authorization: `Bearer ${token}` }, body: { event: 'page_view' } }),
          lambdaContext('p', 10_000),
        ))!.statusCode;
      expect(await call('old-token-1234567890')).toBe(202);
      // Rotation: put-secret-value makes the new token current and the old one previous.
      sm.reset();
      sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'new-token-0987654321' });
      sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).resolves({ SecretString: 'old-token-1234567890' });
      sm.on(GetSecretValueCommand, { VersionStage: 'AWSPENDING' }).rejects(
        new ResourceNotFoundException({ message: 'none', $metadata: {} }),
      );
      t = 60_000; // the cache (5 min) still holds only the old token
      expect(await call('new-token-0987654321')).toBe(202);
      expect(await call('old-token-1234567890')).toBe(202);
      expect(await call('neither-token')).toBe(401);
    } finally {
      sm.restore();
    }
  });

  it('compares against every valid token whatever matches first (no early exit)', () => {
    const read: number[] = [];
    const tokens = new Proxy(['a-token', 'b-token', 'c-token'], {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) read.push(Number(prop));
        return Reflect.get(target, prop, receiver);
      },
    });
    expect(isAuthorized('Bearer a-token', tokens)).toBe(true);
    expect(read).toEqual([0, 1, 2]);
  });
});

describe('origin guard (with the optional WAF)', () => {
  it('counts postbacks refused for carrying no credential at all (junk), apart from wrong ones (a broken caller)', async () => {
    const metrics = new MemoryMetrics();
    const originVerify = staticTokens('edge-secret-value-123');
    const postbacks = createPostbacksHandler({ ...env.deps, metrics, tokens: staticTokens(TOKEN), maxBodyBytes: 65_536, originVerify });
    const status = async (headers: Record<string, string>) =>
      (await postbacks(httpEvent({ path: '/postbacks', headers, body: { event: 'page_view' } }), lambdaContext('p', 5000)))!.statusCode;
    const edge = { 'x-origin-verify': 'edge-secret-value-123' };
    expect(await status({ ...edge })).toBe(401); // no Authorization: junk
    expect(await status({ ...edge, authorization: '' })).toBe(401); // blank: junk
    expect(await status({ authorization: `Bearer ${TOKEN}` })).toBe(403); // around CloudFront, no header: junk
    expect(metrics.get(METRICS.postbacksAnonymous)).toBe(3);
    expect(await status({ ...edge, authorization: 'Bearer not-the-token' })).toBe(401); // a credential, wrong: pages
    expect(await status({ 'x-origin-verify': 'stale-value', authorization: `Bearer ${TOKEN}` })).toBe(403); // a wrong edge value: pages
    expect(await status({ ...edge, authorization: `Bearer ${TOKEN}` })).toBe(202);
    expect(metrics.get(METRICS.postbacksAnonymous)).toBe(3);
  });

  it('refuses requests that did not come through CloudFront with a 403, before anything else', async () => {
    const originVerify = staticTokens('edge-secret-value-123');
    const clicks = createClicksHandler({ ...env.deps, maxBodyBytes: 16_384, originVerify });
    const postbacks = createPostbacksHandler({ ...env.deps, tokens: staticTokens(TOKEN), maxBodyBytes: 65_536, originVerify });
    const click = (headers: Record<string, string>) =>
      clicks(
        httpEvent({ path: '/clicks', headers, body: { sessionId: 'guarded-session-1', clickref: 'Guard1' } }),
        lambdaContext('c', 5000),
      );
    expect((await click({}))!.statusCode).toBe(403);
    expect((await click({ 'x-origin-verify': 'wrong' }))!.statusCode).toBe(403);
    expect((await click({ 'x-origin-verify': 'edge-secret-value-123' }))!.statusCode).toBe(204);
    const pb = await postbacks(
      httpEvent({ path: '/postbacks', headers: { authorization: `Bearer ${TOKEN}` }, body: { event: 'page_view' } }),
      lambdaContext('p', 5000),
    );
    expect(pb!.statusCode).toBe(403);
    expect(JSON.parse(pb!.body!).error.code).toBe('forbidden');
  });

  /** A Secrets Manager whose secret `arn:origin-verify` holds these stages. */
  const secretStages = (sm: ReturnType<typeof mockClient>, current: string, previous?: string, pending?: string) => {
    sm.reset();
    for (const [stage, value] of [
      ['AWSCURRENT', current],
      ['AWSPREVIOUS', previous],
      ['AWSPENDING', pending],
    ] as const) {
      if (value === undefined)
        sm.on(GetSecretValueCommand, { VersionStage: stage }).rejects(new ResourceNotFoundException({ message: 'none', $metadata: {} }));
      else sm.on(GetSecretValueCommand, { SecretId: 'arn:origin-verify', VersionStage: stage }).resolves({ SecretString: value });
    }
  };

  it('the clicks function reads the value from its secret (it is in no configuration); a made-up value is refused at once', async () => {
    const sm = mockClient(SecretsManagerClient);
    try {
      secretStages(sm, 'edge-value-one-0123456789');
      const handler = clicksFunction({
        ...LOCAL_AWS_ENV,
        POWERTOOLS_LOG_LEVEL: 'ERROR',
        POWERTOOLS_METRICS_DISABLED: 'true',
        DYNAMODB_ENDPOINT: env.dynamo.endpoint,
        CLICKS_TABLE: env.dynamo.tables.clicks,
        ORIGIN_VERIFY_SECRET_ARN: 'arn:origin-verify',
      });
      let n = 0;
      const click = async (headers: Record<string, string>) =>
        (await handler(
          httpEvent({ path: '/clicks', headers, body: { sessionId: `guarded-session-${++n}-7f3a9c`, clickref: 'Guard1' } }),
          lambdaContext('c', 5000),
        ))!.statusCode;
      expect(await click({ 'x-origin-verify': 'edge-value-one-0123456789' })).toBe(204);
      const reads = sm.commandCalls(GetSecretValueCommand).length;
      expect(await click({})).toBe(403);
      const started = Date.now();
      expect(await click({ 'x-origin-verify': 'made-up-value' })).toBe(403);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(reads);
    } finally {
      sm.restore();
    }
  });

  it('a rotation has no gap: the new version is known before CloudFront sends it, the old one until it is retired', async () => {
    const sm = mockClient(SecretsManagerClient);
    try {
      secretStages(sm, 'edge-value-one-0123456789');
      let t = 0;
      const source = new SecretsManagerTokens(
        new SecretsManagerClient({}),
        'arn:origin-verify',
        ORIGIN_VERIFY_CACHE_MS,
        () => t,
        ORIGIN_VERIFY_SOURCE_OPTIONS,
      );
      const handler = createClicksHandler({ ...env.deps, maxBodyBytes: 16_384, originVerify: source });
      let n = 0;
      const click = async (value: string) =>
        (await handler(
          httpEvent({
            path: '/clicks',
            headers: { 'x-origin-verify': value },
            body: { sessionId: `rotated-session-${++n}-4e1b8d`, clickref: 'Rot1' },
          }),
          lambdaContext('c', 5000),
        ))!.statusCode;
      expect(await click('edge-value-one-0123456789')).toBe(204);
      // put-secret-value: the new version current, the old one previous; the distribution update then takes minutes.
      secretStages(sm, 'edge-value-two-9876543210', 'edge-value-one-0123456789');
      t = 10_000;
      expect(await click('edge-value-one-0123456789')).toBe(204);
      t = 6 * 60_000; // CloudFront sends the new value once its update has spread
      expect(await click('edge-value-two-9876543210')).toBe(204);
      expect(await click('edge-value-one-0123456789')).toBe(204); // edge locations still on the old one
      // Retired: AWSPREVIOUS removed; refused once the cache lets go.
      secretStages(sm, 'edge-value-two-9876543210');
      t = 12 * 60_000;
      expect(await click('edge-value-one-0123456789')).toBe(403);
      expect(await click('edge-value-two-9876543210')).toBe(204);
    } finally {
      sm.restore();
    }
  });
});
