/** Lambda entry of the clicks function: its environment in, the handler out (runtime/clicks.ts). */
import { clicksFunction } from './runtime/clicks.js';

export const handler = clicksFunction(process.env);
