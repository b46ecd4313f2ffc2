/**
 * The soak: many postbacks at high concurrency through the local mode (a real `npm start`
 * process, dynalite, the retry loop) while Partnerize fails a share of calls at random; then wait
 * for the retry loop to drain. Used by the soak test and by `npm run soak` (which writes the
 * figures to docs/reliability.md).
 */
import type { ConversionRecord } from '#lambdas/core/model.js';
import { confirmDelivered, replay } from '#lambdas/core/operations.js';
import { localTarget, type Target } from '../../lib/cli/target.js';
import { FakePartnerize, type Behaviour } from './fake-partnerize.js';
import { startLocalProcess } from './local-process.js';

export interface SoakOptions {
  postbacks: number;
  concurrency: number;
  /** Share of calls Partnerize answers 500 (nothing recorded). */
  failureRate: number;
  /**
   * Share of calls whose answer is lost after Partnerize recorded the conversion: a third answer
   * after the inline timeout, a third have their connection cut after reading, and a third are cut
   * before anything was recorded. These are the windows where a send may be doubled or lost.
   */
  uncertainRate: number;
  /**
   * Whether Partnerize answers a conversionref it already recorded with a "duplicate" 400 (and
   * records nothing); when false it records every call, the worst case for doubles.
   */
  partnerizeDedupes: boolean;
  /** Give up draining after this long. */
  drainTimeoutMs: number;
}

export interface SoakReport {
  options: SoakOptions;
  /** Postbacks answered per second while sending. */
  throughput: number;
  sendSeconds: number;
  answers: Record<string, number>;
  latencyMsP50: number;
  latencyMsP99: number;
  /** Calls Partnerize received, and the share it failed. */
  partnerizeCalls: number;
  partnerizeFailures: number;
  /** Calls whose answer was lost (slow, or the connection cut). */
  partnerizeUncertain: number;
  attemptsPerConversion: number;
  /** From the last postback answer to the last conversion recorded. */
  drainSeconds: number;
  /** Conversions Partnerize recorded exactly once, more than once (a double charge), never (lost). */
  accepted: number;
  acceptedTwice: string[];
  missing: string[];
  /**
   * Conversions held `unconfirmed` (Partnerize cut the connection after the call went out), and
   * what the operator step did with them, as docs/runbook.md says: confirmed where Partnerize
   * holds them, replayed where it does not.
   */
  unconfirmed: number;
  confirmedByOperator: number;
  replayedByOperator: number;
}

/** Longer than the inline attempt waits (3.5 s), shorter than a retry does (15 s). */
const SLOW_ANSWER_MS = 4_500;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const partnerize = await FakePartnerize.start();
  if (opts.partnerizeDedupes) partnerize.dedupeWith({ status: 400, body: 'Duplicate conversionref' });
  let lost = 0;
  partnerize.setDefault((): Behaviour => {
    const x = Math.random();
    if (x < opts.failureRate) return { status: 500, body: 'random failure' };
    const u = (x - opts.failureRate) / opts.uncertainRate;
    if (u >= 1) return { status: 200, body: 'OK' };
    lost++;
    if (u < 1 / 3) return { status: 200, body: 'OK', delayMs: SLOW_ANSWER_MS };
    return { drop: true, recorded: u < 2 / 3 };
  });
  const token = 'soak-token-0123456789';
  const local = await startLocalProcess({
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: partnerize.url,
    POSTBACK_TOKEN: token,
    RETRY_DELAYS_S: Array.from({ length: 12 }, () => '0.2').join(','),
    SWEEP_INTERVAL_S: '0.2',
    SWEEP_LIMIT: '500',
    SWEEP_CONCURRENCY: '16',
    // A retry waits for the slow answers (4.5 s); the lease outlasts it and its recording.
    RETRY_TIMEOUT_MS: '6000',
    LEASE_S: '12',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  try {
    const ids = Array.from({ length: opts.postbacks }, (_, i) => `SOAK-${String(i).padStart(5, '0')}`);
    const answers: Record<string, number> = {};
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const t0 = performance.now();
        const res = await fetch(`${local.url}/postbacks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            orderId: id,
            clickref: `Soak${id.slice(5)}`,
            currency: 'GBP',
            consent: true,
            items: [{ sku: 'S', value: '9.99', quantity: 1 }],
          }),
        });
        const body = (await res.json()) as { outcome?: string };
        latencies.push(performance.now() - t0);
        const key = res.status === 202 ? (body.outcome ?? '?') : `HTTP ${res.status}`;
        answers[key] = (answers[key] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    const sendSeconds = (performance.now() - started) / 1000;
    const drainStart = performance.now();
    const deadline = Date.now() + opts.drainTimeoutMs;
    const target = await localTarget(local.url, { live: true });
    let counts = partnerize.recordedCounts();
    let held: ConversionRecord[] = [];
    let unconfirmed = 0;
    let confirmedByOperator = 0;
    let replayedByOperator = 0;
    try {
      // Drained: every conversion is recorded by Partnerize, or held for an operator.
      for (;;) {
        held = await heldFor(
          ids.filter((id) => !counts.has(id)),
          target,
        );
        if (ids.every((id) => counts.has(id) || held.some((r) => r.conversionRef === id)) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
        counts = partnerize.recordedCounts();
      }
      // Anything sent twice would show up now (slow answers and retries still in flight land).
      await new Promise((r) => setTimeout(r, SLOW_ANSWER_MS + 1000));
      // The operator: each unconfirmed conversion is confirmed if Partnerize holds it, else replayed.
      const operatorDeadline = Date.now() + 30_000;
      while (Date.now() < operatorDeadline) {
        counts = partnerize.recordedCounts();
        const all = await heldFor(ids, target);
        if (all.length === 0) break;
        for (const r of all) {
          unconfirmed++;
          if (counts.has(r.orderId)) {
            await confirmDelivered(r, 'soak: in the fake conversion report', target.deps);
            confirmedByOperator++;
          } else {
            await replay(r, {}, target.deps);
            replayedByOperator++;
          }
        }
        // A replay that failed again is owed (the retry loop) or held again (the next round).
        await new Promise((r) => setTimeout(r, SLOW_ANSWER_MS + 1000));
      }
    } finally {
      target.close();
    }
    const drainSeconds = (performance.now() - drainStart) / 1000;
    counts = partnerize.recordedCounts();
    const calls = partnerize.requests.length;
    const failures = partnerize.requests.filter((r) => r.answered === 500).length;
    latencies.sort((a, b) => a - b);
    return {
      options: opts,
      throughput: opts.postbacks / sendSeconds,
      sendSeconds,
      answers,
      latencyMsP50: pct(latencies, 50),
      latencyMsP99: pct(latencies, 99),
      partnerizeCalls: calls,
      partnerizeFailures: failures,
      partnerizeUncertain: lost,
      attemptsPerConversion: calls / opts.postbacks,
      drainSeconds,
      accepted: ids.filter((id) => counts.get(id) === 1).length,
      acceptedTwice: ids.filter((id) => (counts.get(id) ?? 0) > 1),
      missing: ids.filter((id) => !counts.has(id)),
      unconfirmed,
      confirmedByOperator,
      replayedByOperator,
    };
  } finally {
    await local.stop();
    await partnerize.close();
  }
}

/** The records of these orders that wait for an operator (`unconfirmed`). */
async function heldFor(ids: readonly string[], target: Target): Promise<ConversionRecord[]> {
  const out: ConversionRecord[] = [];
  for (const id of ids) {
    const r = await target.deps.conversions.get(id);
    if (r?.status === 'unconfirmed') out.push(r);
  }
  return out;
}

export function soakMarkdown(r: SoakReport, when: string): string {
  const f = (n: number, d = 1) => n.toFixed(d);
  return [
    `Measured ${when} on ${process.platform}/${process.arch}, Node ${process.version}: ${r.options.postbacks} postbacks at concurrency ${r.options.concurrency}, Partnerize failing ${Math.round(r.options.failureRate * 100)}% of calls at random and losing the answer of ${Math.round(r.options.uncertainRate * 100)}% (slow beyond the inline timeout, or the connection cut after or before recording), ${r.options.partnerizeDedupes ? 'answering a repeated conversionref "duplicate"' : 'recording every call (no dedupe: the worst case)'}.`,
    '',
    '| figure | value |',
    '|---|---|',
    `| postbacks answered | ${Object.entries(r.answers)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} |`,
    `| throughput while sending | ${f(r.throughput, 0)} postbacks/s (${f(r.sendSeconds)} s) |`,
    `| postback latency p50 / p99 | ${f(r.latencyMsP50)} ms / ${f(r.latencyMsP99)} ms |`,
    `| Partnerize calls (failed, answer lost) | ${r.partnerizeCalls} (${r.partnerizeFailures}, ${r.partnerizeUncertain}) |`,
    `| attempts per conversion | ${f(r.attemptsPerConversion, 3)} |`,
    `| time to drain after the last answer (the operator step included) | ${f(r.drainSeconds, 2)} s |`,
    `| held unconfirmed for an operator (cut connections): confirmed / replayed | ${r.unconfirmed}: ${r.confirmedByOperator} / ${r.replayedByOperator} |`,
    `| recorded by Partnerize exactly once / twice or more / never | ${r.accepted} / ${r.acceptedTwice.length} / ${r.missing.length} |`,
    `| double-send rate | ${f((100 * r.acceptedTwice.length) / r.options.postbacks, 2)} % |`,
  ].join('\n');
}
