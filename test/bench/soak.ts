/**
 * `npm run soak`: the reliability soak (2,000 postbacks at concurrency 50, Partnerize failing 30%
 * at random and losing 3% of answers), once with Partnerize recording every call and once with it
 * answering repeats "duplicate"; the figures go into docs/reliability.md. Options: --postbacks N
 * --concurrency N --failure-rate 0.3 --uncertain-rate 0.03
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { runSoak, soakMarkdown } from '../support/soak.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const { values } = parseArgs({
  options: {
    postbacks: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '50' },
    'failure-rate': { type: 'string', default: '0.3' },
    'uncertain-rate': { type: 'string', default: '0.03' },
  },
});
const base = {
  postbacks: Number(values.postbacks),
  concurrency: Number(values.concurrency),
  failureRate: Number(values['failure-rate']),
  uncertainRate: Number(values['uncertain-rate']),
  drainTimeoutMs: 120_000,
};
const when = new Date().toISOString().slice(0, 10);
const sections: string[] = [];
let failed = false;
for (const partnerizeDedupes of [false, true]) {
  const report = await runSoak({ ...base, partnerizeDedupes });
  sections.push(soakMarkdown(report, when));
  // Doubles are possible only where an answer was lost, and none when Partnerize answers repeats "duplicate".
  failed ||= report.missing.length > 0 || report.acceptedTwice.length > (partnerizeDedupes ? 0 : report.partnerizeUncertain);
}
const md = sections.join('\n\n');
console.log(md);
const file = join(PROJECT_ROOT, 'docs', 'reliability.md');
const doc = readFileSync(file, 'utf8');
const updated = doc.replace(/<!-- soak:start -->[\s\S]*<!-- soak:end -->/, `<!-- soak:start -->\n${md}\n<!-- soak:end -->`);
writeFileSync(file, updated);
console.log(`\nwritten to ${file}`);
if (failed) process.exitCode = 1;
