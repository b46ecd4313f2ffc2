/**
 * The store ports' contract, run against both implementations: the DynamoDB adapters on dynalite
 * and the in-memory stores the unit tests use (test/support/memory-stores.ts). The same scenarios,
 * the same expected records: the memory stores cannot drift from the real ones unnoticed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoClickStore, DynamoConversionAdmin, MAX_UPDATES_PER_ORDER } from '#lambdas/adapters/dynamodb-stores.js';
import { DynamoUpdateOutbox } from '#lambdas/adapters/dynamodb-update-outbox.js';
import {
  APPROVALS_SHARD,
  DUE_SHARD,
  JOBS_SHARD,
  jobKey,
  UPDATES_SHARD,
  updatesKey,
  type Attempt,
  type AttemptOutcome,
  type ClickRecord,
  type ClickStore,
  type ConversionAdmin,
  type ConversionRecord,
  type JobMember,
  type UpdateEntry,
  type UpdateJobRecord,
  type UpdateOutbox,
} from '#lambdas/core/model.js';
import { ensureTables, startEmbeddedDynamo, type EmbeddedDynamo } from '../../lib/local/embedded-dynamodb.js';
import { MemoryClickStore, MemoryConversionAdmin, MemoryUpdateOutbox } from '../support/memory-stores.js';
import { conversionRecord } from '../support/unit-deps.js';

interface Stores {
  clicks: ClickStore;
  conversions: ConversionAdmin;
  updates: UpdateOutbox;
}

let dynamo: EmbeddedDynamo;
let tableNo = 0;
beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
});
afterAll(async () => dynamo?.close());

const BACKENDS: Array<[string, () => Promise<Stores>]> = [
  [
    'memory',
    async () => {
      const conversions = new MemoryConversionAdmin();
      return { clicks: new MemoryClickStore(), conversions, updates: new MemoryUpdateOutbox(conversions) };
    },
  ],
  [
    'dynamodb (dynalite)',
    async () => {
      // Fresh tables per test: the due index is table-wide.
      const tables = { clicks: `Clicks${++tableNo}`, conversions: `Conversions${tableNo}` };
      await ensureTables(dynamo.client, tables);
      return {
        clicks: new DynamoClickStore(dynamo.client, tables.clicks),
        conversions: new DynamoConversionAdmin(dynamo.client, tables.conversions),
        updates: new DynamoUpdateOutbox(dynamo.client, tables.conversions),
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

    it('the click lock: a click that came with a key is replaced only with its key while locked; a keyless click never locks; put says whether it stored', async () => {
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
      // A recent click made without a key is not locked: any newer click replaces it (the latest wins).
      expect(await s.clicks.put(at(LOCK + 6, { clickref: 'Keyless', keyDigest: undefined }), T + 6)).toBe(true);
      expect(await s.clicks.get('sess-lock')).toMatchObject({ clickref: 'Keyless', clickedAt: T + LOCK + 6 });
      // A keyed click replaces it and locks the session from then on.
      expect(await s.clicks.put(at(LOCK + 7, { clickref: 'Later', keyDigest: 'digest-C' }), T + 7)).toBe(true);
      expect(await s.clicks.get('sess-lock')).toMatchObject({ clickref: 'Later', keyDigest: 'digest-C' });
      expect(await s.clicks.put(at(LOCK + 8, { clickref: 'Other', keyDigest: undefined }), T + 8)).toBe(false);
      // An older click is refused whatever its key.
      expect(await s.clicks.put(at(0, { clickref: 'Old' }), T - LOCK)).toBe(false);
      // Without a lock, only the order of clicks counts.
      expect(await s.clicks.put(at(LOCK + 9, { clickref: 'Unlocked', keyDigest: undefined }))).toBe(true);
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

    it('with unchangedSince, only the version the operator was shown', async () => {
      await seed(done('C-1'));
      const shown = (await db.get('C-1'))!.updatedAt;
      expect(await db.takeLease('C-1', T, T + LEASE, 'L1', 'replay', 'an older version')).toBeUndefined();
      expect(await db.takeLease('C-1', T, T + LEASE, 'L1', 'replay', shown)).toMatchObject({ leaseId: 'L1' });
    });

    it('releaseLease frees a record held by this lease, due at once; another holder cannot release it', async () => {
      await seed(rec('C-1'));
      await db.takeLease('C-1', T, T + LEASE, 'L1', 'replay');
      expect(await db.releaseLease('C-1', 'L2', T + 5)).toBe(false);
      expect(await db.releaseLease('C-1', 'L1', T + 5)).toBe(true);
      const r = (await db.get('C-1'))!;
      expect([r.leaseId, r.attemptStarted, r.dueAt, r.updatedAt]).toEqual([undefined, undefined, T + 5, at(T + 5)]);
      expect(await db.releaseLease('C-1', 'L1', T + 6)).toBe(false);
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
  describe('approvals partition', () => {
    it('a sent outcome with the approvals shard waits there, listed only by that shard, until cleared', async () => {
      await seed(rec('C-1'));
      expect(await db.claim('C-1', T, T + LEASE, 'L1', 'retry')).toBeDefined();
      const outcome: AttemptOutcome = { status: 'sent', attempt: attempt(), retries: 0, dueShard: APPROVALS_SHARD, dueAt: T + 86_400_000 };
      expect(await db.finishAttempt('C-1', 'L1', outcome, T + 1)).toBe(true);
      expect(await db.listDue(T + 86_400_000, 10)).toEqual([]);
      expect(await db.listDue(T + 86_400_000, 10, APPROVALS_SHARD)).toEqual([{ conversionRef: 'C-1', dueAt: T + 86_400_000 }]);
      expect(await s.updates.clearApproval('C-1')).toBe(true);
      expect(await s.updates.clearApproval('C-1')).toBe(false);
      expect(await db.listDue(T + 86_400_000, 10, APPROVALS_SHARD)).toEqual([]);
      expect(await db.get('C-1')).toMatchObject({ status: 'sent' });
      expect((await db.get('C-1'))?.dueAt).toBeUndefined();
    });

    it('clearApproval leaves an owed record, a record held by a replay, and an unknown one', async () => {
      await seed(rec('C-owed'), done('C-held', { dueShard: APPROVALS_SHARD, dueAt: T, leaseId: 'L' }));
      expect(await s.updates.clearApproval('C-owed')).toBe(false);
      expect(await s.updates.clearApproval('C-held')).toBe(false);
      expect(await s.updates.clearApproval('C-none')).toBe(false);
      expect(await db.get('C-owed')).toMatchObject({ dueShard: DUE_SHARD });
    });
  });

  /** An order update entry, and the updates record it belongs to (the order updates scenarios). */
  const entry = (id: string, over: Partial<UpdateEntry> = {}): UpdateEntry => ({
    id,
    seq: T,
    kind: 'cancel',
    source: 'native',
    acceptedAt: at(T),
    updatedAt: at(T),
    state: 'owed',
    retries: 0,
    ...over,
  });
  const base = { ref: 'ORD-1', orderId: 'ORD-1', campaignId: '1011l270', expiresAt: 2_000_000_000 };

  describe('order updates: add', () => {
    it('creates the record with its first update, due; a repeat is a duplicate and writes nothing', async () => {
      expect(await s.updates.add(base, entry('cancel:a', { reason: 'changed mind' }), T, T)).toBe('added');
      expect(await s.updates.add(base, entry('cancel:a', { reason: 'other' }), T + 5, T + 5)).toBe('duplicate');
      expect(await s.updates.get('ORD-1')).toEqual({
        conversionRef: updatesKey('ORD-1'),
        recordType: 'order_updates',
        ...base,
        createdAt: at(T),
        updatedAt: at(T),
        version: 1,
        entries: { 'cancel:a': entry('cancel:a', { reason: 'changed mind' }) },
        dueShard: UPDATES_SHARD,
        dueAt: T,
      });
      expect(await s.updates.listDue(UPDATES_SHARD, T, 10)).toEqual([{ conversionRef: updatesKey('ORD-1'), dueAt: T }]);
      expect(await db.listDue(T, 10)).toEqual([]);
    });

    it('adds a second update (version moves, due again); one with nothing to send leaves the due time alone', async () => {
      await s.updates.add(base, entry('cancel:a', { state: 'not_applicable' }), undefined, T);
      expect(await s.updates.listDue(UPDATES_SHARD, T + 10, 10)).toEqual([]);
      expect(await s.updates.add(base, entry('approve:b', { kind: 'approve', seq: T + 5 }), T + 5, T + 5)).toBe('added');
      const r = await s.updates.get('ORD-1');
      expect(r).toMatchObject({ version: 2, updatedAt: at(T + 5), dueShard: UPDATES_SHARD, dueAt: T + 5 });
      expect(Object.keys(r!.entries).sort()).toEqual(['approve:b', 'cancel:a']);
    });

    it('while someone holds the record, an update is added without touching the lease (the holder sees version move)', async () => {
      await s.updates.add(base, entry('cancel:a'), T, T);
      const held = await s.updates.claim(updatesKey('ORD-1'), T, T + LEASE, 'L1');
      expect(held).toMatchObject({ leaseId: 'L1', dueAt: T + LEASE, version: 1 });
      expect(await s.updates.add(base, entry('refund:b', { kind: 'refund', seq: T + 1 }), T + 1, T + 1)).toBe('added');
      expect(await s.updates.get('ORD-1')).toMatchObject({ leaseId: 'L1', dueAt: T + LEASE, version: 2 });
    });

    it(`refuses an update past ${MAX_UPDATES_PER_ORDER} on one order`, async () => {
      for (let i = 0; i < MAX_UPDATES_PER_ORDER; i++) await s.updates.add(base, entry(`u${i}`), T, T);
      await expect(s.updates.add(base, entry('one-more'), T, T)).rejects.toMatchObject({ code: 'too_many_updates' });
    });
  });

  describe('order updates: claim, finish, settle', () => {
    const key = updatesKey('ORD-1');

    it('claims a due record once; not before it is due; another may take it when the lease ran out', async () => {
      await s.updates.add(base, entry('a'), T + 100, T);
      expect(await s.updates.claim(key, T, T + LEASE, 'L0')).toBeUndefined();
      expect(await s.updates.claim(key, T + 100, T + 100 + LEASE, 'L1')).toMatchObject({
        leaseId: 'L1',
        dueAt: T + 100 + LEASE,
        interrupted: undefined,
      });
      expect(await s.updates.claim(key, T + 200, T + 200 + LEASE, 'L2')).toBeUndefined();
      expect(await s.updates.claim(key, T + 100 + LEASE, T + 100 + 2 * LEASE, 'L3')).toMatchObject({
        leaseId: 'L3',
        interrupted: { at: at(T + 100), trigger: 'retry' },
      });
      expect(await s.updates.claim(updatesKey('none'), T, T + LEASE, 'L4')).toBeUndefined();
    });

    it('finish writes the decided updates and the next due time, or takes the record out of the index', async () => {
      await s.updates.add(base, entry('a'), T, T);
      await s.updates.add(base, entry('b', { seq: T + 1 }), T, T);
      const held = (await s.updates.claim(key, T, T + LEASE, 'L1'))!;
      const submitted = entry('a', { state: 'submitted', jobId: '9l9', updatedAt: at(T + 2) });
      expect(await s.updates.finish(key, 'L2', { entries: [submitted], version: held.version, dueAt: T + 99 }, T + 2)).toBe(false);
      const items = [{ id: '7l7', sku: 'S', value: 10, status: 'pending' }];
      expect(await s.updates.finish(key, 'L1', { entries: [submitted], items, version: held.version, dueAt: T + 99 }, T + 2)).toBe(true);
      const r = (await s.updates.get('ORD-1'))!;
      expect(r.entries['a']).toEqual(submitted);
      expect(r.entries['b']).toEqual(entry('b', { seq: T + 1 }));
      expect(r).toMatchObject({ items, itemsReadAt: at(T + 2), dueShard: UPDATES_SHARD, dueAt: T + 99 });
      expect(r.leaseId).toBeUndefined();
      expect(r.attemptStarted).toBeUndefined();
      const again = (await s.updates.claim(key, T + 99, T + 99 + LEASE, 'L3'))!;
      expect(await s.updates.finish(key, 'L3', { entries: [], version: again.version, dueAt: undefined }, T + 100)).toBe(true);
      expect(await s.updates.listDue(UPDATES_SHARD, T + 10_000_000, 10)).toEqual([]);
    });

    it('finish makes the record due at once when an update arrived meanwhile (version moved)', async () => {
      await s.updates.add(base, entry('a'), T, T);
      const held = (await s.updates.claim(key, T, T + LEASE, 'L1'))!;
      await s.updates.add(base, entry('b'), T + 1, T + 1);
      expect(
        await s.updates.finish(key, 'L1', { entries: [entry('a', { state: 'applied' })], version: held.version, dueAt: undefined }, T + 2),
      ).toBe(true);
      expect(await s.updates.listDue(UPDATES_SHARD, T + 2, 10)).toEqual([{ conversionRef: key, dueAt: T + 2 }]);
      expect((await s.updates.get('ORD-1'))!.entries['a']!.state).toBe('applied');
    });

    const member = (entryId: string, over: Partial<JobMember> = {}): JobMember => ({
      record: key,
      entry: entryId,
      keys: ['ORD-1'],
      retries: 0,
      version: 1,
      followUp: false,
      ...over,
    });
    const result = { at: at(T + 5), result: 'sent' as const, jobId: 'J1', latencyMs: 0 };

    it('settle records a job result on an update still waiting for that job; with nothing left to do the record leaves the index', async () => {
      await s.updates.add(base, entry('a', { state: 'submitted', jobId: 'J1', note: 'x', notBefore: 5, retries: 2 }), T + 100, T);
      expect(await s.updates.settle(member('a'), 'J0', { state: 'applied', attempt: result }, T + 5)).toBe(false);
      expect(await s.updates.settle(member('a'), 'J1', { state: 'applied', attempt: result }, T + 5)).toBe(true);
      expect(await s.updates.settle(member('a'), 'J1', { state: 'failed', attempt: result }, T + 6)).toBe(false);
      const r = (await s.updates.get('ORD-1'))!;
      expect(r.entries['a']).toEqual({
        ...entry('a', { state: 'applied', jobId: 'J1', retries: 2, updatedAt: at(T + 5) }),
        attempts: [result],
      });
      expect(r.version).toBe(2);
      expect(await s.updates.listDue(UPDATES_SHARD, T + 10_000_000, 10)).toEqual([]);
      expect(await s.updates.settle(member('zz'), 'J1', { state: 'applied', attempt: result }, T + 5)).toBe(false);
    });

    it('settle makes the record due when later updates wait, when it changed since the job, or when the update is owed again', async () => {
      const cases: Array<[string, Partial<JobMember>, Parameters<UpdateOutbox['settle']>[2], number]> = [
        ['ORD-1', { followUp: true }, { state: 'applied', attempt: result }, T + 5],
        ['ORD-2', { version: 0 }, { state: 'applied', attempt: result }, T + 5],
        ['ORD-3', {}, { state: 'owed', retries: 1, notBefore: T + 60_000, attempt: result }, T + 60_000],
        ['ORD-4', {}, { state: 'owed', group: 'J1/a', attempt: result }, T + 5],
      ];
      for (const [ref, over, patch, due] of cases) {
        await s.updates.add({ ...base, ref, orderId: ref }, entry('a', { state: 'submitted', jobId: 'J1' }), undefined, T);
        expect(await s.updates.settle(member('a', { record: updatesKey(ref), ...over }), 'J1', patch, T + 5)).toBe(true);
        expect(await s.updates.listDue(UPDATES_SHARD, T + 10_000_000, 10), ref).toEqual([{ conversionRef: updatesKey(ref), dueAt: due }]);
        await s.updates.claim(updatesKey(ref), due, due + 1, 'L');
        await s.updates.finish(updatesKey(ref), 'L', { entries: [], version: 2, dueAt: undefined }, due);
      }
    });

    it('settle on a held record writes the result only (the holder sees version move); a retry patch sets the schedule', async () => {
      await s.updates.add(base, entry('a', { state: 'submitted', jobId: 'J1' }), T, T);
      await s.updates.claim(key, T, T + LEASE, 'L1');
      const retry = { ...result, result: 'retryable' as const };
      expect(
        await s.updates.settle(
          member('a'),
          'J1',
          { state: 'owed', note: 'job failed', retries: 1, notBefore: T + 60_000, attempt: retry },
          T + 5,
        ),
      ).toBe(true);
      const r = (await s.updates.get('ORD-1'))!;
      expect(r).toMatchObject({ version: 2, leaseId: 'L1', dueAt: T + LEASE });
      expect(r.entries['a']).toMatchObject({ state: 'owed', note: 'job failed', retries: 1, notBefore: T + 60_000, attempts: [retry] });
    });
  });

  describe('bulk jobs', () => {
    const job = (id: string, over: Partial<UpdateJobRecord> = {}): UpdateJobRecord => ({
      conversionRef: jobKey(id),
      recordType: 'update_job',
      jobId: id,
      campaignId: '1011l270',
      form: 'conversion_references',
      submittedAt: at(T),
      members: [{ record: updatesKey('ORD-1'), entry: 'a', keys: ['ORD-1'], retries: 0, version: 1, followUp: false }],
      polls: 0,
      status: 'created',
      dueShard: JOBS_SHARD,
      dueAt: T + 30_000,
      expiresAt: 2_000_000_000,
      ...over,
    });

    it('a job is polled under a lease until it finishes, then leaves the due index', async () => {
      await s.updates.createJob(job('1l1'));
      await expect(s.updates.createJob(job('1l1'))).rejects.toThrow();
      expect(await s.updates.listDue(JOBS_SHARD, T + 30_000, 10)).toEqual([{ conversionRef: jobKey('1l1'), dueAt: T + 30_000 }]);
      expect(await s.updates.listDue(UPDATES_SHARD, T + 30_000, 10)).toEqual([]);
      expect(await s.updates.claimJob(jobKey('1l1'), T, T + LEASE, 'L0')).toBeUndefined();
      const held = await s.updates.claimJob(jobKey('1l1'), T + 30_000, T + 30_000 + LEASE, 'L1');
      expect(held).toMatchObject({ jobId: '1l1', leaseId: 'L1', members: job('1l1').members });
      expect(await s.updates.finishJob(jobKey('1l1'), 'L2', { status: 'active', polls: 1, dueAt: T + 90_000 }, T + 30_001)).toBe(false);
      expect(await s.updates.finishJob(jobKey('1l1'), 'L1', { status: 'active', polls: 1, dueAt: T + 90_000 }, T + 30_001)).toBe(true);
      expect(await s.updates.listDue(JOBS_SHARD, T + 90_000, 10)).toEqual([{ conversionRef: jobKey('1l1'), dueAt: T + 90_000 }]);
      await s.updates.claimJob(jobKey('1l1'), T + 90_000, T + 90_000 + LEASE, 'L3');
      expect(await s.updates.finishJob(jobKey('1l1'), 'L3', { status: 'complete', polls: 2 }, T + 90_001)).toBe(true);
      expect(await s.updates.listDue(JOBS_SHARD, T + 10_000_000, 10)).toEqual([]);
    });
  });
});
