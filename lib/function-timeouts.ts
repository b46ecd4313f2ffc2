/**
 * Each function's Lambda timeout, in seconds: the stack sets them (lib/tracking-stack.ts), and the
 * local mode hands its handlers the same time left, so a handler runs out of time at the same moment
 * in both. Reconcile gets Lambda's longest: it waits out Partnerize's rate limit as it reads.
 */
export const FUNCTION_TIMEOUT_S = { clicks: 5, postbacks: 10, retry: 60, reconcile: 15 * 60 } as const;

export type TimedFunction = keyof typeof FUNCTION_TIMEOUT_S;
