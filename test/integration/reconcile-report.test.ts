/**
 * Reading Partnerize's brand conversion report for a reconciliation (core/reconcile-run.ts
 * `readReport`) through the real API client (adapters/partnerize-api.ts) over HTTP, against the
 * strict fake on 127.0.0.1: every paging style the report may answer in, the rate-limit headers of a
 * 429 and of a page that spends the last token, 5xx, a hang, refused keys. The clock is fake (only
 * `Date` is): every wait the read asks for is recorded and moves the clock, nothing sleeps.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPartnerizeApi, staticCredentials } from '#lambdas/adapters/partnerize-api.js';
import { readReport, ReconcileError } from '#lambdas/core/reconcile-run.js';
import { FakePartnerizeApi, type FakeApiOptions } from '../support/fake-partnerize-api.js';

const CAMPAIGN = '1011l270';
const FROM = Date.UTC(2026, 10, 23);
const TO = Date.UTC(2026, 10, 24);
let fake: FakePartnerizeApi | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.UTC(2026, 10, 24, 6) });
});
afterEach(async () => {
  vi.useRealTimers();
  await fake?.close();
  fake = undefined;
});

async function start(opts: FakeApiOptions, n: number): Promise<FakePartnerizeApi> {
  fake = await FakePartnerizeApi.start(opts);
  for (let i = 0; i < n; i++)
    fake.addConversion({
      reference: `R-${i}`,
      campaignId: CAMPAIGN,
      time: `2026-11-23 ${String(Math.floor(i / 60) % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00`,
    });
  // Outside the window: never read.
  fake.addConversion({ reference: 'NEXT-DAY', campaignId: CAMPAIGN, time: '2026-11-24 00:00:01' });
  fake.addConversion({ reference: 'OTHER-CAMPAIGN', campaignId: '1011l999', time: '2026-11-23 10:00:00' });
  return fake;
}

function read(f: FakePartnerizeApi, keys = { applicationKey: f.opts.applicationKey, userApiKey: f.opts.userApiKey }, timeoutMs?: number) {
  const waits: number[] = [];
  const api = createPartnerizeApi({ baseUrl: f.url, credentials: staticCredentials(keys) });
  const deps = {
    api,
    now: () => Date.now(),
    sleep: async (ms: number) => {
      waits.push(ms);
      vi.setSystemTime(Date.now() + ms);
    },
  };
  return { waits, result: () => readReport(deps, { campaignId: CAMPAIGN, from: FROM, to: TO, timeoutMs }) };
}

const offsets = (f: FakePartnerizeApi) => f.reportRequests.map((r) => new URL(r.path, 'http://x').searchParams.get('offset'));

describe('paging', () => {
  const STYLES: Array<[string, FakeApiOptions]> = [
    ['offset, count the total, hypermedia next_page', {}],
    ['offset, count the total, no hypermedia', { hypermedia: false }],
    ['offset, count the page, no hypermedia', { count: 'page', hypermedia: false }],
    ['cursor_id and next_page', { paging: 'cursor' }],
  ];

  it.each(STYLES)('%s: every conversion of the window, once', async (_, opts) => {
    const f = await start(opts, 1000);
    const r = await read(f).result();
    expect(r.conversions.map((c) => c.conversionReference).sort()).toEqual(Array.from({ length: 1000 }, (_, i) => `R-${i}`).sort());
    expect(r.pages).toBe(4);
    expect(f.reportRequests).toHaveLength(4);
    expect(f.reportRequests.every((q) => q.status === 200)).toBe(true);
    if (opts.paging !== 'cursor') expect(offsets(f)).toEqual(['0', '300', '600', '900']);
  });

  it('a server that serves smaller pages than asked is read on by the limit it says', async () => {
    const f = await start({ maxPage: 100, count: 'page', hypermedia: false }, 250);
    const r = await read(f).result();
    expect(r.conversions).toHaveLength(250);
    expect(offsets(f)).toEqual(['0', '100', '200']);
  });

  it('asks with an ISO 8601 window, in UTC, 300 at a time', async () => {
    const f = await start({}, 1);
    await read(f).result();
    const q = new URL(f.reportRequests[0]!.path, 'http://x').searchParams;
    expect(Object.fromEntries(q)).toEqual({
      start_date: '2026-11-23T00:00:00Z',
      end_date: '2026-11-24T00:00:00Z',
      timezone: 'UTC',
      limit: '300',
      offset: '0',
    });
  });
});

describe('politeness', () => {
  it('a 429 is waited out as X-RateLimit-Retry-After says', async () => {
    const f = await start({}, 700);
    f.rateLimit(2, 3);
    const { waits, result } = read(f);
    expect((await result()).conversions).toHaveLength(700);
    expect(waits).toEqual([3000, 3000]);
    expect(f.reportRequests.map((q) => q.status)).toEqual([429, 429, 200, 200, 200]);
  });

  it('a page that spends the last token (X-RateLimit-Remaining: 0) waits for X-RateLimit-Reset: no 429 is ever met', async () => {
    const f = await start({ tokens: { perWindow: 2, windowS: 7 } }, 1000);
    const { waits, result } = read(f);
    expect((await result()).conversions).toHaveLength(1000);
    expect(f.reportRequests.map((q) => q.status)).toEqual([200, 200, 200, 200]);
    // After pages 2 (and not after the last, 4).
    expect(waits).toEqual([7000]);
  });

  it('a 5xx or a hang is tried again after a backoff', async () => {
    const f = await start({}, 400);
    f.fail({ status: 503 }, { hang: true });
    const { waits, result } = read(f, undefined, 300);
    expect((await result()).conversions).toHaveLength(400);
    expect(waits).toEqual([2000, 4000]);
  });

  it('keys Partnerize refuses end the read at once, saying so', async () => {
    const f = await start({}, 10);
    const err = await read(f, { applicationKey: 'nope', userApiKey: 'wrong' })
      .result()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReconcileError);
    expect((err as Error).message).toMatch(
      /^Partnerize refused the API keys \(HTTP 401: Your 'User application key' and 'User API key' combination is invalid\.\)/,
    );
    expect(f.reportRequests).toHaveLength(1);
  });
});
