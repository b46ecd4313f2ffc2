/**
 * The reconciliation's use cases (core/reconcile-run.ts, core/reconcile-fix.ts) on in-memory stores
 * and a scripted report API, with a fake clock: nothing sleeps, nothing opens a socket. The parsers
 * of operator input (`--grace`, `--from`/`--to`, the daily event) are property-tested.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '#lambdas/core/errors.js';
import type { ApiOutcome, PartnerizeApi, ReportConversion, ReportPage, ReportQuery } from '#lambdas/core/model.js';
import { formatConversionTime } from '#lambdas/core/partnerize-url.js';
import { applyFix, fixPlanOf } from '#lambdas/core/reconcile-fix.js';
import {
  campaignTargets,
  dailyReconciliation,
  dailyWindowOf,
  parseDuration,
  parseWindow,
  readReport,
  ReconcileError,
  reconcileCampaign,
  selectCampaigns,
} from '#lambdas/core/reconcile-run.js';
import { RECONCILE_METRICS } from '#lambdas/core/metrics.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, iso } from '#lambdas/core/time.js';
import { MemoryReconciliation } from '../../support/memory-stores.js';
import { answer } from '../../support/scripted-sender.js';
import { CAMPAIGN, conversionRecord, unitConfig, unitDeps } from '../../support/unit-deps.js';

const NOW = Date.UTC(2026, 10, 24, 10, 0, 0);

/* ---------- parsers ---------- */

describe('parseDuration (--grace)', () => {
  const units = { s: SECOND_MS, m: MINUTE_MS, h: HOUR_MS, d: DAY_MS } as const;

  it('reads a whole or decimal number of s, m, h or d, in either case', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.constantFrom('s', 'm', 'h', 'd', 'S', 'M', 'H', 'D'), (n, u) => {
        expect(parseDuration(`${n}${u}`, 'grace')).toBe(n * units[u.toLowerCase() as keyof typeof units]);
        expect(parseDuration(` ${n} ${u} `, 'grace')).toBe(n * units[u.toLowerCase() as keyof typeof units]);
      }),
    );
    expect(parseDuration('1.5h', 'grace')).toBe(90 * MINUTE_MS);
    expect(parseDuration('0', 'grace')).toBe(0);
  });

  it('refuses anything else, naming the option', () => {
    fc.assert(
      fc.property(
        fc.string().filter((t) => !/^\s*(\d+(\.\d+)?\s*[smhd]?)\s*$/i.test(t)),
        (t) => {
          expect(() => parseDuration(t, 'grace')).toThrow(InputError);
          try {
            parseDuration(t, 'grace');
          } catch (err) {
            expect((err as InputError).field).toBe('grace');
            expect((err as Error).message).toMatch(/^--grace must be a duration/);
          }
        },
      ),
    );
    // A bare number other than 0 has no unit: seconds or hours? Refused rather than guessed.
    expect(() => parseDuration('6', 'grace')).toThrow(/--grace must be a duration/);
  });
});

describe('parseWindow (--from, --to)', () => {
  const day = fc
    .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2026-11-20T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10));

  it('a date is its whole UTC day; --to includes its day', () => {
    fc.assert(
      fc.property(day, day, (a, b) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        const w = parseWindow(from, to, NOW);
        expect(w.from).toBe(Date.parse(`${from}T00:00:00Z`));
        expect(w.to).toBe(Date.parse(`${to}T00:00:00Z`) + DAY_MS);
      }),
    );
  });

  it('an ISO time is exact (UTC when it has no offset)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2024, 0, 1), max: NOW - HOUR_MS }),
        fc.integer({ min: 1, max: 10 * DAY_MS }),
        (from, length) => {
          const w = parseWindow(iso(from), new Date(from + length).toISOString().replace('Z', '+00:00'), NOW);
          expect(w).toEqual({ from, to: from + length });
          expect(parseWindow(iso(from).replace('Z', ''), iso(from + length), NOW).from).toBe(from);
        },
      ),
    );
  });

  it('refuses a missing, unreadable, empty or future window, naming the option', () => {
    const field = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as InputError).field;
      }
      return 'no error';
    };
    expect(field(() => parseWindow(undefined, '2026-11-01', NOW))).toBe('from');
    expect(field(() => parseWindow('2026-11-01', undefined, NOW))).toBe('to');
    expect(field(() => parseWindow('yesterday', '2026-11-01', NOW))).toBe('from');
    expect(field(() => parseWindow('2026-11-01', '2026-13-45', NOW))).toBe('to');
    expect(field(() => parseWindow('2026-11-02', '2026-11-01', NOW))).toBe('to');
    expect(field(() => parseWindow('2026-12-01', '2026-12-02', NOW))).toBe('from');
    fc.assert(
      fc.property(
        fc.string().filter((t) => !/^\d{4}-\d{2}-\d{2}/.test(t.trim())),
        (t) => {
          expect(field(() => parseWindow(t, '2026-11-01', NOW))).toBe('from');
        },
      ),
    );
  });
});

describe('dailyWindowOf (the scheduled run’s event)', () => {
  it('reconciles the previous whole UTC day(s) with the default grace', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 0, 1) }), fc.integer({ min: 1, max: 31 }), (now, days) => {
        const today = Math.floor(now / DAY_MS) * DAY_MS;
        expect(dailyWindowOf({ lookbackDays: days }, now)).toEqual({ from: today - days * DAY_MS, to: today, graceMs: 6 * HOUR_MS });
      }),
    );
    expect(dailyWindowOf(undefined, NOW).from).toBe(Date.UTC(2026, 10, 23));
  });

  it('takes an explicit window and grace, and names a bad field', () => {
    expect(dailyWindowOf({ from: '2026-11-01T00:00:00Z', to: '2026-11-02T00:00:00Z', graceHours: 0 }, NOW)).toEqual({
      from: Date.UTC(2026, 10, 1),
      to: Date.UTC(2026, 10, 2),
      graceMs: 0,
    });
    for (const [event, field] of [
      [{ lookbackDays: 0 }, 'lookbackDays'],
      [{ lookbackDays: 1.5 }, 'lookbackDays'],
      [{ graceHours: -1 }, 'graceHours'],
      [{ from: 'x', to: '2026-11-02T00:00:00Z' }, 'from'],
      [{ from: '2026-11-02T00:00:00Z', to: '2026-11-01T00:00:00Z' }, 'to'],
    ] as const)
      expect(() => dailyWindowOf(event, NOW)).toThrow(expect.objectContaining({ field }));
  });
});

/* ---------- reading the report ---------- */

const conversion = (ref: string, time = NOW - DAY_MS / 2, value = 10): ReportConversion => ({
  conversionId: `c-${ref}`,
  conversionReference: ref,
  status: 'pending',
  conversionTime: formatConversionTime(time),
  currency: 'GBP',
  value,
  // conversionRecord's call has one line without a SKU or category: so has Partnerize's conversion.
  items: [{ id: `i-${ref}`, value, status: 'pending' }],
});

type Answer = ApiOutcome<ReportPage>;
const page = (conversions: ReportConversion[], next?: string, rateLimit?: ReportPage['rateLimit']): Answer => ({
  ok: true,
  status: 200,
  latencyMs: 1,
  value: { conversions, next, offset: 0, rateLimit },
});
const failure = (status: number, retryAfterS?: number): Answer => ({
  ok: false,
  result: status === 429 || status >= 500 ? 'retryable' : 'rejected',
  status,
  retryAfterS,
  message: `HTTP ${status}`,
  latencyMs: 1,
});

/** The report API answering from a script; each query kept. */
function scriptedApi(answers: Answer[] | ((campaignId: string, q: ReportQuery) => Answer)) {
  const queries: Array<{ campaignId: string; q: ReportQuery }> = [];
  const api: PartnerizeApi = {
    hasCredentials: async () => true,
    bulkUpdate: async () => {
      throw new Error('not in a reconciliation');
    },
    job: async () => {
      throw new Error('not in a reconciliation');
    },
    tasks: async () => {
      throw new Error('not in a reconciliation');
    },
    conversions: async (campaignId, q) => {
      queries.push({ campaignId, q });
      if (typeof answers === 'function') return answers(campaignId, q);
      const a = answers.shift();
      if (!a) throw new Error('scripted report: no answer left');
      return a;
    },
  };
  return { api, queries };
}

/** A clock that sleeping moves: waits are recorded, never slept. */
function fakeTime(start = NOW) {
  const waits: number[] = [];
  let t = start;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      waits.push(ms);
      t += ms;
    },
    waits,
  };
}

describe('readReport', () => {
  it('follows the pages as linked, keeping each conversion once', async () => {
    const { api, queries } = scriptedApi([
      page([conversion('A'), conversion('B')], '/p2'),
      page([conversion('B'), conversion('C')], '/p3'),
      page([conversion('D')]),
    ]);
    const time = fakeTime();
    const seen: number[] = [];
    const r = await readReport({ api, ...time }, { campaignId: CAMPAIGN, from: 0, to: 1, onPage: (p) => seen.push(p.conversions) });
    expect(r.conversions.map((c) => c.conversionReference).sort()).toEqual(['A', 'B', 'C', 'D']);
    expect(r.pages).toBe(3);
    expect(queries.map((q) => q.q.next)).toEqual([undefined, '/p2', '/p3']);
    expect(seen).toEqual([2, 3, 4]);
    expect(time.waits).toEqual([]);
  });

  it('waits out a 429 as long as Partnerize says (X-RateLimit-Retry-After), then goes on', async () => {
    const { api, queries } = scriptedApi([page([conversion('A')], '/p2'), failure(429, 17), failure(429), page([conversion('B')])]);
    const time = fakeTime();
    const r = await readReport({ api, ...time }, { campaignId: CAMPAIGN, from: 0, to: 1 });
    expect(r.conversions).toHaveLength(2);
    // The second 429 gave no advice: 5 s.
    expect(time.waits).toEqual([17_000, 5_000]);
    expect(r.waitedMs).toBe(22_000);
    expect(queries.map((q) => q.q.next)).toEqual([undefined, '/p2', '/p2', '/p2']);
  });

  it('a page that spends the last token (X-RateLimit-Remaining: 0) waits for the reset before the next', async () => {
    const { api } = scriptedApi([
      page([conversion('A')], '/p2', { remaining: 0, resetS: 42 }),
      page([conversion('B')], undefined, { remaining: 0, resetS: 42 }),
    ]);
    const time = fakeTime();
    await readReport({ api, ...time }, { campaignId: CAMPAIGN, from: 0, to: 1 });
    // Not after the last page: nothing follows it.
    expect(time.waits).toEqual([42_000]);
  });

  it('tries a 5xx or a timeout again after a growing backoff, and gives up after 5 in a row', async () => {
    const { api } = scriptedApi([failure(503), failure(500), page([conversion('A')])]);
    const time = fakeTime();
    expect((await readReport({ api, ...time }, { campaignId: CAMPAIGN, from: 0, to: 1 })).conversions).toHaveLength(1);
    expect(time.waits).toEqual([2_000, 4_000]);

    const down = scriptedApi(() => failure(503));
    await expect(readReport({ api: down.api, ...fakeTime() }, { campaignId: CAMPAIGN, from: 0, to: 1 })).rejects.toThrow(
      /could not be read \(HTTP 503.*6 tries\)/,
    );
    expect(down.queries).toHaveLength(6);
  });

  it('keys refused (401, 403) end the read at once, saying so', async () => {
    for (const status of [401, 403]) {
      const { api, queries } = scriptedApi(() => failure(status));
      const err = await readReport({ api, ...fakeTime() }, { campaignId: CAMPAIGN, from: 0, to: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReconcileError);
      expect((err as ReconcileError).auth).toBe(true);
      expect((err as Error).message).toMatch(/refused the API keys/);
      expect(queries).toHaveLength(1);
    }
    const other = scriptedApi(() => failure(404));
    await expect(readReport({ api: other.api, ...fakeTime() }, { campaignId: CAMPAIGN, from: 0, to: 1 })).rejects.toThrow(
      /could not be read \(HTTP 404/,
    );
  });

  it('gives up rather than wait past its deadline', async () => {
    const { api } = scriptedApi([failure(429, 600)]);
    const time = fakeTime();
    await expect(readReport({ api, ...time }, { campaignId: CAMPAIGN, from: 0, to: 1, deadline: NOW + 60_000 })).rejects.toThrow(
      /out of time/,
    );
    expect(time.waits).toEqual([]);
  });

  it('a 429 that never ends is not waited out forever', async () => {
    const { api, queries } = scriptedApi(() => failure(429, 1));
    await expect(readReport({ api, ...fakeTime() }, { campaignId: CAMPAIGN, from: 0, to: 1 })).rejects.toThrow(/kept answering 429/);
    expect(queries.length).toBe(61);
  });
});

/* ---------- a campaign, the daily run, the fix ---------- */

const sentRecord = (ref: string, over: Parameters<typeof conversionRecord>[0] | object = {}) =>
  conversionRecord({
    conversionRef: ref,
    status: 'sent',
    campaignId: CAMPAIGN,
    orderTime: NOW - DAY_MS / 2,
    dueShard: undefined,
    dueAt: undefined,
    attempts: [{ at: iso(NOW - DAY_MS / 2), trigger: 'inline', result: 'sent', status: 200, body: 'OK', latencyMs: 5 }],
    ...over,
  });

function world(env: Record<string, string> = {}) {
  const deps = unitDeps({ env, otherwise: answer.sent() });
  deps.clock.t = NOW;
  const store = new MemoryReconciliation(deps.conversions, deps.updates);
  return { deps, store };
}

describe('reconcileCampaign', () => {
  it('compares one campaign: the other campaign’s records and report are not read', async () => {
    const { deps, store } = world({
      CAMPAIGNS: JSON.stringify([{ name: 'de', campaignId: '1011l999', conversionRefPrefix: 'DE-', match: { country: ['DE'] } }]),
    });
    for (const r of [sentRecord('A'), sentRecord('B'), sentRecord('DE-C', { campaignId: '1011l999' })])
      deps.conversions.items.set(r.conversionRef, r);
    const { api, queries } = scriptedApi((campaignId) => page(campaignId === CAMPAIGN ? [conversion('A')] : [conversion('DE-C')]));
    const targets = campaignTargets(deps.config);
    expect(targets.map((t) => [t.campaignId, t.prefixes])).toEqual([
      [CAMPAIGN, ['']],
      ['1011l999', ['DE-']],
    ]);
    const time = fakeTime();
    const window = { from: NOW - DAY_MS, to: NOW };
    const mine = await reconcileCampaign(
      { store, api, ...time },
      { campaign: selectCampaigns(targets, CAMPAIGN)[0]!, window, graceMs: HOUR_MS },
    );
    expect(mine.rows.map((r) => `${r.conversionRef}:${r.class}`)).toEqual(['B:missing']);
    const theirs = await reconcileCampaign(
      { store, api, ...time },
      { campaign: selectCampaigns(targets, 'de')[0]!, window, graceMs: HOUR_MS },
    );
    expect(theirs.rows).toEqual([]);
    expect(queries.map((q) => q.campaignId)).toEqual([CAMPAIGN, '1011l999']);
    // The report is read an hour wider than the window on each side.
    expect(queries[0]!.q).toMatchObject({ from: window.from - HOUR_MS, to: window.to + HOUR_MS });
    expect(() => selectCampaigns(targets, 'nope')).toThrow(/not a campaign of this deployment \(1011l270 \(default\), 1011l999 \(de\)\)/);
  });
});

describe('dailyReconciliation', () => {
  it('keeps a record per campaign and emits a metric per class and the two shares', async () => {
    const { deps, store } = world();
    for (const r of [sentRecord('A'), sentRecord('B'), sentRecord('C'), sentRecord('D')]) deps.conversions.items.set(r.conversionRef, r);
    const { api } = scriptedApi(() => page([conversion('A'), conversion('B'), conversion('C'), conversion('X')]));
    const report = await dailyReconciliation(
      { store, api, ...fakeTime(), config: deps.config, metrics: deps.metrics, log: deps.log },
      { lookbackDays: 1 },
    );
    expect(report.campaigns).toEqual([
      { campaignId: CAMPAIGN, differs: true, counts: { missing: 1, unexpected: 1, value: 0, items: 0, status: 0 } },
    ]);
    const m = RECONCILE_METRICS;
    expect(
      [m.missing, m.unexpected, m.checked, m.held, m.missingShare, m.unexpectedShare, m.failed].map((k) => deps.metrics.get(k)),
    ).toEqual([1, 1, 4, 4, 25, 25, 0]);
    const run = [...store.runs.values()][0]!;
    expect(run.rows.map((r) => `${r.conversionRef}:${r.class}`)).toEqual(['D:missing', 'X:unexpected']);
    expect(run.summary.missing.count).toBe(1);
  });

  it('is skipped in a dry run and without keys, and fails (after keeping the run) when the report cannot be read', async () => {
    const dry = world({ PARTNERIZE_MODE: 'dryrun' });
    const { api } = scriptedApi(() => failure(401));
    const daily = (w: ReturnType<typeof world>, a: PartnerizeApi) =>
      dailyReconciliation(
        { store: w.store, api: a, ...fakeTime(), config: w.deps.config, metrics: w.deps.metrics, log: w.deps.log },
        undefined,
      );
    expect((await daily(dry, api)).skipped).toBe('dry_run');
    const noKeys = world();
    expect((await daily(noKeys, { ...api, hasCredentials: async () => false })).skipped).toBe('no_keys');
    const refused = world();
    await expect(daily(refused, api)).rejects.toThrow(/refused the API keys/);
    expect([...refused.store.runs.values()][0]!.error).toMatch(/refused the API keys/);
    expect(refused.deps.metrics.get(RECONCILE_METRICS.failed)).toBe(1);
  });
});

describe('--fix', () => {
  it('re-sends only the missing conversions, and re-queues the updates Partnerize did not apply', async () => {
    const { deps, store } = world();
    for (const r of [sentRecord('HELD'), sentRecord('MISSING'), sentRecord('CANCELLED'), sentRecord('VALUE')])
      deps.conversions.items.set(r.conversionRef, r);
    deps.updates.items.set('CANCELLED\u001fupdates', {
      conversionRef: 'CANCELLED\u001fupdates',
      recordType: 'order_updates',
      ref: 'CANCELLED',
      orderId: 'CANCELLED',
      campaignId: CAMPAIGN,
      createdAt: iso(NOW - DAY_MS),
      updatedAt: iso(NOW - DAY_MS),
      version: 3,
      entries: {
        u1: {
          id: 'u1',
          seq: 1,
          kind: 'cancel',
          source: 'native',
          acceptedAt: iso(NOW - DAY_MS),
          updatedAt: iso(NOW - DAY_MS),
          state: 'applied',
          retries: 0,
          sent: { form: 'conversion_references', campaignId: CAMPAIGN, effect: 'reject', updates: { CANCELLED: { status: 'rejected' } } },
        },
      },
      expiresAt: 0,
    });
    const { api } = scriptedApi(() =>
      page([conversion('HELD'), conversion('CANCELLED'), conversion('VALUE', NOW - DAY_MS / 2, 99), conversion('LEGACY')]),
    );
    const r = await reconcileCampaign(
      { store, api, ...fakeTime() },
      { campaign: campaignTargets(deps.config)[0]!, window: { from: NOW - DAY_MS, to: NOW }, graceMs: HOUR_MS },
    );
    expect(r.rows.map((d) => `${d.conversionRef}:${d.class}`)).toEqual([
      'MISSING:missing',
      'LEGACY:unexpected',
      'VALUE:value',
      'CANCELLED:status',
    ]);
    const plan = fixPlanOf([r]);
    expect(plan.replay.map((p) => p.record.conversionRef)).toEqual(['MISSING']);
    expect(plan.requeue.map((p) => [p.row.conversionRef, p.entryId])).toEqual([['CANCELLED', 'u1']]);
    expect(plan.manual.map((d) => d.conversionRef)).toEqual(['LEGACY', 'VALUE']);

    const outcomes = await applyFix(plan, deps);
    expect(outcomes).toEqual([
      { conversionRef: 'MISSING', action: 'replay', result: 'sent' },
      { conversionRef: 'CANCELLED', action: 'requeue_update', result: 'requeued', message: undefined },
    ]);
    // The one call that went out is the missing conversion's own call: nothing Partnerize holds was sent again.
    expect(deps.sender.calls.map((c) => c.call.url)).toEqual([sentRecord('MISSING').request!.url]);
    const updates = deps.updates.items.get('CANCELLED\u001fupdates')!;
    expect(updates.entries['u1']).toMatchObject({ state: 'owed', retries: 0 });
    expect(updates.entries['u1']!.note).toMatch(/^re-queued by pz reconcile/);
    expect(updates).toMatchObject({ dueShard: 'updates', dueAt: NOW, version: 4 });
  });

  it('never acts on a record that changed since the reconciliation read it, nor on an update no longer applied', async () => {
    const { deps, store } = world();
    deps.conversions.items.set('MISSING', sentRecord('MISSING'));
    const { api } = scriptedApi(() => page([]));
    const r = await reconcileCampaign(
      { store, api, ...fakeTime() },
      { campaign: campaignTargets(deps.config)[0]!, window: { from: NOW - DAY_MS, to: NOW }, graceMs: 0 },
    );
    const plan = fixPlanOf([r]);
    // Meanwhile someone replayed it.
    deps.conversions.items.set('MISSING', { ...sentRecord('MISSING'), updatedAt: iso(NOW + 1) });
    const outcomes = await applyFix(plan, deps);
    expect(outcomes).toMatchObject([{ conversionRef: 'MISSING', action: 'replay', result: 'skipped' }]);
    expect(deps.sender.calls).toEqual([]);
    expect(await deps.updates.requeueEntry('NOPE', 'u1', 'x', NOW)).toBe(false);
  });
});

it('unitConfig is the tracker config the run reads (live, one campaign)', () => {
  expect(campaignTargets(unitConfig())).toEqual([{ campaignId: CAMPAIGN, name: 'default', prefixes: [''] }]);
});
