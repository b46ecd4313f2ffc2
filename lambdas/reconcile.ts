/** Lambda entry of the daily reconciliation: its environment in, the handler out (runtime/reconcile.ts). */
import { reconcileFunction } from './runtime/reconcile.js';

export const handler = reconcileFunction(process.env);
