/** The log and the metrics of a function, as its environment says. */
import type { Log } from '../core/model.js';
import type { Metrics } from '../core/metrics.js';
import { jsonLog } from '../observability/logger.js';
import { emfMetrics } from '../observability/metrics.js';
import { observabilityFromEnv, type Env } from './env.js';

export function observability(env: Env, metrics: { minFlushIntervalMs?: number } = {}): { log: Log; metrics: Metrics } {
  const o = observabilityFromEnv(env);
  return {
    log: jsonLog({ service: o.service, level: o.logLevel }),
    metrics: emfMetrics({ service: o.service, namespace: o.namespace, disabled: o.metricsDisabled, ...metrics }),
  };
}
