/** Lambda entry of the retry function (EventBridge schedule): wiring from the environment. */
import { depsFromEnv } from './commons/deps.js';
import { createRetryHandler } from './handlers/retry.js';

const num = (name: string, fallback: number): number => {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : fallback;
};

export const handler = createRetryHandler(depsFromEnv(), {
  limit: num('SWEEP_LIMIT', 200),
  concurrency: num('SWEEP_CONCURRENCY', 8),
  budgetMs: num('SWEEP_BUDGET_MS', 45_000),
});
