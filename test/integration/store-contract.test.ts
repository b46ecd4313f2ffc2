/**
 * The store ports' contract, run against both implementations: the DynamoDB adapters on dynalite
 * and the in-memory stores the unit tests use (test/support/memory-stores.ts). The same scenarios,
 * the same expected records: the memory stores cannot drift from the real ones unnoticed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoClickStore, DynamoConversionAdmin } from '#lambdas/adapters/dynamodb-stores.js';
import {
  DUE_SHARD,
  type Attempt,
  type AttemptOutcome,
  type ClickRecord,
  type ClickStore,
  type ConversionAdmin,
  type ConversionRecord,
} from '#lambdas/core/model.js';
import { ensureTables, startEmbeddedDynamo, type EmbeddedDynamo } from '../../lib/local/embedded-dynamodb.js';
import { MemoryClickStore, MemoryConversionAdmin } from '../support/memory-stores.js';
import { conversionRecord } from '../support/unit-deps.js';

interface Stores {
  clicks: ClickStore;
  conversions: ConversionAdmin;
}

let dynamo: EmbeddedDynamo;
let tableNo = 0;
beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
});
afterAll(async () => dynamo?.close());

const BACKENDS: Array<[string, () => Promise<Stores>]> = [
  ['memory', async () => ({ clicks: new MemoryClickStore(), conversions: new MemoryConversionAdmin() })],
  [
    'dynamodb (dynalite)',
    async () => {
      // Fresh tables per test: the due index is table-wide.
      const tables = { clicks: `Clicks${++tableNo}`, conversions: `Conversions${tableNo}` };
      await ensureTables(dynamo.client, tables);
      return {
        clicks: new DynamoClickStore(dynamo.client, tables.clicks),
        conversions: new DynamoConversionAdmin(dynamo.client, tables.conversions),
      };
    },
  ],
];

const T = Date.UTC(2026, 10, 24, 10);
const at = (ms: number) => new Date(ms).toISOString();
const LEASE = 30_000;

const attempt = (over: Partial<Attempt> = {}): Attempt => ({
  at: at(T),
  trigger: 'retry',
  result: 'sent',
  status: 200,
  latencyMs: 12,
  body: 'OK',
  ...over,
});

describe.each(BACKENDS)('%s', (_, make) => {
  let s: Stores;
  let db: ConversionAdmin;
  beforeEach(async () => {
    s = await make();
    db = s.conversions;
  });

  /** Stores records as the postback path does (create). */
  const seed = async (...records: ConversionRecord[]) => {
    for (const r of records) expect(await db.create(r)).toEqual({ created: true });
  };
  const rec = (conversionRef: string, over: Partial<ConversionRecord> = {}) => conversionRecord({ conversionRef, ...over }, T);
  /** A final record: out of the due index. */
  const done = (conversionRef: string, over: Partial<ConversionRecord> = {}) =>
    rec(conversionRef, { status: 'sent', dueAt: undefined, dueShard: undefined, ...over });

  describe('ClickStore', () => {
    it('the latest click of a session wins; an older one arriving late is dropped; get of an unknown session is undefined', async () => {
      const click = { sessionId: 'sess-0001', clickref: 'First', clickedAt: T, device: 'mobile' as const, expiresAt: T / 1000 + 86_400 };
      await s.clicks.put(click);
      await s.clicks.put({ ...click, clickref: 'Older', clickedAt: T - 1 });
      expect(await s.clicks.get('sess-0001')).toEqual(click);
      await s.clicks.put({ ...click, clickref: 'SameTime' });
      await s.clicks.put({ ...click, clickref: 'Newer', clickedAt: T + 1, device: undefined });
      expect(await s.clicks.get('sess-0001')).toEqual({ ...click, clickref: 'Newer', clickedAt: T + 1, device: undefined });
      expect(await s.clicks.get('sess-other')).toBeUndefined();
    });

    it('the click lock: a locked click is replaced only with its key, or by its clickref without a key; put says whether it stored', async () => {
      const LOCK = 30 * 60_000;
      const keyed = { sessionId: 'sess-lock', clickref: 'Mine', clickedAt: T, keyDigest: 'digest-A', expiresAt: T / 1000 + 86_400 };
      expect(await s.clicks.put(keyed, T - LOCK)).toBe(true);
      const at = (dt: number, over: Partial<ClickRecord>) => ({ ...keyed, clickedAt: T + dt, ...over });
      // Another clickref: without the key, or with another key, it is refused.
      expect(await s.clicks.put(at(1, { clickref: 'Thief', keyDigest: undefined }), T + 1 - LOCK)).toBe(false);
      expect(await s.clicks.put(at(2, { clickref: 'Thief', keyDigest: 'digest-B' }), T + 2 - LOCK)).toBe(false);
      // The same clickref without a key would drop the key: refused too.
      expect(await s.clicks.put(at(3, { keyDigest: undefined }), T + 3 - LOCK)).toBe(false);
      expect(await s.clicks.get('sess-lock')).toEqual(keyed);
      // With the key it replaces at once.
      expect(await s.clicks.put(at(4, { clickref: 'Second' }), T + 4 - LOCK)).toBe(true);
      // Once the click is older than the lock, any newer click replaces it.
      expect(await s.clicks.put(at(LOCK + 5, { clickref: 'Later', keyDigest: undefined }), T + 5)).toBe(true);
      expect(await s.clicks.get('sess-lock')).toMatchObject({ clickref: 'Later', clickedAt: T + LOCK + 5 });
      expect((await s.clicks.get('sess-lock'))!.keyDigest).toBeUndefined();
      // A locked click made without a key: its clickref again (now with a key) replaces it; another clickref does not.
      expect(await s.clicks.put(at(LOCK + 6, { clickref: 'Later', keyDigest: 'digest-C' }), T + 6)).toBe(true);
      expect(await s.clicks.get('sess-lock')).toMatchObject({ clickref: 'Later', keyDigest: 'digest-C' });
      expect(await s.clicks.put(at(LOCK + 7, { clickref: 'Other', keyDigest: undefined }), T + 7)).toBe(false);
      // An older click is refused whatever its key.
      expect(await s.clicks.put(at(0, { clickref: 'Old' }), T - LOCK)).toBe(false);
      // Without a lock, only the order of clicks counts.
      expect(await s.clicks.put(at(LOCK + 8, { clickref: 'Unlocked', keyDigest: undefined }))).toBe(true);
    });
  });

  describe('create and get', () => {
    it('the first writer of a conversionRef wins; a second gets the stored record back and writes nothing', async () => {
      const first = rec('C-1');
      expect(await db.create(first)).toEqual({ created: true });
      expect(await db.create({ ...first, writeId: 'other', status: 'dry_run' })).toEqual({ created: false, existing: first });
      expect(await db.get('C-1')).toEqual(first);
      expect(await db.get('C-none')).toBeUndefined();
    });
  });

  describe('replace', () => {
    it('replaces a record still written by the same write, with the same status, held by nobody', async () => {
      const old = rec('C-1', { status: 'dry_run', dueAt: undefined, dueShard: undefined });
      await seed(old);
      const next = rec('C-1', {
        writeId: 'w-2',
        history: [
          {
            status: 'dry_run',
            createdAt: at(T),
            supersededAt: at(T + 5),
            mode: 'live',
            consentPolicy: 'required',
            clickrefSource: 'postback',
          },
        ],
      });
      expect(await db.replace(next, old)).toBe(true);
      expect(await db.get('C-1')).toEqual(next);
    });

    it('refuses, writing nothing, when the write, the status or the holder changed, or the record is gone', async () => {
      const old = rec('C-1', { status: 'unattributed', dueAt: undefined, dueShard: undefined });
      const held = rec('C-2', { status: 'unattributed', leaseId: 'L', dueAt: T + LEASE, dueShard: undefined });
      await seed(old, held);
      const next = (ref: string) => rec(ref, { writeId: 'w-new' });
      expect(await db.replace(next('C-1'), { writeId: 'w-other', status: 'unattributed' })).toBe(false);
      expect(await db.replace(next('C-1'), { writeId: old.writeId, status: 'no_consent' })).toBe(false);
      expect(await db.replace(next('C-2'), held)).toBe(false);
      expect(await db.replace(next('C-3'), { writeId: 'w-C-3', status: 'unattributed' })).toBe(false);
      expect(await db.get('C-1')).toEqual(old);
      expect(await db.get('C-2')).toEqual(held);
      expect(await db.get('C-3')).toBeUndefined();
    });
  });

  describe('listDue', () => {
    it('only owed records due by now, oldest first, at most `limit`', async () => {
      await seed(
        rec('C-late', { dueAt: T - 1_000 }),
        rec('C-early', { status: 'queued', dueAt: T - 5_000 }),
        rec('C-now', { dueAt: T }),
        rec('C-future', { dueAt: T + 1 }),
        // Taken by an operator's replay: it has a dueAt (the lease) but is not in the due index.
        done('C-replayed', { leaseId: 'L', dueAt: T - 10_000 }),
        done('C-sent'),
      );
      expect(await db.listDue(T, 10)).toEqual([
        { conversionRef: 'C-early', dueAt: T - 5_000 },
        { conversionRef: 'C-late', dueAt: T - 1_000 },
        { conversionRef: 'C-now', dueAt: T },
      ]);
      expect(await db.listDue(T, 2)).toEqual([
        { conversionRef: 'C-early', dueAt: T - 5_000 },
        { conversionRef: 'C-late', dueAt: T - 1_000 },
      ]);
      expect(await db.listDue(T - 6_000, 10)).toEqual([]);
    });
  });

  describe('claim', () => {
    it('takes a due pending or queued record: dueAt moves to the lease end, the lease and the attempt that starts are written', async () => {
      await seed(rec('C-1', { dueAt: T - 1 }), rec('C-2', { status: 'queued', retries: 2, dueAt: T }));
      const now = T + 1_000;
      for (const ref of ['C-1', 'C-2']) {
        const before = (await db.get(ref))!;
        const held = {
          ...before,
          dueAt: now + LEASE,
          leaseId: `L-${ref}`,
          updatedAt: at(now),
          attemptStarted: { at: at(now), trigger: 'retry' as const },
        };
        const claimed = await db.claim(ref, now, now + LEASE, `L-${ref}`, 'retry');
        expect(claimed).toEqual(held);
        expect(claimed!.interrupted).toBeUndefined();
        expect(await db.get(ref)).toEqual(held);
      }
      // Equal due times come back in no particular order.
      const due = (await db.listDue(now + LEASE, 10)).sort((a, b) => a.conversionRef.localeCompare(b.conversionRef));
      expect(due).toEqual([
        { conversionRef: 'C-1', dueAt: now + LEASE },
        { conversionRef: 'C-2', dueAt: now + LEASE },
      ]);
    });

    it('refuses a record that is not due, not owed, unknown, or held under a lease that has not run out', async () => {
      await seed(
        rec('C-future', { dueAt: T + 1 }),
        ...(['sent', 'rejected', 'failed', 'unattributed', 'no_consent', 'dry_run'] as const).map((status) =>
          rec(`C-${status}`, { status, dueAt: T - 1 }),
        ),
        rec('C-held', { dueAt: T - 1 }),
      );
      for (const ref of ['C-future', 'C-sent', 'C-rejected', 'C-failed', 'C-unattributed', 'C-no_consent', 'C-dry_run', 'C-none']) {
        expect(await db.claim(ref, T, T + LEASE, 'L2', 'retry'), ref).toBeUndefined();
      }
      expect(await db.claim('C-held', T, T + LEASE, 'L1', 'resume')).toBeDefined();
      expect(await db.claim('C-held', T + LEASE - 1, T + 2 * LEASE, 'L2', 'retry')).toBeUndefined();
      expect((await db.get('C-held'))!.leaseId).toBe('L1');
      expect((await db.get('C-sent'))!).toEqual(rec('C-sent', { status: 'sent', dueAt: T - 1 }));
    });

    it('after the lease ran out another sender takes the record, and learns of the unfinished attempt (interrupted)', async () => {
      await seed(rec('C-1'));
      await db.claim('C-1', T, T + LEASE, 'L1', 'inline');
      const later = T + LEASE;
      const claimed = await db.claim('C-1', later, later + LEASE, 'L2', 'retry');
      expect(claimed).toMatchObject({
        leaseId: 'L2',
        dueAt: later + LEASE,
        attemptStarted: { at: at(later), trigger: 'retry' },
        interrupted: { at: at(T), trigger: 'inline' },
      });
      const stored = (await db.get('C-1'))!;
      expect(stored.attemptStarted).toEqual({ at: at(later), trigger: 'retry' });
      expect(stored.interrupted).toBeUndefined();
    });
  });

  describe('finishAttempt', () => {
    it('under the lease: status, attempts (an interrupted one first), retries and updatedAt; lease and attempt start removed; still owed at the next dueAt', async () => {
      const first = attempt({ result: 'retryable', status: 503, body: '' });
      await seed(rec('C-1', { attempts: [first], retries: 1 }));
      await db.claim('C-1', T, T + LEASE, 'L1', 'retry');
      const interrupted = attempt({
        at: at(T - 60_000),
        trigger: 'inline',
        result: 'retryable',
        error: 'interrupted',
        cause: 'interrupted',
        uncertain: true,
        latencyMs: 0,
        status: undefined,
        body: undefined,
      });
      const second = attempt({ result: 'retryable', status: 500, body: 'oops' });
      const outcome: AttemptOutcome = {
        status: 'queued',
        attempt: second,
        interruptedAttempt: interrupted,
        retries: 2,
        dueAt: T + 300_000,
      };
      expect(await db.finishAttempt('C-1', 'L1', outcome, T + 50)).toBe(true);
      const {
        leaseId: _l,
        attemptStarted: _a,
        ...expected
      } = {
        ...rec('C-1'),
        status: 'queued' as const,
        attempts: [first, interrupted, second],
        retries: 2,
        updatedAt: at(T + 50),
        dueAt: T + 300_000,
        dueShard: DUE_SHARD,
      };
      expect(await db.get('C-1')).toEqual(expected);
      const stored = (await db.get('C-1'))!;
      expect('leaseId' in stored || 'attemptStarted' in stored).toBe(false);
      expect(await db.listDue(T + 300_000, 10)).toEqual([{ conversionRef: 'C-1', dueAt: T + 300_000 }]);
    });

    it('without a next dueAt the record leaves the due index', async () => {
      await seed(rec('C-1'));
      await db.claim('C-1', T, T + LEASE, 'L1', 'retry');
      expect(await db.finishAttempt('C-1', 'L1', { status: 'sent', attempt: attempt(), retries: 0 }, T + 10)).toBe(true);
      const stored = (await db.get('C-1'))!;
      expect(stored).toMatchObject({ status: 'sent', attempts: [attempt()], updatedAt: at(T + 10) });
      for (const k of ['dueAt', 'dueShard', 'leaseId', 'attemptStarted'] as const) expect(k in stored, k).toBe(false);
      expect(await db.listDue(T + 10 * LEASE, 10)).toEqual([]);
    });

    it('refused, writing nothing, under a lease that is not the holder’s, or once the lease was used, or for an unknown record', async () => {
      await seed(rec('C-1'));
      await db.claim('C-1', T, T + LEASE, 'L1', 'retry');
      const held = await db.get('C-1');
      const outcome: AttemptOutcome = { status: 'sent', attempt: attempt(), retries: 0 };
      expect(await db.finishAttempt('C-1', 'L-other', outcome, T + 1)).toBe(false);
      expect(await db.get('C-1')).toEqual(held);
      expect(await db.finishAttempt('C-1', 'L1', outcome, T + 1)).toBe(true);
      expect(await db.finishAttempt('C-1', 'L1', { ...outcome, status: 'rejected' }, T + 2)).toBe(false);
      expect((await db.get('C-1'))!.attempts).toHaveLength(1);
      expect(await db.finishAttempt('C-none', 'L1', outcome, T)).toBe(false);
    });
  });

  describe('takeLease (operator)', () => {
    it('takes any record nobody holds, whatever its status, without putting it in the due index', async () => {
      await seed(done('C-sent'), rec('C-failed', { status: 'failed', dueAt: undefined, dueShard: undefined }));
      const now = T + 1_000;
      const taken = await db.takeLease('C-sent', now, now + LEASE, 'L1', 'replay');
      const held = {
        ...done('C-sent'),
        dueAt: now + LEASE,
        leaseId: 'L1',
        updatedAt: at(now),
        attemptStarted: { at: at(now), trigger: 'replay' as const },
      };
      expect(taken).toEqual(held);
      expect(await db.get('C-sent')).toEqual(held);
      expect(await db.takeLease('C-failed', T, T + LEASE, 'L2', 'replay')).toMatchObject({ status: 'failed', leaseId: 'L2' });
      expect(await db.listDue(T + LEASE, 10)).toEqual([]);
    });

    it('refuses a record held right now and an unknown one; takes one whose lease ran out, with its unfinished attempt', async () => {
      await seed(rec('C-1'));
      await db.claim('C-1', T, T + LEASE, 'L1', 'inline');
      expect(await db.takeLease('C-1', T + LEASE - 1, T + 2 * LEASE, 'L2', 'replay')).toBeUndefined();
      expect(await db.takeLease('C-none', T, T + LEASE, 'L2', 'replay')).toBeUndefined();
      expect(await db.takeLease('C-1', T + LEASE, T + 2 * LEASE, 'L2', 'replay')).toMatchObject({
        leaseId: 'L2',
        interrupted: { at: at(T), trigger: 'inline' },
        attemptStarted: { at: at(T + LEASE), trigger: 'replay' },
      });
    });

    it('a queued outcome of a replay puts a record that was not owed into the due index', async () => {
      await seed(done('C-1'));
      await db.takeLease('C-1', T, T + LEASE, 'L1', 'replay');
      const retryable = attempt({ trigger: 'replay', result: 'retryable', status: 503 });
      expect(await db.finishAttempt('C-1', 'L1', { status: 'queued', attempt: retryable, retries: 1, dueAt: T + 60_000 }, T)).toBe(true);
      expect(await db.get('C-1')).toMatchObject({ status: 'queued', dueShard: DUE_SHARD, dueAt: T + 60_000 });
      expect(await db.listDue(T + 60_000, 10)).toEqual([{ conversionRef: 'C-1', dueAt: T + 60_000 }]);
    });
  });

  describe('attachClickref (operator)', () => {
    const request = { method: 'GET' as const, url: 'https://prf.test/conversion/clickref:Found/conversionref:C-1' };

    it('under the lease: clickref, its source, the call and updatedAt; with a consent confirmation, consent and who confirmed', async () => {
      const base = {
        status: 'unattributed' as const,
        clickref: undefined,
        clickrefSource: 'none' as const,
        request: undefined,
        dueAt: undefined,
        dueShard: undefined,
      };
      await seed(rec('C-1', base), rec('C-2', { ...base, status: 'no_consent', consent: false }));
      await db.takeLease('C-1', T, T + LEASE, 'L1', 'replay');
      await db.takeLease('C-2', T, T + LEASE, 'L2', 'replay');
      expect(await db.attachClickref('C-1', 'L1', { clickref: 'Found', source: 'operator', request }, T + 5)).toBe(true);
      expect(await db.get('C-1')).toMatchObject({
        clickref: 'Found',
        clickrefSource: 'operator',
        request,
        updatedAt: at(T + 5),
        consent: true,
        leaseId: 'L1',
      });
      const consent = { at: at(T + 5), reason: 'CMP bug' };
      expect(await db.attachClickref('C-2', 'L2', { clickref: 'Found', source: 'click', request, consent }, T + 5)).toBe(true);
      expect(await db.get('C-2')).toMatchObject({
        clickref: 'Found',
        clickrefSource: 'click',
        consent: true,
        operatorConsent: consent,
        status: 'no_consent',
      });
    });

    it('refused, writing nothing, without the lease', async () => {
      await seed(rec('C-1', { status: 'unattributed', clickref: undefined, dueAt: undefined, dueShard: undefined }));
      await db.takeLease('C-1', T, T + LEASE, 'L1', 'replay');
      const held = await db.get('C-1');
      expect(await db.attachClickref('C-1', 'L-other', { clickref: 'Found', source: 'operator', request }, T)).toBe(false);
      expect(await db.attachClickref('C-none', 'L1', { clickref: 'Found', source: 'operator', request }, T)).toBe(false);
      expect(await db.get('C-1')).toEqual(held);
    });
  });

  describe('requeue (operator)', () => {
    it('puts a failed or rejected record back in the due index: queued, due now, a fresh schedule, no lease (its unfinished attempt kept)', async () => {
      const started = { at: at(T - 2 * LEASE), trigger: 'replay' as const };
      await seed(
        rec('C-failed', { status: 'failed', retries: 4, dueAt: undefined, dueShard: undefined }),
        rec('C-rejected', { status: 'rejected', dueAt: T - LEASE, dueShard: undefined, leaseId: 'expired', attemptStarted: started }),
      );
      expect(await db.requeue('C-failed', ['failed'], T)).toBe(true);
      expect(await db.get('C-failed')).toEqual(
        rec('C-failed', { status: 'queued', retries: 0, dueAt: T, dueShard: DUE_SHARD, updatedAt: at(T) }),
      );
      expect(await db.requeue('C-rejected', ['failed', 'rejected'], T)).toBe(true);
      const rejected = (await db.get('C-rejected'))!;
      expect(rejected).toMatchObject({ status: 'queued', dueAt: T, attemptStarted: started });
      expect('leaseId' in rejected).toBe(false);
      expect((await db.listDue(T, 10)).map((d) => d.conversionRef).sort()).toEqual(['C-failed', 'C-rejected']);
    });

    it('refuses, writing nothing, another status, a record without a call, one held right now, and an unknown one', async () => {
      const records = [
        done('C-sent'),
        rec('C-unattributed', { status: 'failed', request: undefined, dueAt: undefined, dueShard: undefined }),
        rec('C-held', { status: 'failed', leaseId: 'L', dueAt: T + 1, dueShard: undefined }),
      ];
      await seed(...records);
      for (const r of records) {
        expect(await db.requeue(r.conversionRef, ['failed'], T), r.conversionRef).toBe(false);
        expect(await db.get(r.conversionRef)).toEqual(r);
      }
      expect(await db.requeue('C-sent', ['failed', 'rejected'], T)).toBe(false);
      expect(await db.requeue('C-none', ['failed'], T)).toBe(false);
    });
  });

  describe('findByStatus (operator)', () => {
    it('every record with one of the statuses, updated at or after `since`', async () => {
      await seed(
        rec('C-f1', { status: 'failed', updatedAt: at(T - 3_600_000) }),
        rec('C-f2', { status: 'failed', updatedAt: at(T) }),
        rec('C-r', { status: 'rejected', updatedAt: at(T + 1) }),
        done('C-s'),
      );
      const refs = async (statuses: Parameters<ConversionAdmin['findByStatus']>[0], since?: string) => {
        const out: string[] = [];
        for await (const r of db.findByStatus(statuses, since)) out.push(r.conversionRef);
        return out.sort();
      };
      expect(await refs(['failed'])).toEqual(['C-f1', 'C-f2']);
      expect(await refs(['failed', 'rejected'], at(T))).toEqual(['C-f2', 'C-r']);
      expect(await refs(['queued'])).toEqual([]);
    });
  });
});
