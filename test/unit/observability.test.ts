import { describe, expect, it } from 'vitest';
import { jsonLog } from '#lambdas/observability/logger.js';
import { emfMetrics } from '#lambdas/observability/metrics.js';
import { observabilityFromEnv } from '#lambdas/runtime/env.js';

const capture = () => {
  const lines: string[] = [];
  return { lines, write: (l: string) => void lines.push(l), json: () => lines.map((l) => JSON.parse(l)) };
};

describe('jsonLog', () => {
  it('writes one JSON line per entry with level, message, timestamp, service and fields', () => {
    const out = capture();
    const log = jsonLog({ service: 'Stack1', write: out.write, now: () => Date.UTC(2026, 10, 24) });
    log.info('partnerize attempt', { conversionRef: 'ORD-1', httpStatus: 200, skipped: undefined });
    log.error('failed', { error: new Error('boom') });
    expect(out.lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    expect(out.json()).toEqual([
      {
        level: 'INFO',
        message: 'partnerize attempt',
        timestamp: '2026-11-24T00:00:00.000Z',
        service: 'Stack1',
        conversionRef: 'ORD-1',
        httpStatus: 200,
      },
      {
        level: 'ERROR',
        message: 'failed',
        timestamp: '2026-11-24T00:00:00.000Z',
        service: 'Stack1',
        error: { name: 'Error', message: 'boom' },
      },
    ]);
  });

  it("honours Lambda's application log level (and POWERTOOLS_LOG_LEVEL), read by the environment module", () => {
    const out = capture();
    const log = jsonLog({ level: observabilityFromEnv({ AWS_LAMBDA_LOG_LEVEL: 'WARN' }).logLevel, write: out.write });
    log.info('hidden');
    log.warn('shown');
    const out2 = capture();
    jsonLog({ level: observabilityFromEnv({ POWERTOOLS_LOG_LEVEL: 'silent' }).logLevel, write: out2.write }).error('hidden too');
    expect(out.json().map((l) => l.message)).toEqual(['shown']);
    expect(out2.lines).toEqual([]);
  });

  it("takes Lambda's own TRACE and FATAL as the nearest levels (an operator may set them)", () => {
    expect(observabilityFromEnv({ AWS_LAMBDA_LOG_LEVEL: 'TRACE' }).logLevel).toBe('DEBUG');
    expect(observabilityFromEnv({ AWS_LAMBDA_LOG_LEVEL: 'FATAL' }).logLevel).toBe('CRITICAL');
  });

  it('refuses a log level it does not know, naming the variable (no silent fallback)', () => {
    expect(() => observabilityFromEnv({ LOG_LEVEL: 'verbose' })).toThrow(/LOG_LEVEL must be one of/);
    expect(() => observabilityFromEnv({ POWERTOOLS_METRICS_DISABLED: 'maybe' })).toThrow(/POWERTOOLS_METRICS_DISABLED/);
  });
});

describe('emfMetrics', () => {
  it('writes CloudWatch EMF: namespace, the service dimension, units, one value or a list', () => {
    const out = capture();
    const m = emfMetrics({ service: 'Stack1', write: out.write, now: () => 1_795_515_300_000 });
    m.add('PostbacksSent', 1);
    m.add('PartnerizeLatency', 120, 'Milliseconds');
    m.add('PartnerizeLatency', 80, 'Milliseconds');
    m.flush!();
    m.flush!(); // nothing buffered: nothing written
    expect(out.json()).toEqual([
      {
        _aws: {
          Timestamp: 1_795_515_300_000,
          CloudWatchMetrics: [
            {
              Namespace: 'PartnerizeS2S',
              Dimensions: [['service']],
              Metrics: [
                { Name: 'PostbacksSent', Unit: 'Count' },
                { Name: 'PartnerizeLatency', Unit: 'Milliseconds' },
              ],
            },
          ],
        },
        service: 'Stack1',
        PostbacksSent: 1,
        PartnerizeLatency: [120, 80],
      },
    ]);
  });

  it('sums counts, flushes at 100 values of other metrics (the EMF limit), and writes nothing when disabled', () => {
    const out = capture();
    const m = emfMetrics({ write: out.write });
    for (let i = 0; i < 150; i++) {
      m.add('ClicksRecorded', 1);
      m.add('PartnerizeLatency', i, 'Milliseconds');
    }
    m.flush!();
    const lines = out.json();
    expect(lines.map((l) => (Array.isArray(l.PartnerizeLatency) ? l.PartnerizeLatency.length : l.PartnerizeLatency))).toEqual([100, 50]);
    expect(lines.reduce((s, l) => s + (l.ClicksRecorded ?? 0), 0)).toBe(150);
    const off = capture();
    const d = emfMetrics({ disabled: observabilityFromEnv({ POWERTOOLS_METRICS_DISABLED: 'true' }).metricsDisabled, write: off.write });
    d.add('X', 1);
    d.flush!();
    expect(off.lines).toEqual([]);
  });

  it('with a minimum flush interval, keeps counts across invocations and writes them once', () => {
    const out = capture();
    let t = 0;
    const m = emfMetrics({ write: out.write, now: () => t, minFlushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      m.add('ClicksRecorded', 1);
      m.flush!(); // end of each invocation
      t += 1_000;
    }
    expect(out.lines).toEqual([]);
    t += 60_000;
    m.add('ClicksRecorded', 1);
    m.flush!();
    expect(out.json().map((l) => l.ClicksRecorded)).toEqual([11]);
    expect(out.json()[0]._aws.Timestamp).toBe(0); // stamped with the first count, not the (late) flush
  });
});
