/** The retry function, put together from its environment. */
import type { Env } from '../core/settings.js';
import { createRetryHandler } from '../handlers/retry.js';
import { depsFromEnv } from './deps.js';

export function retryFunction(env: Env) {
  const deps = depsFromEnv(env, { clicks: false });
  const { sweepLimit, sweepConcurrency, sweepBudgetMs, sweepSendsPerSecond } = deps.config;
  return createRetryHandler(deps, {
    limit: sweepLimit,
    concurrency: sweepConcurrency,
    budgetMs: sweepBudgetMs,
    sendsPerSecond: sweepSendsPerSecond,
    waitUntil: (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now()))),
  });
}
