import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import { updatesKey, type ConversionRecord, type OperatorAttribution } from '#lambdas/core/model.js';
import {
  findConversion,
  findRequeueable,
  OperationError,
  operatorUpdate,
  parseSince,
  replay,
  requeue,
  type RequeueProgress,
} from '#lambdas/core/operations.js';
import { acceptPostback } from '#lambdas/core/postbacks.js';
import { sweep } from '#lambdas/core/sweep.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '#lambdas/core/time.js';
import { MemoryConversionAdmin } from '../../support/memory-stores.js';
import { answer } from '../../support/scripted-sender.js';
import { conversionRecord, unitDeps, type UnitDeps } from '../../support/unit-deps.js';

const SESSION = 'session-0001';
const order = (over: Record<string, unknown> = {}) => ({
  event: 'purchase',
  orderId: 'ORD-1',
  sessionId: SESSION,
  currency: 'GBP',
  consent: true,
  orderTime: '2026-11-24T09:00:00Z',
  items: [{ sku: 'SKU-1', category: 'shoes', value: 10, quantity: 1 }],
  ...over,
});
const stored = (deps: UnitDeps, ref = 'ORD-1'): ConversionRecord => deps.conversions.items.get(ref)!;
const click = (deps: UnitDeps, clickref: string, ageMs = 0) => {
  const clickedAt = deps.clock.now() - ageMs;
  return deps.clicks.put({ sessionId: SESSION, clickref, clickedAt, expiresAt: Math.ceil((clickedAt + 30 * DAY_MS) / 1000) });
};
const seed = (deps: UnitDeps, over: Partial<ConversionRecord> & { conversionRef: string }) => {
  const r = conversionRecord(over, deps.clock.now());
  deps.conversions.items.set(r.conversionRef, r);
  return r;
};

describe('findConversion', () => {
  it('finds an order by its id under the prefix first, then takes the id as a conversionRef', async () => {
    const deps = unitDeps();
    seed(deps, { conversionRef: 'TEST-ORD-1' });
    seed(deps, { conversionRef: 'ORD-2' });
    expect((await findConversion('ORD-1', 'TEST-', deps))?.conversionRef).toBe('TEST-ORD-1');
    expect((await findConversion('TEST-ORD-1', 'TEST-', deps))?.conversionRef).toBe('TEST-ORD-1');
    expect((await findConversion('ORD-2', 'TEST-', deps))?.conversionRef).toBe('ORD-2');
    expect(await findConversion('ORD-3', 'TEST-', deps)).toBeUndefined();
    expect(await findConversion('ORD-3', '', deps)).toBeUndefined();
  });

  it('with the order id under the prefix and as a ref both stored, the prefixed one wins', async () => {
    const deps = unitDeps();
    seed(deps, { conversionRef: 'ORD-1', status: 'sent' });
    seed(deps, { conversionRef: 'TEST-ORD-1', status: 'failed' });
    expect((await findConversion('ORD-1', 'TEST-', deps))?.status).toBe('failed');
  });
});

describe('replay', () => {
  it('sends the stored call again now, also when it was sent, under a lease, with the retry timeout', async () => {
    const deps = unitDeps({ script: [answer.sent(), answer.sent()] });
    await acceptPostback(order({ clickref: 'Ref1' }), deps);
    deps.clock.advance(HOUR_MS);
    const before = stored(deps);
    const { before: returned, report } = await replay(before, {}, deps);
    expect(returned).toEqual(before);
    expect(report).toMatchObject({ recorded: true, outcome: { status: 'sent', attempt: { trigger: 'replay' } } });
    expect(deps.sender.calls.map((c) => [c.call, c.timeoutMs])).toEqual([
      [before.request, deps.config.inlineTimeoutMs],
      [before.request, deps.config.retryTimeoutMs],
    ]);
    expect(stored(deps).attempts.map((a) => a.trigger)).toEqual(['inline', 'replay']);
    expect(stored(deps).leaseId).toBeUndefined();
  });

  it('refuses while another process holds the record; nothing is sent', async () => {
    const deps = unitDeps();
    const r = seed(deps, { conversionRef: 'ORD-1', status: 'queued', leaseId: 'sweep', dueAt: deps.clock.now() + 10_000 });
    await expect(replay(r, {}, deps)).rejects.toThrow(
      new OperationError('ORD-1 is being sent right now by another process; try again in a minute'),
    );
    expect(deps.sender.calls).toHaveLength(0);
    expect(stored(deps).leaseId).toBe('sweep');
  });

  it('takes over a record whose holder died, recording the holder’s unfinished attempt', async () => {
    const deps = unitDeps({ script: [answer.sent()] });
    const started = { at: new Date(deps.clock.now() - 60_000).toISOString(), trigger: 'retry' as const };
    const r = seed(deps, {
      conversionRef: 'ORD-1',
      status: 'queued',
      leaseId: 'dead',
      dueAt: deps.clock.now() - 1,
      attemptStarted: started,
    });
    await replay(r, {}, deps);
    expect(stored(deps).attempts.map((a) => [a.trigger, a.error ?? a.result])).toEqual([
      ['retry', 'interrupted'],
      ['replay', 'sent'],
    ]);
  });

  it('a replay that fails retryably joins the retry schedule, and the sweep sends it', async () => {
    const deps = unitDeps({ script: [answer.status(503), answer.sent()] });
    const r = seed(deps, { conversionRef: 'ORD-1', status: 'rejected', dueAt: undefined, dueShard: undefined });
    expect((await replay(r, {}, deps)).report.outcome).toMatchObject({ status: 'queued', dueAt: deps.clock.now() + 60_000 });
    deps.clock.advance(60_000);
    expect(await sweep(deps, { limit: 10, concurrency: 1, budgetMs: 10_000 })).toMatchObject({ claimed: 1, byStatus: { sent: 1 } });
    expect(stored(deps).attempts.map((a) => a.trigger)).toEqual(['replay', 'retry']);
  });

  // A replay of a conversion Partnerize already accepted (an attempt answered 2xx) may be answered
  // "duplicate": that is the earlier attempt, delivered — not a rejection to page for.
  it('a duplicate answer to the replay of a sent conversion keeps it sent (deliveredEarlier), not rejected', async () => {
    const deps = unitDeps({ script: [answer.sent(), answer.rejected('Duplicate conversionref', 409)] });
    await acceptPostback(order({ clickref: 'Ref1' }), deps);
    const { report } = await replay(stored(deps), {}, deps);
    expect(report.outcome.status).toBe('sent');
    expect(stored(deps).status).toBe('sent');
  });

  describe('an unattributed conversion', () => {
    it('is refused without a clickref: nothing to send', async () => {
      const deps = unitDeps();
      await acceptPostback(order(), deps);
      await expect(replay(stored(deps), {}, deps)).rejects.toThrow(
        new OperationError('ORD-1 is unattributed: there is no clickref to send; pass --clickref <clickref> to attribute it'),
      );
      expect(stored(deps).leaseId).toBeUndefined();
    });

    it('with --clickref: built from the stored order with that clickref, recorded as the operator’s, then sent', async () => {
      const deps = unitDeps({ script: [answer.sent()] });
      await acceptPostback(order({ country: 'GB' }), deps);
      deps.clock.advance(DAY_MS);
      const { report } = await replay(stored(deps), { clickref: 'AbC123xYz' }, deps);
      expect(report.outcome.status).toBe('sent');
      const url = deps.sender.calls[0]!.call.url;
      expect(url).toContain('/clickref:AbC123xYz/conversionref:ORD-1/currency:GBP/country:GB/conversion_time:2026-11-24%2009%3A00%3A00/');
      expect(stored(deps)).toMatchObject({
        status: 'sent',
        clickref: 'AbC123xYz',
        clickrefSource: 'operator',
        request: { method: 'GET', url },
        updatedAt: new Date(deps.clock.now()).toISOString(),
      });
    });

    it('refuses a clickref Partnerize would not take, naming the field, before taking the record', async () => {
      const deps = unitDeps();
      await acceptPostback(order(), deps);
      const err = await replay(stored(deps), { clickref: 'has space' }, deps).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect(err).toMatchObject({ code: 'invalid_clickref', field: 'clickref' });
      expect(stored(deps).leaseId).toBeUndefined();
    });

    it('refuses, sending nothing, when the record was taken over while the clickref was attached', async () => {
      const deps = unitDeps();
      await acceptPostback(order(), deps);
      const conversions = new (class extends MemoryConversionAdmin {
        override async attachClickref(ref: string, leaseId: string, a: OperatorAttribution, now: number): Promise<boolean> {
          this.items.set(ref, { ...this.items.get(ref)!, leaseId: 'someone-else' });
          return super.attachClickref(ref, leaseId, a, now);
        }
      })();
      conversions.items.set('ORD-1', stored(deps));
      await expect(replay(stored(deps), { clickref: 'AbC123' }, { ...deps, conversions })).rejects.toThrow(
        new OperationError('ORD-1 was taken over while attaching the clickref; nothing was sent'),
      );
      expect(deps.sender.calls).toHaveLength(0);
    });

    it('with neither a stored order nor a call, a clickref cannot help', async () => {
      const deps = unitDeps();
      const r = seed(deps, {
        conversionRef: 'ORD-1',
        status: 'unattributed',
        request: undefined,
        call: undefined,
        dueAt: undefined,
        dueShard: undefined,
      });
      await expect(replay(r, { clickref: 'AbC123' }, deps)).rejects.toThrow('ORD-1 has no stored order to build a call from');
    });
  });

  it('--clickref on a conversion that has a call replaces only its clickref', async () => {
    const deps = unitDeps({ script: [answer.status(400), answer.sent()] });
    await acceptPostback(order({ clickref: 'Wrong1' }), deps);
    const before = stored(deps).request!.url;
    await replay(stored(deps), { clickref: 'Right2' }, deps);
    expect(deps.sender.calls[1]!.call.url).toBe(before.replace('/clickref:Wrong1/', '/clickref:Right2/'));
  });

  describe('a no_consent conversion', () => {
    it('is refused without an operator’s consent confirmation, and with a blank reason', async () => {
      const deps = unitDeps();
      await click(deps, 'FromClick');
      await acceptPostback(order({ consent: false }), deps);
      await expect(replay(stored(deps), {}, deps)).rejects.toBeInstanceOf(OperationError);
      await expect(replay(stored(deps), { clickref: 'AbC123' }, deps)).rejects.toThrow(/is no_consent: .* pass --consent-confirmed/);
      await expect(replay(stored(deps), { consentConfirmed: '  ' }, deps)).rejects.toMatchObject({
        name: 'InputError',
        field: 'consentConfirmed',
      });
      expect(deps.sender.calls).toHaveLength(0);
      expect(stored(deps).status).toBe('no_consent');
    });

    it('with --consent-confirmed: the session’s live click, the reason kept on the record, sent', async () => {
      const deps = unitDeps({ script: [answer.sent()] });
      await click(deps, 'FromClick');
      await acceptPostback(order({ consent: false }), deps);
      deps.clock.advance(HOUR_MS);
      const { report } = await replay(stored(deps), { consentConfirmed: ' CMP bug 30 Nov ' }, deps);
      expect(report.outcome.status).toBe('sent');
      expect(deps.sender.calls[0]!.call.url).toContain('/clickref:FromClick/');
      expect(stored(deps)).toMatchObject({
        status: 'sent',
        consent: true,
        clickref: 'FromClick',
        clickrefSource: 'click',
        // What the postback said stays on the trail beside the operator's decision.
        operatorConsent: { at: new Date(deps.clock.now()).toISOString(), reason: 'CMP bug 30 Nov', postbackConsent: false },
      });
    });

    it('with --consent-confirmed: the click’s device fills in what the order did not say', async () => {
      const deps = unitDeps({ script: [answer.sent()] });
      const clickedAt = deps.clock.now();
      await deps.clicks.put({
        sessionId: SESSION,
        clickref: 'FromClick',
        clickedAt,
        device: 'mobile',
        expiresAt: Math.ceil(clickedAt / 1000) + 86_400,
      });
      await acceptPostback(order({ consent: false }), deps);
      await replay(stored(deps), { consentConfirmed: 'CMP bug' }, deps);
      expect(deps.sender.calls[0]!.call.url).toContain('/device:mobile/');
    });

    it('with --consent-confirmed and --clickref: the operator’s clickref', async () => {
      const deps = unitDeps({ script: [answer.sent()] });
      await acceptPostback(order({ consent: false }), deps);
      await replay(stored(deps), { consentConfirmed: 'CMP bug', clickref: 'Given1' }, deps);
      expect(stored(deps)).toMatchObject({ status: 'sent', clickref: 'Given1', clickrefSource: 'operator', consent: true });
    });

    it('with --consent-confirmed but no live click for the session: refused, asking for a clickref; nothing sent', async () => {
      const deps = unitDeps({ script: [answer.sent()] });
      await click(deps, 'Stale', 31 * DAY_MS);
      await acceptPostback(order({ consent: false }), deps);
      await expect(replay(stored(deps), { consentConfirmed: 'CMP bug' }, deps)).rejects.toThrow(
        new OperationError('ORD-1 has no click of its session from before the order; pass --clickref <clickref> too'),
      );
      expect(deps.sender.calls).toHaveLength(0);
      // Refused before the record was taken: a later postback that carries consent still replaces it.
      expect(stored(deps).leaseId).toBeUndefined();
      expect((await acceptPostback(order({ consent: true, clickref: 'Later1' }), deps)).outcome).not.toBe('duplicate');
    });

    it('with --consent-confirmed uses the click from before the order, not a later one (another affiliate)', async () => {
      const deps = unitDeps({ script: [answer.sent()] });
      await acceptPostback(order({ consent: false }), deps);
      deps.clock.advance(2 * DAY_MS);
      await click(deps, 'LaterAffiliate');
      await expect(replay(stored(deps), { consentConfirmed: 'CMP bug' }, deps)).rejects.toThrow(
        /no click of its session from before the order/,
      );
      expect(deps.sender.calls).toHaveLength(0);
    });

    it('recorded before order specs were kept: refused', async () => {
      const deps = unitDeps();
      const r = seed(deps, {
        conversionRef: 'ORD-1',
        status: 'no_consent',
        consent: false,
        call: undefined,
        request: undefined,
        dueAt: undefined,
        dueShard: undefined,
      });
      await expect(replay(r, { consentConfirmed: 'CMP bug' }, deps)).rejects.toThrow(
        /has no stored order to build a call from \(recorded before/,
      );
    });
  });
});

describe('findRequeueable', () => {
  it('records of the given statuses updated since the given time, oldest update first', async () => {
    const deps = unitDeps();
    const t = deps.clock.now();
    const at = (ms: number) => new Date(ms).toISOString();
    seed(deps, { conversionRef: 'F-new', status: 'failed', updatedAt: at(t - HOUR_MS) });
    seed(deps, { conversionRef: 'F-old', status: 'failed', updatedAt: at(t - 3 * DAY_MS) });
    seed(deps, { conversionRef: 'R-mid', status: 'rejected', updatedAt: at(t - 2 * HOUR_MS) });
    seed(deps, { conversionRef: 'S', status: 'sent', updatedAt: at(t) });
    const refs = async (...args: Parameters<typeof findRequeueable>) => (await findRequeueable(...args)).map((r) => r.conversionRef);
    expect(await refs(['failed'], undefined, deps)).toEqual(['F-old', 'F-new']);
    expect(await refs(['failed', 'rejected'], parseSince('24h', t), deps)).toEqual(['R-mid', 'F-new']);
    expect(await refs(['rejected'], parseSince('1h', t), deps)).toEqual([]);
  });
});

describe('requeue', () => {
  it('puts the records back in the due index with a fresh schedule, reporting progress; the sweep sends them', async () => {
    const deps = unitDeps({ otherwise: answer.sent() });
    for (const ref of ['F-1', 'F-2'])
      seed(deps, { conversionRef: ref, status: 'failed', retries: 4, dueAt: undefined, dueShard: undefined });
    const progress: RequeueProgress[] = [];
    const records = await findRequeueable(['failed'], undefined, deps);
    expect(await requeue(records, ['failed'], deps, (p) => progress.push({ ...p }))).toEqual({ done: 2, total: 2, requeued: 2 });
    expect(progress).toEqual([
      { done: 1, total: 2, requeued: 1 },
      { done: 2, total: 2, requeued: 2 },
    ]);
    expect(stored(deps, 'F-1')).toMatchObject({ status: 'queued', retries: 0, dueAt: deps.clock.now() });
    expect(await sweep(deps, { limit: 10, concurrency: 1, budgetMs: 10_000 })).toMatchObject({ claimed: 2, byStatus: { sent: 2 } });
  });

  it('leaves alone a record held right now (a replay in flight) and one whose status changed meanwhile', async () => {
    const deps = unitDeps();
    const now = deps.clock.now();
    const records = [
      seed(deps, { conversionRef: 'HELD', status: 'failed', leaseId: 'replay', dueAt: now + 20_000, dueShard: undefined }),
      seed(deps, { conversionRef: 'EXPIRED', status: 'failed', leaseId: 'dead', dueAt: now - 1, dueShard: undefined }),
      seed(deps, { conversionRef: 'CHANGED', status: 'failed', dueAt: undefined, dueShard: undefined }),
    ];
    deps.conversions.items.set('CHANGED', { ...stored(deps, 'CHANGED'), status: 'sent' });
    expect(await requeue(records, ['failed'], deps)).toEqual({ done: 3, total: 3, requeued: 1 });
    expect(stored(deps, 'HELD')).toMatchObject({ status: 'failed', leaseId: 'replay' });
    expect(stored(deps, 'EXPIRED')).toMatchObject({ status: 'queued', dueAt: now });
    expect(stored(deps, 'EXPIRED').leaseId).toBeUndefined();
    expect(stored(deps, 'CHANGED').status).toBe('sent');
  });

  it('only the statuses asked for', async () => {
    const deps = unitDeps();
    const r = seed(deps, { conversionRef: 'R', status: 'rejected', dueAt: undefined, dueShard: undefined });
    expect((await requeue([r], ['failed'], deps)).requeued).toBe(0);
    expect((await requeue([r], ['failed', 'rejected'], deps)).requeued).toBe(1);
  });
});

describe('replay of a call recorded for the demo campaign', () => {
  it('is refused before anything is sent when it would reach Partnerize', async () => {
    const deps = unitDeps({ script: [answer.sent()] });
    seed(deps, {
      conversionRef: 'ORD-DEMO',
      status: 'dry_run',
      request: {
        method: 'GET',
        url: 'https://prf.hn/conversion/tracking_mode:api/campaign:1011l0000/clickref:C1/conversionref:ORD-DEMO/currency:GBP/[value:1/quantity:1]',
      },
    });
    await expect(replay(stored(deps, 'ORD-DEMO'), {}, deps)).rejects.toThrow(/demo campaign 1011l0000/);
    expect(deps.sender.calls).toHaveLength(0);
    expect(stored(deps, 'ORD-DEMO').leaseId).toBeUndefined();
  });
});

describe('replay of a record that changed since it was shown', () => {
  it('refuses, naming the new state, and sends nothing (the sweep sent it meanwhile)', async () => {
    const deps = unitDeps({ script: [answer.status(503), answer.sent()] });
    await acceptPostback(order({ clickref: 'Ref1' }), deps);
    const shown = stored(deps);
    expect(shown.status).toBe('queued');
    deps.clock.advance(61_000);
    await sweep(deps, { limit: 10, concurrency: 1, budgetMs: 10_000 });
    expect(stored(deps).status).toBe('sent');
    await expect(replay(shown, {}, deps)).rejects.toThrow(/changed since it was shown \(now sent/);
    expect(deps.sender.calls).toHaveLength(2);
  });
});

describe('parseSince', () => {
  const now = Date.UTC(2026, 10, 24, 10);
  it.each([
    ['24h', now - 24 * HOUR_MS],
    ['7d', now - 7 * DAY_MS],
    ['30m', now - 30 * MINUTE_MS],
    [' 2 H ', now - 2 * HOUR_MS],
    ['0d', now],
    ['2026-11-01', Date.UTC(2026, 10, 1)],
    ['2026-11-24T10:00:00+01:00', Date.UTC(2026, 10, 24, 9)],
  ])('%j → its ISO time', (value, expected) => {
    expect(parseSince(value, now)).toBe(new Date(expected).toISOString());
  });

  it.each(['yesterday', '5w', '1.5h', '-1d', '', '12h ago'])('%j is refused, naming --since', (value) => {
    expect(() => parseSince(value, now)).toThrow(expect.objectContaining({ name: 'InputError', code: 'invalid_since', field: 'since' }));
  });

  // Date.parse's legacy forms read '7' as 2001-07-01: `pz requeue --failed --since 7` would take
  // every failure since 2001.
  it('a bare number (a forgotten unit) is refused, not read as a date', () => {
    expect(() => parseSince('7', now)).toThrow(InputError);
  });

  // A duration beyond the range of a Date must not escape as a RangeError ("Invalid time value").
  it('a duration too long to be a date is refused, naming --since', () => {
    expect(() => parseSince('999999999d', now)).toThrow(expect.objectContaining({ name: 'InputError', field: 'since' }));
  });
});

/* `pz approve` / `pz reject` (operatorUpdate) against in-memory stores. */
const sentConversion = (ref: string) =>
  conversionRecord({ conversionRef: ref, orderId: ref.replace(/^TEST-/, ''), status: 'sent', dueAt: undefined, dueShard: undefined });

describe('operatorUpdate', () => {
  it('records an operator reject with its reason, every time a new update (never a repeat of another)', async () => {
    const deps = unitDeps();
    deps.conversions.items.set('ORD-1', sentConversion('ORD-1'));
    expect(await operatorUpdate('ORD-1', '', 'reject', { reason: ' fraud ' }, deps)).toEqual({
      conversionRef: 'ORD-1',
      outcome: 'update_queued',
    });
    expect(await operatorUpdate('ORD-1', '', 'reject', { reason: 'fraud' }, deps)).toEqual({
      conversionRef: 'ORD-1',
      outcome: 'update_queued',
    });
    const entries = Object.values(deps.updates.items.get(updatesKey('ORD-1'))!.entries);
    expect(entries.map((e) => [e.kind, e.source, e.reason])).toEqual([
      ['reject', 'operator', 'fraud'],
      ['reject', 'operator', 'fraud'],
    ]);
  });

  it('a reject needs a reason', async () => {
    const deps = unitDeps();
    await expect(operatorUpdate('ORD-1', '', 'reject', { reason: '  ' }, deps)).rejects.toBeInstanceOf(InputError);
  });

  it('an approve after a cancellation is refused unless forced; forced, it is recorded as such', async () => {
    const deps = unitDeps();
    deps.conversions.items.set('ORD-1', sentConversion('ORD-1'));
    await acceptPostback({ event: 'cancel', orderId: 'ORD-1' }, deps);
    await expect(operatorUpdate('ORD-1', '', 'approve', {}, deps)).rejects.toThrow(OperationError);
    await expect(operatorUpdate('ORD-1', '', 'approve', {}, deps)).rejects.toThrow(/--force/);
    expect(await operatorUpdate('ORD-1', '', 'approve', { force: true }, deps)).toMatchObject({ outcome: 'update_queued' });
    const approve = Object.values(deps.updates.items.get(updatesKey('ORD-1'))!.entries).find((e) => e.kind === 'approve');
    expect(approve).toMatchObject({ source: 'operator', force: true, state: 'owed' });
  });

  it('finds the order by id with the prefix, or by its conversionRef; an unknown order goes by reference', async () => {
    const deps = unitDeps({ env: { CONVERSION_REF_PREFIX: 'TEST-' } });
    deps.conversions.items.set('TEST-ORD-1', sentConversion('TEST-ORD-1'));
    expect((await operatorUpdate('ORD-1', 'TEST-', 'approve', {}, deps)).conversionRef).toBe('TEST-ORD-1');
    expect(await operatorUpdate('LEGACY-9', 'TEST-', 'reject', { reason: 'returned' }, deps)).toEqual({
      conversionRef: 'TEST-LEGACY-9',
      outcome: 'update_queued_unknown_order',
    });
  });
});
