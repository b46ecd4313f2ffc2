import { presentedToken, type TokenSource } from '../core/auth.js';
import { METRICS } from '../core/metrics.js';
import type { Deps } from '../core/model.js';
import { singleEvent, sourceOf } from '../core/order-events.js';
import { acceptPostback } from '../core/postbacks.js';
import { signedBySegment } from '../core/signature.js';
import { errorBody, header, json, readInput, type HttpEvent, type HttpResult } from '../http/http.js';
import { httpFunction, type HttpFunctionDeps } from '../http/http-function.js';
import { bindDeadline, type Deadline } from '../adapters/deadline.js';

export interface PostbacksHandlerDeps extends Deps, HttpFunctionDeps {
  tokens: TokenSource;
  /** Segment's webhook shared secret: its `X-Signature` is accepted instead of the token (absent: never). */
  segmentSecret?: TokenSource | undefined;
  maxBodyBytes: number;
}

const SIGNED_ONLY = 'X-Signature is accepted for Segment events signed with the shared secret this deployment holds';

const unauthorized = (message?: string): HttpResult =>
  json(401, errorBody('unauthorized', message || 'missing or wrong Authorization: send Bearer <token> or Basic base64(user:<token>)'), {
    'www-authenticate': 'Bearer realm="postbacks", Basic realm="postbacks"',
  });

/** Is the body signed with Segment's shared secret (core/signature.ts)? */
async function signed(event: HttpEvent, deps: PostbacksHandlerDeps, deadline: Deadline): Promise<boolean> {
  const signature = header(event, 'x-signature');
  // Only a POST is read from its body: a GET's order is its query (`data=`), which nobody signs.
  if (!deps.segmentSecret || !signature || !event.body || event.requestContext?.http?.method !== 'POST') return false;
  const body = Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  if (body.byteLength > deps.maxBodyBytes) return false;
  return bindDeadline(deps.segmentSecret, deadline).satisfies((secrets) => signedBySegment(body, signature, secrets));
}

/** `POST /postbacks` and `GET /postbacks?data=…`: 202 `{conversionRef, outcome}`. */
export function createPostbacksHandler(deps: PostbacksHandlerDeps) {
  return httpFunction({ ...deps, anonymousRefusalMetric: METRICS.postbacksAnonymous }, async (event, deadline) => {
    // The stores of this request give up at its deadline, in time for a 5xx to be answered
    // (core/answer-budget.ts); recording an attempt after the send is exempt (DynamoConversionStore.finishAttempt).
    const tokens = bindDeadline(deps.tokens, deadline);
    const authorization = header(event, 'authorization');
    const bySignature = !(await tokens.accepts(presentedToken(authorization)));
    if (bySignature && !(await signed(event, deps, deadline))) {
      // No credential at all (no token, no signature) is junk from the internet; a wrong one may be
      // our own caller's broken setup (it pages).
      if (!authorization?.trim() && !header(event, 'x-signature')?.trim()) deps.metrics.add(METRICS.postbacksAnonymous, 1);
      return unauthorized(header(event, 'x-signature') && SIGNED_ONLY);
    }
    const input = readInput(event, deps.maxBodyBytes, 'data');
    // A signature stands in for the token only where Segment signs: its own events (not RudderStack's).
    const one = bySignature ? singleEvent(input) : undefined;
    if (bySignature && !(one !== null && typeof one === 'object' && sourceOf(one) === 'segment')) return unauthorized(SIGNED_ONLY);
    const bound = {
      ...deps,
      clicks: bindDeadline(deps.clicks, deadline),
      conversions: bindDeadline(deps.conversions, deadline),
      updates: bindDeadline(deps.updates, deadline),
    };
    // The answer budget counts from the request's arrival: origin guard, token check and body included.
    const elapsedMs = Date.now() - deadline.since;
    return json(202, await acceptPostback(input, bound, { elapsedMs }));
  });
}
