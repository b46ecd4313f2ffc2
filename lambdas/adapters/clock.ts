import type { Clock } from '../core/model.js';

export const systemClock: Clock = { now: () => Date.now() };
