/**
 * A scheduled run's working time: what is left of the Lambda invocation once `reserveMs` is kept
 * back for what must still happen before Lambda's timeout (the last call's own timeout, the run's
 * record, its metrics). Unbounded without a Lambda context that knows its time (tests, scripts).
 */
export function workTimeLeftMs(context: { getRemainingTimeInMillis?: () => number } | undefined, reserveMs: number): number {
  const left = context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
  return Math.max(0, left - reserveMs);
}
