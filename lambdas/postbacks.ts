/** Lambda entry of the postbacks function: its environment in, the handler out (runtime/postbacks.ts). */
import { postbacksFunction } from './runtime/postbacks.js';

export const handler = postbacksFunction(process.env);
