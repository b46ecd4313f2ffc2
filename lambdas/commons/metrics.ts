/**
 * Metrics as CloudWatch EMF through Powertools Metrics: one JSON log line per invocation, no
 * PutMetricData calls. Namespace and the `service` dimension come from the stack's environment.
 */
import { Metrics as PowertoolsMetrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MiddlewareObj } from '@middy/core';
import type { Metrics } from '../core/metrics.js';

export const METRICS_NAMESPACE = 'PartnerizeS2S';

export function powertoolsMetrics(
  m: PowertoolsMetrics = new PowertoolsMetrics({
    namespace: process.env['POWERTOOLS_METRICS_NAMESPACE'] || METRICS_NAMESPACE,
    serviceName: process.env['POWERTOOLS_SERVICE_NAME'] || 'partnerize-s2s',
  }),
): Metrics {
  return {
    add: (name, value, unit = 'Count') => void m.addMetric(name, MetricUnit[unit], value),
    flush: () => void m.publishStoredMetrics(),
  };
}

/**
 * Flushes the invocation's metrics when the handler ends, answered or failed. It must return
 * nothing: a middy middleware that returns a value replaces the response.
 */
export function flushMetrics(metrics: Metrics): MiddlewareObj {
  const flush = async (): Promise<void> => {
    metrics.flush?.();
  };
  return { after: flush, onError: flush };
}
