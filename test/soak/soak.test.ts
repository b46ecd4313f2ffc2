/**
 * Soak: 2,000 postbacks at concurrency 50 through the local mode while Partnerize fails 30% of
 * calls at random. After the retry loop drains, Partnerize has accepted each conversionRef exactly
 * once and none is missing. (`npm run soak` runs the same and records the figures in the docs.)
 */
import { describe, expect, it } from 'vitest';
import { runSoak, soakMarkdown } from '../support/soak.js';

describe('soak', () => {
  it('2,000 postbacks, 30% random Partnerize failures: each conversion accepted exactly once, none missing', async () => {
    const r = await runSoak({ postbacks: 2000, concurrency: 50, failureRate: 0.3, drainTimeoutMs: 60_000 });
    console.log(soakMarkdown(r, new Date().toISOString()));
    expect(Object.keys(r.answers).filter((k) => k.startsWith('HTTP'))).toEqual([]);
    expect((r.answers['sent'] ?? 0) + (r.answers['queued'] ?? 0)).toBe(2000);
    expect(r.partnerizeFailures).toBeGreaterThan(0);
    expect(r.missing).toEqual([]);
    expect(r.acceptedTwice).toEqual([]);
    expect(r.accepted).toBe(2000);
  }, 180_000);
});
