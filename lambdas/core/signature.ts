/**
 * Segment's webhook signature: `X-Signature` is the hex HMAC-SHA1 of the JSON body with the shared
 * secret set in the destination. Segment signs `JSON.stringify(body)`, which for one event is the
 * body's exact bytes: they are verified as received, so no re-serialisation can disagree. With
 * batching on, Segment signs only the first event, `JSON.stringify(body[0])`: a list's first event
 * is verified as JavaScript writes it (what Segment ran), and only a list of one is ever read
 * (order-events.ts `singleEvent`), so no unsigned event is taken. Every secret and form is compared,
 * in constant time. The header carries no timestamp, so there is no replay window to check: a
 * replayed order is a `duplicate` of its conversionRef.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The forms of `body` Segment may have signed: its bytes, and a list's first event. */
function signedForms(body: Buffer): Buffer[] {
  const forms = [body];
  if (body.toString('utf8', 0, 64).trimStart().startsWith('[')) {
    try {
      const list = JSON.parse(body.toString('utf8')) as unknown;
      if (Array.isArray(list) && list.length > 0) forms.push(Buffer.from(JSON.stringify(list[0]), 'utf8'));
    } catch {
      // not JSON: only its bytes can match
    }
  }
  return forms;
}

/** True when `signature` is Segment's signature of `body` with one of `secrets`. */
export function signedBySegment(body: Buffer, signature: string | undefined, secrets: readonly string[]): boolean {
  const hex = signature?.trim().toLowerCase() ?? '';
  if (!/^[0-9a-f]{40}$/.test(hex)) return false;
  const presented = Buffer.from(hex, 'hex');
  let ok = false;
  for (const form of signedForms(body)) {
    for (const secret of secrets)
      if (secret !== '' && timingSafeEqual(presented, createHmac('sha1', secret).update(form).digest())) ok = true;
  }
  return ok;
}
