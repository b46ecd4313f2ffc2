/**
 * The Partnerize API client (adapters/partnerize-api.ts) against the strict fake on 127.0.0.1: auth,
 * the schema's 400s in Partnerize's error shape, jobs and their tasks, rate limits, outages, and the
 * conversion report (filtered or not, paged by cursor).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPartnerizeApi, staticCredentials } from '#lambdas/adapters/partnerize-api.js';
import { bulkBody, type BulkBody } from '#lambdas/core/partnerize-bulk.js';
import { FakePartnerizeApi } from '../support/fake-partnerize-api.js';

let fake: FakePartnerizeApi;
const keys = { applicationKey: 'test-application-key', userApiKey: 'test-user-api-key' };
const api = () => createPartnerizeApi({ baseUrl: fake.url, credentials: staticCredentials(keys) });
const T = 5_000;

beforeAll(async () => {
  fake = await FakePartnerizeApi.start();
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.setOutage(undefined);
});

describe('bulk update', () => {
  it('sends Basic application key:user API key and gets a job (202)', async () => {
    fake.addConversion({ reference: 'API-1' });
    const r = await api().bulkUpdate(
      '1011l270',
      bulkBody('conversion_references', [['API-1', { status: 'rejected', reason: 'cancelled' }]]),
      T,
    );
    expect(r).toMatchObject({ ok: true, status: 202, value: { status: 'created', itemTotalCount: 1 } });
    expect(fake.requests[0]).toMatchObject({ method: 'POST', path: '/v3/brand/campaigns/1011l270/conversions/bulk', authorized: true });
    expect(fake.requests[0]!.body).toEqual({ conversion_references: { 'API-1': { status: 'rejected', reason: 'cancelled' } } });
  });

  it('wrong keys are a 401 with Partnerize\'s message; no keys means "not set", and nothing is called', async () => {
    const wrong = createPartnerizeApi({ baseUrl: fake.url, credentials: staticCredentials({ applicationKey: 'x', userApiKey: 'y' }) });
    const r = await wrong.bulkUpdate('1011l270', bulkBody('conversion_references', [['A', { status: 'approved' }]]), T);
    expect(r).toMatchObject({ ok: false, result: 'rejected', status: 401, message: expect.stringMatching(/combination is invalid/) });
    const none = createPartnerizeApi({ baseUrl: fake.url, credentials: staticCredentials(undefined) });
    expect(await none.hasCredentials()).toBe(false);
    expect(await api().hasCredentials()).toBe(true);
    expect(fake.requests).toHaveLength(1);
  });

  it('a property the schema does not allow is a 400 naming it (support question Q8)', async () => {
    const body = { conversion_references: { A: { status: 'rejected', items: [{ sku: 'X' }] } } } as unknown as BulkBody;
    const r = await api().bulkUpdate('1011l270', body, T);
    expect(r).toMatchObject({
      ok: false,
      result: 'rejected',
      status: 400,
      message: '[conversion_references][A][items]: This field was not expected.',
    });
    const answer = fake.requests[0]!;
    expect(answer.status).toBe(400);
  });

  it('a 429 is retryable, with the advised delay from X-RateLimit-Retry-After', async () => {
    fake.rateLimit(1, 7);
    const r = await api().bulkUpdate('1011l270', bulkBody('conversion_references', [['A', { status: 'approved' }]]), T);
    expect(r).toMatchObject({ ok: false, result: 'retryable', status: 429, retryAfterS: 7 });
  });

  it('5xx, a hang and a dropped connection are retryable (the hang may have landed)', async () => {
    const body = bulkBody('conversion_references', [['A', { status: 'approved' }]]);
    fake.fail({ status: 503 }, { hang: true }, { drop: true });
    expect(await api().bulkUpdate('c', body, T)).toMatchObject({ ok: false, result: 'retryable', status: 503 });
    expect(await api().bulkUpdate('c', body, 300)).toMatchObject({ ok: false, result: 'retryable', error: 'timeout', uncertain: true });
    expect(await api().bulkUpdate('c', body, T)).toMatchObject({ ok: false, result: 'retryable', error: 'connection' });
  });
});

describe('jobs', () => {
  it('a job progresses over polls; its tasks name the updates that failed', async () => {
    fake.addConversion({ reference: 'JOB-1' });
    fake.addConversion({ reference: 'JOB-2' });
    fake.failIds.set('JOB-2', 'Cannot update a conversion that is invoiced');
    const created = await api().bulkUpdate(
      '1011l270',
      bulkBody('conversion_references', [
        ['JOB-1', { status: 'rejected' }],
        ['JOB-2', { status: 'rejected' }],
        ['JOB-404', { status: 'rejected' }],
      ]),
      T,
    );
    if (!created.ok) throw new Error('no job');
    const id = created.value.id;
    expect((await api().job(id, T)) as unknown).toMatchObject({ ok: true, value: { status: 'active', percentageComplete: 50 } });
    expect((await api().job(id, T)) as unknown).toMatchObject({
      ok: true,
      value: { status: 'complete', itemErrorCount: 2, itemSuccessCount: 1 },
    });
    const tasks = await api().tasks(id, T);
    if (!tasks.ok) throw new Error('no tasks');
    expect(tasks.value).toHaveLength(1);
    expect(JSON.parse(tasks.value[0]!.resultData!)).toEqual({
      updated: 1,
      errors: [
        { id: 'JOB-2', message: 'Cannot update a conversion that is invoiced' },
        { id: 'JOB-404', message: 'Conversion with reference JOB-404 not found' },
      ],
    });
    expect(fake.statusOf('JOB-1')).toBe('rejected');
    expect(fake.statusOf('JOB-2')).toBe('pending');
    expect(await api().job('999l999', T)).toMatchObject({ ok: false, result: 'rejected', status: 404 });
  });
});

describe('conversion report', () => {
  it('finds a conversion by reference and reads its items (real field names)', async () => {
    fake.addConversion({
      reference: 'REP-1',
      time: '2026-11-24 10:00:00',
      items: [
        { sku: 'S1', value: 25 },
        { sku: 'S2', value: 40 },
      ],
    });
    const r = await api().conversions(
      '1011l270',
      { from: Date.UTC(2026, 10, 23), to: Date.UTC(2026, 10, 25), conversionReference: 'REP-1' },
      T,
    );
    if (!r.ok) throw new Error(r.message);
    expect(r.value.conversions).toHaveLength(1);
    expect(r.value.conversions[0]).toMatchObject({
      conversionReference: 'REP-1',
      status: 'pending',
      conversionTime: '2026-11-24 10:00:00',
      items: [expect.objectContaining({ sku: 'S1', value: 25, status: 'pending' }), expect.objectContaining({ sku: 'S2', value: 40 })],
    });
    expect(fake.requests[0]!.path).toMatch(
      /start_date=2026-11-23T00%3A00%3A00Z&end_date=2026-11-25T00%3A00%3A00Z&timezone=UTC&limit=300&offset=0&conversion_reference=REP-1/,
    );
  });

  it('pages by cursor (next_page) when the filter is ignored', async () => {
    const loose = await FakePartnerizeApi.start({ honourReferenceFilter: false, paging: 'cursor' });
    try {
      for (let i = 0; i < 650; i++) loose.addConversion({ reference: `BULK-${i}`, time: '2026-11-24 11:00:00' });
      const client = createPartnerizeApi({ baseUrl: loose.url, credentials: staticCredentials(keys) });
      const seen: string[] = [];
      let next: string | undefined;
      do {
        const r = await client.conversions(
          '1011l270',
          { from: Date.UTC(2026, 10, 24), to: Date.UTC(2026, 10, 25), conversionReference: 'BULK-3', next },
          T,
        );
        if (!r.ok) throw new Error(r.message);
        seen.push(...r.value.conversions.map((c) => c.conversionReference));
        next = r.value.next;
      } while (next);
      expect(seen).toHaveLength(650);
      expect(loose.requests).toHaveLength(3);
      expect(loose.requests[2]!.path).toMatch(/cursor_id=600/);
    } finally {
      await loose.close();
    }
  });
});
