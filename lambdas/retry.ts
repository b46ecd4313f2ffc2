/** Lambda entry of the retry function: its environment in, the handler out (runtime/retry.ts). */
import { retryFunction } from './runtime/retry.js';

export const handler = retryFunction(process.env);
