/**
 * `pz reconcile`'s command and rendering (lib/cli/reconcile.ts, reconcile-render.ts) on memory
 * stores and a scripted report: the exit codes, the summary before the rows, a progress bar on
 * stderr only when it is a terminal, CSV cells a spreadsheet would run.
 */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ApiOutcome, PartnerizeApi, ReportPage } from '#lambdas/core/model.js';
import { formatConversionTime } from '#lambdas/core/partnerize-url.js';
import { DAY_MS, iso } from '#lambdas/core/time.js';
import { RECONCILE_EXIT, reconcileCommand } from '../../lib/cli/reconcile.js';
import { csvField, duration } from '../../lib/cli/reconcile-render.js';
import type { Target } from '../../lib/cli/target.js';
import { MemoryReconciliation } from '../support/memory-stores.js';
import { answer } from '../support/scripted-sender.js';
import { CAMPAIGN, conversionRecord, unitDeps } from '../support/unit-deps.js';

const YESTERDAY = new Date(Date.now() - DAY_MS).toISOString().slice(0, 10);
const ORDER_TIME = Date.parse(`${YESTERDAY}T10:00:00Z`);

function setup(held: string[], pages = 1) {
  const deps = unitDeps({ otherwise: answer.sent() });
  for (const ref of ['ORD-1', 'ORD-2']) {
    deps.conversions.items.set(
      ref,
      conversionRecord({
        conversionRef: ref,
        status: 'sent',
        campaignId: CAMPAIGN,
        orderTime: ORDER_TIME,
        dueShard: undefined,
        dueAt: undefined,
        attempts: [{ at: iso(ORDER_TIME), trigger: 'inline', result: 'sent', status: 200, body: 'OK', latencyMs: 5 }],
      }),
    );
  }
  const conversions = held.map((ref) => ({
    conversionId: `c-${ref}`,
    conversionReference: ref,
    status: 'pending',
    conversionTime: formatConversionTime(ORDER_TIME),
    currency: 'GBP',
    value: 10,
    items: [{ id: `i-${ref}`, value: 10, status: 'pending' }],
  }));
  let served = 0;
  const api: PartnerizeApi = {
    hasCredentials: async () => true,
    bulkUpdate: async () => Promise.reject(new Error('no')),
    job: async () => Promise.reject(new Error('no')),
    tasks: async () => Promise.reject(new Error('no')),
    conversions: async (): Promise<ApiOutcome<ReportPage>> => {
      served += 1;
      const per = Math.ceil(conversions.length / pages);
      return {
        ok: true,
        status: 200,
        latencyMs: 1,
        value: {
          conversions: conversions.slice((served - 1) * per, served * per),
          next: served < pages ? `/page${served + 1}` : undefined,
          offset: 0,
          count: conversions.length,
        },
      };
    },
  };
  const target: Target = {
    label: 'local test',
    mode: 'live',
    apiUrl: 'http://127.0.0.1:1',
    conversionRefPrefix: '',
    deps,
    reconciliation: new MemoryReconciliation(deps.conversions, deps.updates),
    campaignsKnown: true,
    partnerizeApi: () => api,
    token: async () => 'token',
    close: () => {},
  };
  return target;
}

function io(tty: boolean) {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: { write: (s: string) => (out.stdout += s), isTTY: tty },
      stderr: { write: (s: string) => (out.stderr += s), isTTY: tty },
      stdin: Object.assign(Readable.from([]), { isTTY: false }),
      env: {},
    },
  };
}

const noConfirm = async () => false;
const values = { from: YESTERDAY, to: YESTERDAY, grace: '0' };

describe('pz reconcile (the command)', () => {
  it('exit 0 when Partnerize holds exactly what was delivered, 3 when not', async () => {
    const same = io(false);
    expect(await reconcileCommand(values, same.io, setup(['ORD-1', 'ORD-2']), noConfirm)).toBe(RECONCILE_EXIT.same);
    expect(same.out.stdout).toMatch(/Nothing differs/);
    const differs = io(false);
    expect(await reconcileCommand(values, differs.io, setup(['ORD-1', 'PIXEL-9']), noConfirm)).toBe(RECONCILE_EXIT.differs);
    const text = differs.out.stdout;
    // The summary first, then the rows, each order named.
    expect(text.indexOf('class ')).toBeLessThan(text.indexOf('MISSING (1)'));
    expect(text.indexOf('MISSING (1)')).toBeLessThan(text.indexOf('UNEXPECTED (1)'));
    expect(text).toMatch(/ORD-2 +ORD-2 /);
    expect(text).toMatch(/PIXEL-9/);
  });

  it('draws a progress bar on stderr only when stderr is a terminal', async () => {
    const tty = io(true);
    await reconcileCommand(values, tty.io, setup(['ORD-1', 'ORD-2'], 2), noConfirm);
    expect(tty.out.stderr).toMatch(/\rPartnerize's report, campaign 1011l270 \[#+\.*\] 1\/2/);
    expect(tty.out.stderr).toMatch(/\[#{30}\] 2\/2\n/);
    expect(tty.out.stdout).not.toMatch(/\r/);
    const pipe = io(false);
    await reconcileCommand(values, pipe.io, setup(['ORD-1', 'ORD-2'], 2), noConfirm);
    expect(pipe.out.stderr).toBe('');
  });

  it('--json and --csv together are a usage mistake, named', async () => {
    await expect(reconcileCommand({ ...values, json: true, csv: true }, io(false).io, setup([]), noConfirm)).rejects.toMatchObject({
      field: 'csv',
    });
  });
});

describe('rendering', () => {
  it('a CSV cell that a spreadsheet would run as a formula is kept as text; numbers stay numbers', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const cell = csvField(s);
        const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replace(/""/g, '"') : cell;
        if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) expect(unquoted).toBe(`'${s}`);
        else expect(unquoted).toBe(s);
        if (/[",\r\n]/.test(unquoted)) expect(cell.startsWith('"') && cell.endsWith('"')).toBe(true);
      }),
    );
    expect(csvField('-12.50')).toBe('-12.50');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
  });

  it('durations are written as they would be typed', () => {
    expect([0, 90_000, 6 * 3_600_000, 2 * DAY_MS, 1500].map(duration)).toEqual(['0', '90s', '6h', '2d', '1.5s']);
  });
});
