/**
 * Soak: 2,000 postbacks at concurrency 50 through the local mode while Partnerize fails 30% of
 * calls at random and 3% of answers are lost. After the retry loop drains, no conversion is
 * missing, and a conversion is recorded twice only where an answer was lost (Partnerize recording
 * every call). `npm run soak` runs it with and without Partnerize answering repeats "duplicate" and
 * records both in docs/reliability.md.
 */
import { describe, expect, it } from 'vitest';
import { runSoak, soakMarkdown } from '../support/soak.js';

describe('soak', () => {
  it('2,000 postbacks, 30% random Partnerize failures, 3% answers lost: none missing, doubles only where an answer was lost', async () => {
    const r = await runSoak({
      postbacks: 2000,
      concurrency: 50,
      failureRate: 0.3,
      uncertainRate: 0.03,
      partnerizeDedupes: false,
      drainTimeoutMs: 120_000,
    });
    console.log(soakMarkdown(r, new Date().toISOString()));
    expect(Object.keys(r.answers).filter((k) => k.startsWith('HTTP'))).toEqual([]);
    expect((r.answers['sent'] ?? 0) + (r.answers['queued'] ?? 0)).toBe(2000);
    expect(r.partnerizeFailures).toBeGreaterThan(0);
    expect(r.missing).toEqual([]);
    // Partnerize recording every call: a lost answer can double a conversion (docs/reliability.md), nothing else may.
    expect(r.acceptedTwice.length).toBeLessThanOrEqual(r.partnerizeUncertain);
    expect(r.accepted + r.acceptedTwice.length).toBe(2000);
    // Cut connections are held, not resent: the operator step resolved every one of them.
    expect(r.unconfirmed).toBeGreaterThan(0);
    expect(r.confirmedByOperator + r.replayedByOperator).toBe(r.unconfirmed);
  }, 300_000);
});
