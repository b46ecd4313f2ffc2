import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signedBySegment } from '#lambdas/core/signature.js';
import { segmentOrderCompleted } from '../fixtures/segment.js';

const SECRET = 'segment-shared-secret-0123456789';
/** What Segment's webhook destination sends: `X-Signature` = hex HMAC-SHA1 of JSON.stringify(payload). */
const segmentSignature = (payload: unknown, secret = SECRET) =>
  createHmac('sha1', secret).update(JSON.stringify(payload), 'utf8').digest('hex');
const bytes = (s: string) => Buffer.from(s, 'utf8');

describe("Segment's X-Signature", () => {
  const event = segmentOrderCompleted({ products: [{ sku: 'Ü-1', name: 'Crème brûlée 🍮', price: 3, quantity: 1 }] });
  const body = bytes(JSON.stringify(event));

  it('is the hex HMAC-SHA1 of the body with the shared secret (any case, padded); non-ASCII text included', () => {
    const sig = segmentSignature(event);
    expect(signedBySegment(body, sig, [SECRET])).toBe(true);
    expect(signedBySegment(body, ` ${sig.toUpperCase()} `, [SECRET])).toBe(true);
  });

  it('a tampered body, another secret or a malformed header is refused', () => {
    const sig = segmentSignature(event);
    expect(signedBySegment(bytes(JSON.stringify(event).replace('"100234"', '"100235"')), sig, [SECRET])).toBe(false);
    expect(signedBySegment(body, sig, ['another-secret'])).toBe(false);
    for (const bad of [undefined, '', `sha1=${sig}`, sig.slice(1), `${sig}00`, 'z'.repeat(40)])
      expect(signedBySegment(body, bad, [SECRET])).toBe(false);
    expect(signedBySegment(body, sig, [''])).toBe(false);
  });

  it('any of the valid secrets (a rotation: current, previous, staged)', () => {
    expect(signedBySegment(body, segmentSignature(event, 'old-secret'), [SECRET, 'old-secret'])).toBe(true);
  });

  it('is verified over the bytes received, not a re-serialisation of them', () => {
    // A sender whose JSON is not JavaScript's (spacing, 1.0) signs what it sends: that is what counts.
    const text = '{"type": "track", "event": "Order Completed", "properties": {"order_id": "A", "total": 1.0}}';
    const sig = createHmac('sha1', SECRET).update(text).digest('hex');
    expect(signedBySegment(bytes(text), sig, [SECRET])).toBe(true);
    expect(signedBySegment(bytes(JSON.stringify(JSON.parse(text))), sig, [SECRET])).toBe(false);
  });

  it('a batch: Segment signs only its first event, JSON.stringify(body[0])', () => {
    const second = segmentOrderCompleted({ order_id: '100235' });
    const batch = bytes(JSON.stringify([event, second]));
    const sig = segmentSignature(event);
    expect(signedBySegment(batch, sig, [SECRET])).toBe(true);
    expect(signedBySegment(bytes(JSON.stringify([{ ...event, event: 'Order Refunded' }, second])), sig, [SECRET])).toBe(false);
    // The signature says nothing of the second event: only a batch of one is ever read (singleEvent).
    expect(signedBySegment(bytes(JSON.stringify([event, { ...second, properties: {} }])), sig, [SECRET])).toBe(true);
    expect(signedBySegment(bytes(`[\n  ${JSON.stringify(event)}\n]`), sig, [SECRET])).toBe(true);
    expect(signedBySegment(bytes('[1, 2'), sig, [SECRET])).toBe(false);
  });

  it('property: what Segment signs verifies; any other byte in its place does not', () => {
    fc.assert(
      fc.property(fc.object(), fc.string({ minLength: 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (payload, secret, at, flip) => {
        const text = Buffer.from(JSON.stringify(payload), 'utf8');
        const sig = segmentSignature(payload, secret);
        expect(signedBySegment(text, sig, [secret])).toBe(true);
        const changed = Buffer.from(text);
        const i = at % changed.length;
        changed[i] = changed[i]! ^ flip;
        expect(signedBySegment(changed, sig, [secret])).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
