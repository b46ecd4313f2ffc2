/**
 * `npm run bench:reconcile`: how long reconciling a 10,000-conversion window takes, next to
 * baselines measured in the same run on the same data — reading the tracker's side alone (the
 * `campaignTime` index and the records) and reading Partnerize's report alone (every page over
 * HTTP from the fake API on 127.0.0.1) — so the comparison's own cost shows as a ratio. Then the
 * whole `pz reconcile --json` through the local mode (its embedded dynalite and its report route).
 * Writes the section between the `reconcile-bench` markers of docs/performance.md.
 * Options: --conversions N (default 10000), --rounds N (default 5).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoReconciliation } from '#lambdas/adapters/dynamodb-reconcile.js';
import { toItem } from '#lambdas/adapters/marshal.js';
import { createPartnerizeApi, staticCredentials } from '#lambdas/adapters/partnerize-api.js';
import type { ConversionRecord } from '#lambdas/core/model.js';
import { buildConversionUrl, formatConversionTime } from '#lambdas/core/partnerize-url.js';
import { compare } from '#lambdas/core/reconcile.js';
import { readReport, reconcileCampaign } from '#lambdas/core/reconcile-run.js';
import { DAY_MS, HOUR_MS, iso } from '#lambdas/core/time.js';
import { localDynamoClient } from '../../lib/local/embedded-dynamodb.js';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { startLocal } from '../../lib/local/server.js';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { FakePartnerizeApi } from '../support/fake-partnerize-api.js';
import { runPz } from '../support/pz.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const { values } = parseArgs({ options: { conversions: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '5' } } });
const N = Number(values.conversions);
const ROUNDS = Number(values.rounds);
const CAMPAIGN = '1011l270';
const DAY = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS;
const DATE = iso(DAY).slice(0, 10);
/** One difference in a hundred, of each kind the report can show: the comparison has rows to build. */
const DIFFERENT = 100;

const s2s = await FakePartnerize.start();
const api = await FakePartnerizeApi.start();
const local = await startLocal({
  PORT: '0',
  PARTNERIZE_MODE: 'live',
  PARTNERIZE_BASE_URL: s2s.url,
  PARTNERIZE_CAMPAIGN_ID: CAMPAIGN,
  ...api.env,
  POSTBACK_TOKEN: 'reconcile-bench-token',
  SWEEP_INTERVAL_S: '3600',
});
const db = localDynamoClient(local.info.dynamodbEndpoint);
const table = local.info.tables.conversions;

console.error(`seeding ${N} conversions on both sides…`);
const records: ConversionRecord[] = [];
for (let i = 0; i < N; i++) {
  const ref = `BENCH-${String(i).padStart(6, '0')}`;
  const orderTime = DAY + Math.floor((i * 20 * HOUR_MS) / N);
  const lines = [
    { sku: `SKU-${i % 50}`, value: ['19.99', '5.5', '120', '0.1'][i % 4]!, quantity: 1 + (i % 3) },
    { sku: 'GIFT-WRAP', value: '2.95', quantity: 1 },
  ];
  const clickref = `Ck${i}`;
  records.push({
    conversionRef: ref,
    writeId: `w-${i}`,
    orderId: ref,
    campaignId: CAMPAIGN,
    campaign: 'default',
    status: 'sent',
    createdAt: iso(orderTime),
    updatedAt: iso(orderTime + 60_000),
    orderTime,
    mode: 'live',
    source: 'native',
    sessionId: `session-${i}`,
    clickref,
    clickrefSource: 'click',
    consent: true,
    consentPolicy: 'required',
    currency: 'GBP',
    itemCount: lines.length,
    orderValue: '0',
    request: {
      method: 'GET',
      url: buildConversionUrl(s2s.url, {
        campaignId: CAMPAIGN,
        clickref,
        conversionRef: ref,
        currency: 'GBP',
        conversionTime: orderTime,
        items: lines,
      }),
    },
    attempts: [{ at: iso(orderTime + 60_000), trigger: 'inline', result: 'sent', status: 200, body: 'OK', latencyMs: 40 }],
    retries: 0,
    expiresAt: Math.ceil(Date.now() / 1000) + 400 * 86_400,
  });
  const held = api.addConversion({
    reference: ref,
    campaignId: CAMPAIGN,
    time: formatConversionTime(orderTime),
    clickref,
    items: lines.map((l) => ({ sku: l.sku, value: Math.round(Number(l.value) * l.quantity * 10_000) / 10_000 })),
  });
  if (i % DIFFERENT === 1) api.forget(ref);
  if (i % DIFFERENT === 2) held.items[0]!.value += 1;
  if (i % DIFFERENT === 3) held.items.pop();
}
for (let i = 0; i < N / DIFFERENT; i++)
  api.addConversion({ reference: `PIXEL-${i}`, campaignId: CAMPAIGN, time: formatConversionTime(DAY + i * 60_000) });
const chunks: ConversionRecord[][] = [];
for (let i = 0; i < records.length; i += 25) chunks.push(records.slice(i, i + 25));
let next = 0;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      let pending = { [table]: chunk.map((r) => ({ PutRequest: { Item: toItem(r) } })) };
      while ((pending[table]?.length ?? 0) > 0) {
        const r = await db.send(new BatchWriteItemCommand({ RequestItems: pending }));
        pending = { [table]: (r.UnprocessedItems?.[table] ?? []) as (typeof pending)[string] };
      }
    }
  }),
);

const store = new DynamoReconciliation(db, table);
const reportApi = createPartnerizeApi({
  baseUrl: api.url,
  credentials: staticCredentials({ applicationKey: api.opts.applicationKey, userApiKey: api.opts.userApiKey }),
});
const deps = { store, api: reportApi, now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
const window = { from: DAY, to: DAY + DAY_MS };
const campaign = { campaignId: CAMPAIGN, name: 'default', prefixes: [''] };

const time = async <T>(f: () => Promise<T>): Promise<[number, T]> => {
  const t = performance.now();
  const v = await f();
  return [performance.now() - t, v];
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const samples = { ours: [] as number[], report: [] as number[], compare: [] as number[], campaign: [] as number[], cli: [] as number[] };
let rows = 0;
let pages = 0;
let cliCode = -1;
console.error(`${ROUNDS} rounds…`);
for (let round = 0; round < ROUNDS; round++) {
  // Interleaved, so a slow moment of the host falls on every phase alike.
  // The tracker's side as the reconciliation reads it: the window's records, then their order updates records.
  const [tOurs, ours] = await time(async () => {
    const records = await store.conversionsIn(CAMPAIGN, window.from, window.to);
    await store.updatesOf(records.map((r) => r.conversionRef));
    return records;
  });
  const [tReport, report] = await time(() =>
    readReport(deps, { campaignId: CAMPAIGN, from: window.from - HOUR_MS, to: window.to + HOUR_MS }),
  );
  const [tCompare] = await time(async () =>
    compare({
      campaignId: CAMPAIGN,
      prefixes: [''],
      window,
      now: Date.now(),
      graceMs: 6 * HOUR_MS,
      ours,
      others: new Map(),
      updates: new Map(),
      partnerize: report.conversions,
    }),
  );
  const [tCampaign, result] = await time(() => reconcileCampaign(deps, { campaign, window, graceMs: 6 * HOUR_MS }));
  const [tCli, cli] = await time(() => runPz(['reconcile', '--from', DATE, '--to', DATE, '--local', local.url, '--json'], {}));
  samples.ours.push(tOurs);
  samples.report.push(tReport);
  samples.compare.push(tCompare);
  samples.campaign.push(tCampaign);
  samples.cli.push(tCli);
  rows = result.rows.length;
  pages = report.pages;
  cliCode = cli.code;
  if (ours.length !== N) throw new Error(`read ${ours.length} records, seeded ${N}`);
}
db.destroy();
await local.close();
await api.close();
await s2s.close();

const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])) as Record<keyof typeof samples, number>;
const ms = (x: number) => `${Math.round(x)} ms`;
const both = Math.max(m.ours, m.report);
const md = [
  '## Reconciliation',
  '',
  `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model ?? process.arch} (${cpus().length} cores), Node ${process.version}, by \`npm run bench:reconcile\` (test/bench/reconcile.ts): one campaign's day of ${N.toLocaleString('en-GB')} delivered conversions (two lines each) in the local mode's dynalite, the same day in the fake Partnerize API on 127.0.0.1 in pages of 300 (${pages} pages: ${N / DIFFERENT} conversions forgotten, ${N / DIFFERENT} extra from a "pixel", ${(2 * N) / DIFFERENT} changed), median of ${ROUNDS} interleaved rounds. The baselines read the same data without comparing it.`,
  '',
  '| phase | median | ratio |',
  '|---|---|---|',
  `| baseline: the tracker's side alone (campaignTime index, BatchGetItem of the ${N.toLocaleString('en-GB')} records, then of their ${N.toLocaleString('en-GB')} order updates keys) | ${ms(m.ours)} | 1.00 |`,
  `| baseline: Partnerize's report alone (${pages} pages over HTTP) | ${ms(m.report)} | ${(m.report / m.ours).toFixed(2)} × the tracker's side |`,
  `| the comparison alone (pure, ${rows} differing orders found) | ${ms(m.compare)} | ${(m.compare / both).toFixed(2)} × the slower read |`,
  `| one campaign reconciled (both sides read side by side, then compared) | ${ms(m.campaign)} | ${(m.campaign / both).toFixed(2)} × the slower read, ${(m.campaign / (m.ours + m.report)).toFixed(2)} × both reads one after the other |`,
  `| \`pz reconcile --json\` through the local mode (exit ${cliCode}), process start excluded | ${ms(m.cli)} | ${(m.cli / both).toFixed(2)} × the slower read |`,
  '',
  `A ${N.toLocaleString('en-GB')}-conversion window is reconciled in ${(m.cli / 1000).toFixed(1)} s. The two reads run side by side (here on 2 cores shared with dynalite's thread and the fake API): one campaign takes ${(m.campaign / both).toFixed(2)}× the slower read and ${(m.campaign / (m.ours + m.report)).toFixed(2)}× both reads one after the other; the comparison alone is ${Math.round((100 * m.compare) / both)} % of the slower read. The tracker's side, ${(2 * N).toLocaleString('en-GB')} keys from dynalite, is most of it; in AWS it is ${Math.ceil((2 * N) / 100)} BatchGetItem calls, 8 in flight. Against Partnerize itself the report's pages cost what its API takes per page (and any 429 waits it asks for), not what this machine does.`,
].join('\n');
console.log(md);
const file = join(PROJECT_ROOT, 'docs', 'performance.md');
const doc = readFileSync(file, 'utf8');
const block = `<!-- reconcile-bench:start -->\n${md}\n<!-- reconcile-bench:end -->`;
writeFileSync(
  file,
  /<!-- reconcile-bench:start -->/.test(doc)
    ? doc.replace(/<!-- reconcile-bench:start -->[\s\S]*<!-- reconcile-bench:end -->/, block)
    : `${doc.replace(/\n*$/, '\n')}\n${block}\n`,
);
console.error(`written to ${file}`);
