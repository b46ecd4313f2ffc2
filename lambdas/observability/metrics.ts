/**
 * Metrics as CloudWatch Embedded Metric Format: buffered during an invocation, written as one JSON
 * line when it ends; CloudWatch extracts the metrics from the log, no PutMetricData calls.
 * Namespace `PartnerizeS2S`, one dimension `service` (the stack name, so two stacks never mix).
 *
 * Powertools Metrics did this for 15 KB of bundle; the EMF specification is small and stable
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
 */
import type { MetricUnit, Metrics } from '../core/metrics.js';

export const METRICS_NAMESPACE = 'PartnerizeS2S';
/** EMF allows at most 100 values per metric per line. */
const MAX_VALUES = 100;

export interface EmfOptions {
  namespace?: string;
  service?: string;
  /** Buffer and drop instead of writing (the local mode: EMF lines are for CloudWatch). */
  disabled?: boolean;
  write?: (line: string) => void;
  now?: () => number;
  /**
   * Flush at most this often (ms), keeping values across invocations of a warm instance until then
   * (or until 100 values of a metric). For high-volume, low-stakes counts (clicks): one EMF line a
   * minute instead of one per request. Values still buffered when an instance is retired are lost.
   */
  minFlushIntervalMs?: number;
}

export function emfMetrics(opts: EmfOptions = {}): Metrics {
  const namespace = opts.namespace ?? METRICS_NAMESPACE;
  const service = opts.service ?? 'partnerize-s2s';
  const disabled = opts.disabled ?? false;
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  const now = opts.now ?? Date.now;
  let buffer = new Map<string, { unit: MetricUnit; values: number[] }>();
  const interval = opts.minFlushIntervalMs ?? 0;
  let lastFlush = now();
  /** When the oldest buffered value was added: batched counts are stamped with it, not the flush. */
  let since: number | undefined;

  const write_ = (): void => {
    if (buffer.size === 0) return;
    lastFlush = now();
    const pending = buffer;
    buffer = new Map();
    if (disabled) return;
    const line: Record<string, unknown> = {
      _aws: {
        Timestamp: since ?? now(),
        CloudWatchMetrics: [
          { Namespace: namespace, Dimensions: [['service']], Metrics: [...pending].map(([Name, m]) => ({ Name, Unit: m.unit })) },
        ],
      },
      service,
    };
    for (const [name, m] of pending) line[name] = m.values.length === 1 ? m.values[0] : m.values;
    since = undefined;
    write(`${JSON.stringify(line)}\n`);
  };
  const flush = (): void => {
    if (now() - lastFlush >= interval) write_();
  };

  return {
    add(name, value, unit = 'Count') {
      since ??= now();
      const m = buffer.get(name) ?? { unit, values: [] };
      // Counts are summed (alarms and graphs read their Sum); other units keep every value, so
      // percentiles stay right.
      if (unit === 'Count' && m.values.length === 1) m.values[0]! += value;
      else m.values.push(value);
      buffer.set(name, m);
      if (m.values.length >= MAX_VALUES) write_();
    },
    flush,
  };
}
