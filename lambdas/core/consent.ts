/**
 * Consent policy (support question Q7, docs/support-questions.md).
 * - `required` (default): send only on an explicit opt-in (`consent: true`, or the configured
 *   Tealium consent category present).
 * - `assumed`: send unless explicitly opted out.
 */
export const CONSENT_POLICIES = ['required', 'assumed'] as const;
export type ConsentPolicy = (typeof CONSENT_POLICIES)[number];

export function mayTrack(policy: ConsentPolicy, consent: boolean | undefined): boolean {
  return policy === 'required' ? consent === true : consent !== false;
}
