import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import { METRICS } from '#lambdas/core/metrics.js';
import type { ConversionRecord, ConversionStatus, CreateResult } from '#lambdas/core/model.js';
import { acceptPostback, replaces } from '#lambdas/core/postbacks.js';
import { DAY_MS } from '#lambdas/core/time.js';
import { tealiumPurchase } from '../../fixtures/tealium.js';
import { MemoryConversionAdmin } from '../../support/memory-stores.js';
import { answer } from '../../support/scripted-sender.js';
import { BASE_URL, CAMPAIGN, unitDeps, type UnitDeps, type UnitDepsOptions } from '../../support/unit-deps.js';

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

/** The session's click, `ageMs` old. */
async function click(deps: UnitDeps, clickref = 'FromClick', ageMs = 0): Promise<void> {
  const clickedAt = deps.clock.now() - ageMs;
  await deps.clicks.put({
    sessionId: SESSION,
    clickref,
    clickedAt,
    device: 'mobile',
    expiresAt: Math.ceil((clickedAt + 30 * DAY_MS) / 1000),
  });
}

const stored = (deps: UnitDeps, ref = 'ORD-1'): ConversionRecord => {
  const r = deps.conversions.items.get(ref);
  if (!r) throw new Error(`${ref} not stored`);
  return r;
};

const live = (opts: UnitDepsOptions = {}) => unitDeps({ script: [answer.sent()], ...opts });

describe('acceptPostback', () => {
  describe('purchase filter', () => {
    it('configured purchase events fire, compared trimmed and case-insensitively', async () => {
      const deps = unitDeps({ env: { PURCHASE_EVENTS: 'purchase, Order_Completed' }, otherwise: answer.sent() });
      for (const [i, event] of [' Purchase ', 'PURCHASE', 'order_completed'].entries()) {
        expect((await acceptPostback(order({ orderId: `ORD-${i}`, event, clickref: 'Ref1' }), deps)).outcome).toBe('sent');
      }
      expect(deps.sender.calls).toHaveLength(3);
    });

    it('another event is ignored, with the reason and the events that count; nothing is stored or sent', async () => {
      const deps = unitDeps();
      expect(await acceptPostback(order({ event: 'page_view' }), deps)).toEqual({
        conversionRef: null,
        outcome: 'ignored',
        reason: "event 'page_view' is not a purchase event",
        purchaseEvents: ['purchase'],
      });
      expect((await acceptPostback(order({ event: 42 }), deps)).reason).toBe('event is not a string');
      expect(deps.conversions.items.size).toBe(0);
      expect(deps.metrics.get(METRICS.postbackOutcome.ignored)).toBe(2);
      expect(deps.metrics.get(METRICS.purchases)).toBe(0);
    });

    it('a native body without an event is an order; a Tealium event without a name is ignored, naming its field', async () => {
      const deps = live();
      const { event: _, ...unnamed } = order({ clickref: 'Ref1' });
      expect((await acceptPostback(unnamed, deps)).outcome).toBe('sent');
      const nameless = tealiumPurchase({ udo: { tealium_event: ' ' } });
      expect(await acceptPostback(nameless, deps)).toMatchObject({
        outcome: 'ignored',
        reason: 'the event has no name at data.udo.tealium_event',
      });
    });

    it('a body that is not a JSON object is bad input, nothing stored', async () => {
      const deps = unitDeps();
      for (const body of [null, [], 'purchase', 7]) {
        await expect(acceptPostback(body, deps)).rejects.toMatchObject({ name: 'InputError', code: 'invalid_body' });
      }
      // A list is one event per element (Segment's batching): one is taken, more are refused.
      await expect(acceptPostback([order(), order()], deps)).rejects.toMatchObject({ code: 'batch_not_supported', field: 'body' });
      expect(deps.conversions.items.size).toBe(0);
      expect(await acceptPostback([order()], deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'unattributed' });
    });
  });

  describe('orders sent with only their total', () => {
    it('become one item of quantity 1 worth the total, in the configured category', async () => {
      const deps = live({ env: { ORDER_TOTAL_CATEGORY: 'giftcards' } });
      expect((await acceptPostback(order({ items: undefined, value: '25.50', clickref: 'Ref1' }), deps)).outcome).toBe('sent');
      expect(stored(deps)).toMatchObject({ itemCount: 1, orderValue: '25.5' });
      expect(deps.sender.calls[0]!.call.url).toMatch(/\/\[category:giftcards\/value:25\.50\/quantity:1\]$/);
    });

    it('without a configured category the item has none; an empty item list counts as none', async () => {
      const deps = live();
      await acceptPostback(order({ items: [], value: 30, clickref: 'Ref1' }), deps);
      expect(deps.sender.calls[0]!.call.url).toMatch(/\/\[value:30\/quantity:1\]$/);
    });

    it('neither items nor a total is bad input naming items; nothing stored', async () => {
      const deps = unitDeps();
      const err = await acceptPostback(order({ items: undefined }), deps).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect(err).toMatchObject({ code: 'missing_field', field: 'items' });
      expect(deps.conversions.items.size).toBe(0);
    });
  });

  describe('dedupe', () => {
    it('a repeated postback is a duplicate and sends nothing', async () => {
      const deps = live();
      await click(deps);
      expect(await acceptPostback(order(), deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'sent' });
      expect(await acceptPostback(order(), deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'duplicate' });
      expect(deps.sender.calls).toHaveLength(1);
      expect(stored(deps).attempts).toHaveLength(1);
      expect(deps.metrics.get(METRICS.postbackOutcome.duplicate)).toBe(1);
      expect(deps.metrics.get(METRICS.purchases)).toBe(1);
    });

    it('our own create found again (the SDK retried it after a lost answer) is not a duplicate: the send goes ahead', async () => {
      const deps = live();
      const conversions = new (class extends MemoryConversionAdmin {
        override async create(r: ConversionRecord): Promise<CreateResult> {
          await super.create(r);
          return { created: false, existing: (await this.get(r.conversionRef))! };
        }
      })();
      expect(await acceptPostback(order({ clickref: 'Ref1' }), { ...deps, conversions })).toEqual({
        conversionRef: 'ORD-1',
        outcome: 'sent',
      });
      expect(deps.sender.calls).toHaveLength(1);
    });
  });

  describe('resuming an owed send whose sender died', () => {
    /** The first request wrote the record and died before Partnerize answered. */
    async function diedMidSend(deps: UnitDeps): Promise<void> {
      deps.sender.enqueue({ ...answer.sent(), during: () => Promise.reject(new Error('process killed')) });
      await expect(acceptPostback(order({ clickref: 'Ref1' }), deps)).rejects.toThrow('process killed');
      expect(stored(deps)).toMatchObject({ status: 'pending', leaseId: 'id-2', attemptStarted: { trigger: 'inline' } });
    }

    it('once the lease ran out, a repeated postback takes the record and sends it, answering that attempt’s outcome', async () => {
      const deps = unitDeps();
      await diedMidSend(deps);
      deps.clock.advance(deps.config.leaseMs);
      deps.sender.enqueue(answer.sent());
      expect(await acceptPostback(order({ clickref: 'Ref1' }), deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'sent' });
      const r = stored(deps);
      expect(r.status).toBe('sent');
      // The dead request's call may have landed: it is on record as interrupted (uncertain).
      expect(r.attempts.map((a) => [a.trigger, a.error ?? a.result, a.uncertain])).toEqual([
        ['inline', 'interrupted', true],
        ['resume', 'sent', undefined],
      ]);
      expect(deps.sender.calls.map((c) => c.call)).toEqual([r.request, r.request]);
    });

    it('Partnerize’s duplicate answer to the resumed send means the dead request’s call landed: sent, deliveredEarlier', async () => {
      const deps = unitDeps();
      await diedMidSend(deps);
      deps.clock.advance(deps.config.leaseMs);
      deps.sender.enqueue(answer.rejected('Duplicate conversion'));
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('sent');
      expect(stored(deps).attempts[1]).toMatchObject({ trigger: 'resume', result: 'rejected', deliveredEarlier: true });
      expect(deps.metrics.get(METRICS.deliveredEarlier)).toBe(1);
    });

    it('while the lease runs, a repeat is a duplicate and sends nothing', async () => {
      const deps = unitDeps();
      await diedMidSend(deps);
      deps.clock.advance(deps.config.leaseMs - 1);
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('duplicate');
      expect(deps.sender.calls).toHaveLength(1);
    });

    it('a dry-run process never resumes a send (nothing leaves it): a duplicate', async () => {
      const deps = unitDeps();
      await diedMidSend(deps);
      deps.clock.advance(deps.config.leaseMs);
      const dry = { ...deps, config: { ...deps.config, partnerizeMode: 'dryrun' as const } };
      expect((await acceptPostback(order({ clickref: 'Ref1' }), dry)).outcome).toBe('duplicate');
      expect(deps.sender.calls).toHaveLength(1);
      expect(stored(deps).status).toBe('pending');
    });
  });

  describe('a later postback that gets further replaces the record', () => {
    it('a dry run, then the real postback: sent, the dry run kept in the history', async () => {
      const deps = live();
      expect((await acceptPostback(order({ clickref: 'Ref1', dryRun: true }), deps)).outcome).toBe('dry_run');
      const dryRun = stored(deps);
      deps.clock.advance(1_000);
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('sent');
      expect(stored(deps)).toMatchObject({ status: 'sent', attempts: [expect.objectContaining({ trigger: 'inline' })] });
      expect(stored(deps).history).toEqual([
        {
          status: 'dry_run',
          createdAt: dryRun.createdAt,
          supersededAt: new Date(deps.clock.now()).toISOString(),
          mode: 'live',
          consent: true,
          consentPolicy: 'required',
          clickrefSource: 'postback',
          request: dryRun.request,
        },
      ]);
      expect(deps.log.messages('info')).toContain('conversion replaced');
    });

    it('no consent, then consent: sent, the refusal kept in the history', async () => {
      const deps = live();
      await click(deps);
      expect((await acceptPostback(order({ consent: false }), deps)).outcome).toBe('no_consent');
      expect((await acceptPostback(order(), deps)).outcome).toBe('sent');
      expect(stored(deps).history).toEqual([expect.objectContaining({ status: 'no_consent', consent: false, clickrefSource: 'none' })]);
    });

    it('unattributed, then with a clickref: sent; a chain of replacements keeps every step', async () => {
      const deps = live();
      expect((await acceptPostback(order({ consent: false }), deps)).outcome).toBe('no_consent');
      expect((await acceptPostback(order(), deps)).outcome).toBe('unattributed');
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('sent');
      expect(stored(deps).history!.map((h) => h.status)).toEqual(['no_consent', 'unattributed']);
    });

    it('not by an equal or a lower one: a duplicate, the record unchanged', async () => {
      const deps = unitDeps();
      expect((await acceptPostback(order(), deps)).outcome).toBe('unattributed');
      const before = stored(deps);
      for (const body of [order(), order({ consent: false })]) {
        expect((await acceptPostback(body, deps)).outcome).toBe('duplicate');
      }
      expect(stored(deps)).toEqual(before);
      expect(deps.sender.calls).toHaveLength(0);
    });

    it('a dry run testing the fixed data layer replaces a held-back record (never a sent one, never another dry run); the real one is sent after it', async () => {
      const deps = live();
      expect((await acceptPostback(order({ consent: false }), deps)).outcome).toBe('no_consent');
      expect((await acceptPostback(order({ clickref: 'Ref1', dryRun: true }), deps)).outcome).toBe('dry_run');
      expect((await acceptPostback(order({ clickref: 'Ref1', dryRun: true }), deps)).outcome).toBe('duplicate');
      expect(deps.sender.calls).toHaveLength(0);
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('sent');
      expect(stored(deps).history!.map((h) => h.status)).toEqual(['no_consent', 'dry_run']);
      expect((await acceptPostback(order({ clickref: 'Ref1', dryRun: true }), deps)).outcome).toBe('duplicate');
      expect(deps.sender.calls).toHaveLength(1);
      // A dry-run deployment: the corrected postback shows the call it would send.
      const dry = unitDeps({ env: { PARTNERIZE_MODE: 'dryrun' } });
      await acceptPostback(order(), dry);
      expect((await acceptPostback(order({ clickref: 'Ref1' }), dry)).outcome).toBe('dry_run');
      expect((await acceptPostback(order({ clickref: 'Ref1' }), dry)).outcome).toBe('duplicate');
    });

    it('not while someone holds the record (an operator’s replay in flight)', async () => {
      const deps = unitDeps();
      await acceptPostback(order(), deps);
      const now = deps.clock.now();
      await deps.conversions.takeLease('ORD-1', now, now + deps.config.leaseMs, 'operator', 'replay');
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('duplicate');
      expect(deps.sender.calls).toHaveLength(0);
      expect(stored(deps).status).toBe('unattributed');
    });

    it('when a concurrent postback replaced the record first, what is there now decides: a duplicate', async () => {
      const deps = live();
      await acceptPostback(order(), deps);
      const conversions = new (class extends MemoryConversionAdmin {
        override async replace(r: ConversionRecord, existing: Pick<ConversionRecord, 'writeId' | 'status'>): Promise<boolean> {
          const current = this.items.get(r.conversionRef)!;
          this.items.set(r.conversionRef, { ...current, writeId: 'concurrent', status: 'sent' });
          return super.replace(r, existing);
        }
      })();
      conversions.items.set('ORD-1', stored(deps));
      expect(await acceptPostback(order({ clickref: 'Ref1' }), { ...deps, conversions })).toEqual({
        conversionRef: 'ORD-1',
        outcome: 'duplicate',
      });
      expect(deps.sender.calls).toHaveLength(0);
    });
  });

  describe('consent', () => {
    it('policy required: sent only on an explicit opt-in; without one, nothing is looked up and the order is kept as a call spec', async () => {
      const deps = live();
      await click(deps);
      let lookups = 0;
      const get = deps.clicks.get.bind(deps.clicks);
      deps.clicks.get = (id) => {
        lookups++;
        return get(id);
      };
      expect((await acceptPostback(order({ orderId: 'A', consent: undefined }), deps)).outcome).toBe('no_consent');
      expect((await acceptPostback(order({ orderId: 'B', consent: false }), deps)).outcome).toBe('no_consent');
      expect(lookups).toBe(0);
      expect((await acceptPostback(order({ orderId: 'C', consent: true }), deps)).outcome).toBe('sent');
      const refused = stored(deps, 'A');
      expect(refused).toMatchObject({
        status: 'no_consent',
        consentPolicy: 'required',
        clickrefSource: 'none',
        call: { conversionRef: 'A', campaignId: CAMPAIGN },
      });
      expect(refused.request).toBeUndefined();
      expect(refused.clickref).toBeUndefined();
      expect(refused.dueAt).toBeUndefined();
    });

    it('policy assumed: sent unless explicitly opted out', async () => {
      const deps = live({ env: { CONSENT_POLICY: 'assumed' } });
      await click(deps);
      expect((await acceptPostback(order({ orderId: 'A', consent: undefined }), deps)).outcome).toBe('sent');
      expect((await acceptPostback(order({ orderId: 'B', consent: false }), deps)).outcome).toBe('no_consent');
      expect(stored(deps, 'A').consentPolicy).toBe('assumed');
    });

    it('a Tealium event consents when its consent categories hold a configured one', async () => {
      const deps = live({ env: { CONSENT_CATEGORIES: 'affiliates,marketing' } });
      const withCategory = tealiumPurchase({ udo: { order_id: 'T-1', consent_categories: 'analytics, Marketing' } });
      const without = tealiumPurchase({ udo: { order_id: 'T-2', consent_categories: ['analytics'] } });
      deps.clicks.items.set(withCategory.data.udo.tealium_visitor_id, {
        sessionId: withCategory.data.udo.tealium_visitor_id,
        clickref: 'Teal1',
        clickedAt: deps.clock.now(),
        expiresAt: deps.clock.now() / 1000 + 86_400,
      });
      expect(await acceptPostback(withCategory, deps)).toEqual({ conversionRef: 'T-1', outcome: 'sent' });
      expect(await acceptPostback(without, deps)).toEqual({ conversionRef: 'T-2', outcome: 'no_consent' });
      expect(stored(deps, 'T-1')).toMatchObject({ source: 'tealium', clickref: 'Teal1', clickrefSource: 'click' });
    });
  });

  describe('attribution', () => {
    it("the session's latest live click: its clickref, exactly, with its time and device", async () => {
      const deps = live();
      await click(deps, 'aBcDeF_-09', 3_600_000);
      expect((await acceptPostback(order(), deps)).outcome).toBe('sent');
      expect(stored(deps)).toMatchObject({
        clickref: 'aBcDeF_-09',
        clickrefSource: 'click',
        clickedAt: new Date(deps.clock.now() - 3_600_000).toISOString(),
        device: 'mobile',
      });
      expect(deps.sender.calls[0]!.call.url).toContain('/clickref:aBcDeF_-09/');
    });

    it("the order's own clickref wins over the session's click", async () => {
      const deps = live();
      await click(deps, 'FromClick');
      await acceptPostback(order({ clickref: 'FromBrand' }), deps);
      expect(stored(deps)).toMatchObject({ clickref: 'FromBrand', clickrefSource: 'postback' });
    });

    it('a click older than the attribution window is ignored: unattributed, kept as a call spec, never sent blank', async () => {
      const deps = unitDeps({ env: { ATTRIBUTION_WINDOW_DAYS: '7' } });
      await click(deps, 'Stale', 7 * DAY_MS);
      expect(await acceptPostback(order(), deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'unattributed' });
      expect(stored(deps)).toMatchObject({
        status: 'unattributed',
        clickrefSource: 'none',
        call: { conversionRef: 'ORD-1', baseUrl: BASE_URL },
      });
      expect(stored(deps).request).toBeUndefined();
      expect(deps.sender.calls).toHaveLength(0);
      expect(deps.metrics.get(METRICS.purchases)).toBe(1);
    });

    it('inside the window the click counts', async () => {
      const deps = live({ env: { ATTRIBUTION_WINDOW_DAYS: '7' } });
      await click(deps, 'Fresh', 7 * DAY_MS - 1);
      expect((await acceptPostback(order(), deps)).outcome).toBe('sent');
    });

    it('no session at all: unattributed', async () => {
      const deps = unitDeps();
      expect((await acceptPostback(order({ sessionId: undefined }), deps)).outcome).toBe('unattributed');
    });
  });

  describe('condensed baskets', () => {
    const items = (n: number, distinct: boolean) =>
      Array.from({ length: n }, (_, i) => ({
        sku: distinct ? `SKU-${String(i).padStart(6, '0')}-LONGER-NAME` : 'SKU-1',
        category: i % 2 ? 'shoes' : 'socks',
        value: '1.50',
        quantity: 1,
      }));

    it('a basket too long for one call is sent condensed; the record keeps the order as received (compaction and call)', async () => {
      const deps = live();
      expect((await acceptPostback(order({ clickref: 'Ref1', items: items(300, true) }), deps)).outcome).toBe('sent');
      const r = stored(deps);
      expect(r).toMatchObject({ compaction: 'category', itemCount: 300, orderValue: '450' });
      expect(r.call!.items).toHaveLength(300);
      expect(r.request!.url.length).toBeLessThanOrEqual(8000);
      expect(r.request!.url).toMatch(/\/\[category:socks\/value:225\/quantity:1\]\/\[category:shoes\/value:225\/quantity:1\]$/);
      expect(deps.metrics.get(METRICS.basketsCondensed)).toBe(1);
      expect(deps.log.messages('info')).toContain('basket condensed to fit the call');
    });

    it('identical lines are merged first (nothing lost)', async () => {
      const deps = live();
      await acceptPostback(order({ clickref: 'Ref1', items: items(400, false).map((i) => ({ ...i, category: 'shoes' })) }), deps);
      expect(stored(deps).compaction).toBe('lines');
      expect(stored(deps).request!.url).toMatch(/\/\[category:shoes\/sku:SKU-1\/value:1\.50\/quantity:400\]$/);
    });

    it('a basket that fits is sent as received, with no call spec beside the request', async () => {
      const deps = live();
      await acceptPostback(order({ clickref: 'Ref1', items: items(3, true) }), deps);
      expect(stored(deps).compaction).toBeUndefined();
      expect(stored(deps).call).toBeUndefined();
      expect(deps.metrics.get(METRICS.basketsCondensed)).toBe(0);
    });
  });

  describe('the inline attempt', () => {
    it('gets the configured timeout when the postback is quick', async () => {
      const deps = live({ env: { INLINE_TIMEOUT_MS: '2000' } });
      await acceptPostback(order({ clickref: 'Ref1' }), deps);
      expect(deps.sender.calls[0]!.timeoutMs).toBe(2_000);
    });

    it('gets only what is left of the answer budget after slow reads', async () => {
      for (const [readMs, timeoutMs] of [
        [0, 3_500],
        [1_000, 3_000],
        [3_600, 400],
        [3_750, 250],
      ] as const) {
        const deps = live();
        await click(deps);
        const get = deps.clicks.get.bind(deps.clicks);
        deps.clicks.get = async (id) => {
          deps.clock.advance(readMs);
          return get(id);
        };
        await acceptPostback(order(), deps);
        expect(deps.sender.calls[0]!.timeoutMs, `after ${readMs} ms of reads`).toBe(timeoutMs);
      }
    });

    it('below the minimum no attempt is made: owed at once for the retry function (an attempt cut that short may double)', async () => {
      for (const elapsedMs of [3_800, 6_000]) {
        const deps = live();
        expect((await acceptPostback(order({ clickref: 'Ref1' }), deps, { elapsedMs })).outcome).toBe('queued');
        expect(deps.sender.calls).toHaveLength(0);
        expect(stored(deps)).toMatchObject({ status: 'queued', dueShard: 'owed', dueAt: deps.clock.now(), attempts: [] });
        expect(stored(deps).leaseId).toBeUndefined();
      }
    });

    it('counts the time the request took before the order was read (the token check) against the budget', async () => {
      const deps = live();
      await acceptPostback(order({ clickref: 'Ref1' }), deps, { elapsedMs: 2_000 });
      expect(deps.sender.calls[0]!.timeoutMs).toBe(2_000);
    });

    it('a retryable answer: queued, due after the first delay of the schedule', async () => {
      const deps = unitDeps({ script: [answer.status(503, { latencyMs: 40 })] });
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('queued');
      expect(stored(deps)).toMatchObject({
        status: 'queued',
        retries: 1,
        dueAt: deps.clock.now() + 60_000,
        attempts: [expect.objectContaining({ trigger: 'inline', status: 503 })],
      });
      expect(stored(deps).leaseId).toBeUndefined();
    });

    it('no answer in time: queued, the attempt marked uncertain', async () => {
      const deps = unitDeps({ script: [answer.noAnswer('timeout', 3_500)] });
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('queued');
      expect(stored(deps).attempts[0]).toMatchObject({ error: 'timeout', uncertain: true });
    });

    it('a non-retryable 4xx: rejected, kept, not retried', async () => {
      const deps = unitDeps({ script: [answer.rejected('unknown campaign', 404)] });
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('rejected');
      expect(stored(deps)).toMatchObject({
        status: 'rejected',
        attempts: [expect.objectContaining({ status: 404, body: 'unknown campaign' })],
      });
      expect(stored(deps).dueAt).toBeUndefined();
    });

    it('a store failure while recording the attempt still answers the send’s outcome; the record stays owed', async () => {
      const deps = live();
      deps.conversions.finishAttempt = () => Promise.reject(new Error('ServiceUnavailable'));
      expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('sent');
      expect(stored(deps)).toMatchObject({ status: 'pending', dueAt: deps.clock.now() + deps.config.leaseMs });
      expect(deps.log.messages('error')).toEqual([
        'could not record the attempt; the record stays owed and the retry function will send it again',
      ]);
    });
  });

  describe('dry runs', () => {
    it('dry-run mode records the exact call and never calls Partnerize', async () => {
      const deps = unitDeps({ env: { PARTNERIZE_MODE: 'dryrun' } });
      await click(deps);
      expect(await acceptPostback(order(), deps)).toEqual({ conversionRef: 'ORD-1', outcome: 'dry_run' });
      expect(stored(deps)).toMatchObject({ status: 'dry_run', mode: 'dryrun', clickref: 'FromClick', request: { method: 'GET' } });
      expect(stored(deps).dueAt).toBeUndefined();
      expect(deps.sender.calls).toHaveLength(0);
      expect(deps.metrics.get(METRICS.postbackOutcome.dry_run)).toBe(1);
    });

    it('"dryRun": true makes one postback of a live tracker a dry run', async () => {
      const deps = unitDeps();
      expect((await acceptPostback(order({ clickref: 'Ref1', dryRun: true }), deps)).outcome).toBe('dry_run');
      expect(stored(deps).mode).toBe('live');
      expect(deps.sender.calls).toHaveLength(0);
    });
  });

  describe('the record', () => {
    it('carries the conversionRef prefix, the order time (never in the future) and a retention TTL', async () => {
      const deps = live({ env: { CONVERSION_REF_PREFIX: 'TEST-', CONVERSION_RETENTION_DAYS: '30' } });
      const now = deps.clock.now();
      expect(await acceptPostback(order({ clickref: 'Ref1', orderTime: '2030-01-01T00:00:00Z' }), deps)).toEqual({
        conversionRef: 'TEST-ORD-1',
        outcome: 'sent',
      });
      expect(stored(deps, 'TEST-ORD-1')).toMatchObject({
        orderId: 'ORD-1',
        orderTime: now,
        expiresAt: Math.ceil((now + 30 * DAY_MS) / 1000),
      });
      expect(deps.sender.calls[0]!.call.url).toContain('/conversionref:TEST-ORD-1/');
      expect(deps.sender.calls[0]!.call.url).toContain('/conversion_time:2026-11-24%2010%3A00%3A00/');
    });

    it('logs no clickref and no session id', async () => {
      const deps = unitDeps({ script: [answer.status(500)] });
      await click(deps, 'Secret1');
      await acceptPostback(order(), deps);
      await acceptPostback(order(), deps);
      const logged = JSON.stringify(deps.log.lines);
      expect(logged).not.toContain('Secret1');
      expect(logged).not.toContain(SESSION);
    });
  });

  it('counts an order once as a purchase when a later postback replaces its unattributed record', async () => {
    const deps = live();
    await acceptPostback(order(), deps);
    expect(deps.metrics.get(METRICS.purchases)).toBe(1);
    expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('sent');
    expect(deps.metrics.get(METRICS.purchases)).toBe(1);
  });

  it('counts purchases for outcomes that could be attributed, not for duplicates, refusals or other events', async () => {
    const deps = unitDeps({ otherwise: answer.sent() });
    const outcomes: string[] = [];
    for (const body of [
      order({ orderId: 'A', clickref: 'R' }),
      order({ orderId: 'A', clickref: 'R' }),
      order({ orderId: 'B' }),
      order({ orderId: 'C', consent: false }),
      order({ orderId: 'D', clickref: 'R', dryRun: true }),
      order({ event: 'view' }),
    ]) {
      outcomes.push((await acceptPostback(body, deps)).outcome);
    }
    expect(outcomes).toEqual(['sent', 'duplicate', 'unattributed', 'no_consent', 'dry_run', 'ignored']);
    expect(deps.metrics.get(METRICS.purchases)).toBe(3);
  });
});

describe('acceptPostback when the answer to a replacement is lost', () => {
  it('recognises its own replacement retried by the SDK, and sends at once (not a duplicate)', async () => {
    const deps = live();
    expect((await acceptPostback(order(), deps)).outcome).toBe('unattributed');
    const replace = deps.conversions.replace.bind(deps.conversions);
    // The write lands, its answer is lost, the SDK retries and the condition no longer holds.
    deps.conversions.replace = async (...args) => {
      await replace(...args);
      return false;
    };
    expect((await acceptPostback(order({ clickref: 'Ref1' }), deps)).outcome).toBe('sent');
    expect(deps.sender.calls).toHaveLength(1);
  });
});

describe('replaces', () => {
  const RANKED: ConversionStatus[] = ['dry_run', 'no_consent', 'unattributed', 'pending'];
  const FINAL: ConversionStatus[] = ['sent', 'queued', 'rejected', 'failed', 'unconfirmed'];

  it('only by a record that gets further (a dry run: only a record held back for consent or a clickref), never an owed or final record', () => {
    for (const before of [...RANKED, ...FINAL]) {
      for (const after of [...RANKED, ...FINAL]) {
        // A new record owed at once (`queued`: no time left for an inline attempt) ranks as `pending`.
        const rank = (st: ConversionStatus) => (st === 'queued' ? RANKED.indexOf('pending') : RANKED.indexOf(st));
        const expected =
          after === 'dry_run'
            ? before === 'no_consent' || before === 'unattributed'
            : RANKED.includes(before) && before !== 'pending' && rank(after) >= 0 && rank(after) > rank(before);
        expect(replaces({ status: after }, { status: before }), `${before} → ${after}`).toBe(expected);
      }
    }
  });

  it('never a record someone holds', () => {
    expect(replaces({ status: 'pending' }, { status: 'unattributed' })).toBe(true);
    expect(replaces({ status: 'pending' }, { status: 'unattributed', leaseId: 'operator' })).toBe(false);
  });
});
