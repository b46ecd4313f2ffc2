/**
 * `pz reconcile` as a new user meets it: `npm start` (a real process) live, with
 * PARTNERIZE_API_BASE_URL and the two API keys pointing at the strict fake of Partnerize's API,
 * orders posted to /postbacks, Partnerize holding a little less, a little more and a little else
 * than the tracker sent; then the command's exit codes, summary, JSON and CSV.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { FakePartnerizeApi } from '../support/fake-partnerize-api.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';
import { runPz } from '../support/pz.js';

const TOKEN = 'reconcile-e2e-token-123';
const CAMPAIGN = '1011l270';
let s2s: FakePartnerize;
let api: FakePartnerizeApi;
let local: LocalProcess;
const today = new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  s2s = await FakePartnerize.start();
  api = await FakePartnerizeApi.start({ maxPage: 4 });
  api.linkTo(s2s);
  local = await startLocalProcess({
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: s2s.url,
    PARTNERIZE_CAMPAIGN_ID: CAMPAIGN,
    ...api.env,
    POSTBACK_TOKEN: TOKEN,
  });
  for (let i = 1; i <= 12; i++) {
    const r = await fetch(`${local.url}/postbacks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        orderId: `E2E-${i}`,
        clickref: `Ck${i}`,
        currency: 'GBP',
        consent: true,
        orderTime: new Date(Date.now() - 60_000).toISOString(),
        items: [
          { sku: 'SKU-1', value: 19.99, quantity: 3 },
          { sku: 'SKU-2', value: 5, quantity: 1 },
        ],
      }),
    });
    expect(await r.json()).toMatchObject({ outcome: 'sent' });
  }
  api.forget('E2E-3');
  api.conversion('E2E-5')!.items[1]!.value = 4;
  api.conversion('E2E-7')!.items.pop();
  api.addConversion({ reference: 'PIXEL-1', campaignId: CAMPAIGN, items: [{ sku: 'SKU-9', value: 30 }] });
}, 90_000);

afterAll(async () => {
  await local?.stop();
  await api?.close();
  await s2s?.close();
});

const pz = (args: string[], env: Record<string, string> = {}) => runPz(['reconcile', '--local', local.url, ...args], env);

describe('pz reconcile against npm start', () => {
  it('names every differing order after the summary, and exits 3', async () => {
    const r = await pz(['--from', today, '--to', today, '--grace', '0']);
    expect(r.code).toBe(3);
    const [summary, rows] = [r.out.slice(0, r.out.indexOf('Something differs')), r.out.slice(r.out.indexOf('Something differs'))];
    expect(summary).toMatch(/missing\s+1\s+GBP 64\.97/);
    expect(summary).toMatch(/unexpected\s+1\s+GBP 30\.00/);
    expect(summary).toMatch(/value or currency differs\s+1\s+GBP 1\.00/);
    expect(summary).toMatch(/items differ\s+1\s+GBP 64\.97/);
    expect(summary).toMatch(/status drift\s+0\s+-/);
    expect(summary).toMatch(/Partnerize holds 12 conversion\(s\) of the window \(3 page\(s\) read\)/);
    for (const ref of ['E2E-3', 'PIXEL-1', 'E2E-5', 'E2E-7']) expect(rows).toContain(ref);
    expect(rows).toMatch(
      /E2E-3: GET http:\/\/127\.0\.0\.1:\d+\/conversion\/tracking_mode:api\/campaign:1011l270\/clickref:Ck3\/conversionref:E2E-3\//,
    );
    // Nothing is flagged that was not seeded.
    for (const ref of ['E2E-1', 'E2E-2', 'E2E-4', 'E2E-12']) expect(rows).not.toMatch(new RegExp(`\\b${ref}\\b`));
  });

  it('with the default grace, what was delivered a moment ago is not judged yet', async () => {
    const r = await pz(['--from', today, '--to', today]);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/missing\s+0\s+-/);
    // E2E-3 is not in the report yet, but Partnerize's report may lag: judged after 6 h.
    expect(r.out).toMatch(/Not judged yet: 1 delivered \(or updated\) less than 6h ago/);
  });

  it('--json: the summary per class, each campaign, every row with its order id and conversionRef', async () => {
    const r = await pz(['--from', today, '--to', today, '--grace', '0', '--json']);
    expect(r.code).toBe(3);
    const j = r.json();
    expect(Object.keys(j)).toEqual(['target', 'from', 'to', 'graceMs', 'differs', 'summary', 'campaigns', 'rows']);
    expect(j.differs).toBe(true);
    expect(j.summary.missing).toEqual({ count: 1, value: { GBP: '64.97' } });
    expect(j.campaigns).toEqual([expect.objectContaining({ campaignId: CAMPAIGN, name: 'default', prefixes: [''], pages: 3 })]);
    expect(j.rows.map((x: { class: string; conversionRef: string; orderId?: string }) => [x.class, x.conversionRef, x.orderId])).toEqual([
      ['missing', 'E2E-3', 'E2E-3'],
      ['unexpected', 'PIXEL-1', undefined],
      ['value', 'E2E-5', 'E2E-5'],
      ['items', 'E2E-7', 'E2E-7'],
    ]);
  });

  it('--csv: a header and one line per difference; the summary on stderr', async () => {
    const r = await pz(['--from', today, '--to', today, '--grace', '0', '--csv']);
    expect(r.code).toBe(3);
    // RFC 4180: CRLF line ends.
    const lines = r.out.trim().split('\r\n');
    expect(lines[0]).toBe(
      'class,campaign_id,order_id,conversion_ref,conversion_id,order_time,tracker_status,partnerize_status,currency,tracker_value,partnerize_value,value_at_stake,detail,call',
    );
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 4).join(','))).toEqual([
      `missing,${CAMPAIGN},E2E-3,E2E-3`,
      `unexpected,${CAMPAIGN},,PIXEL-1`,
      `value,${CAMPAIGN},E2E-5,E2E-5`,
      `items,${CAMPAIGN},E2E-7,E2E-7`,
    ]);
    // The mode first (reading the report is a call to Partnerize), then the summary.
    expect(r.err).toMatch(/^pz: local \S+ — live: calls go to Partnerize\nReconciliation of local/);
  });

  it('exits 0 when nothing differs; the keys may also be given to pz itself', async () => {
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const r = await pz(['--from', yesterday, '--to', yesterday, '--campaign', CAMPAIGN], api.env);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Nothing differs: Partnerize holds exactly the orders the tracker delivered\./);
  });

  it('--fix shows the plan and asks first (off a terminal: --yes, else nothing is sent); with --yes only the missing order is re-sent', async () => {
    const before = s2s.requests.length;
    const asked = await pz(['--from', today, '--to', today, '--grace', '0', '--fix']);
    expect(asked.out).toMatch(/What --fix does:\n {2}re-send 1 missing conversion\(s\), each only if its record is unchanged: E2E-3/);
    expect(asked.code).toBe(2);
    expect(asked.err).toMatch(/not on a terminal: pass --yes to confirm/);
    expect(s2s.requests.length).toBe(before);
    const fixed = await pz(['--from', today, '--to', today, '--grace', '0', '--fix', '--yes']);
    expect(fixed.code).toBe(3);
    expect(s2s.requests.slice(before).map((q) => /conversionref:([^/]+)/.exec(q.url)![1])).toEqual(['E2E-3']);
    const after = await pz(['--from', today, '--to', today, '--grace', '0', '--json']);
    expect(after.json().summary.missing.count).toBe(0);
  });

  it('exit codes: 2 for a usage mistake, 1 when the reconciliation cannot be done', async () => {
    const usage = await pz(['--to', today]);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/--from is required/);
    expect((await pz(['--from', today, '--to', today, '--grace', 'soon'])).code).toBe(2);
    const campaign = await pz(['--from', today, '--to', today, '--campaign', 'nope']);
    expect(campaign.code).toBe(2);
    expect(campaign.err).toMatch(/--campaign 'nope' is not a campaign of this deployment \(1011l270 \(default\)\)/);
    const badKeys = await pz(['--from', today, '--to', today], { ...api.env, PARTNERIZE_USER_API_KEY: 'wrong' });
    expect(badKeys.code).toBe(1);
    expect(badKeys.err).toMatch(/Partnerize refused the API keys/);
    const nobody = await runPz(['reconcile', '--from', today, '--to', today, '--local', 'http://127.0.0.1:9'], {});
    expect(nobody.code).toBe(1);
  });
});
