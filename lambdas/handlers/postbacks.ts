import { presentedToken } from '../core/auth.js';
import { METRICS } from '../core/metrics.js';
import type { Deps } from '../core/model.js';
import { acceptPostback } from '../core/postbacks.js';
import type { TokenSource } from '../adapters/token-source.js';
import { errorBody, header, json, readInput, type HttpResult } from '../http/http.js';
import { httpFunction, type HttpFunctionDeps } from '../http/http-function.js';
import { bindDeadline } from '../adapters/deadline.js';

export interface PostbacksHandlerDeps extends Deps, HttpFunctionDeps {
  tokens: TokenSource;
  maxBodyBytes: number;
}

const unauthorized = (): HttpResult =>
  json(401, errorBody('unauthorized', 'missing or wrong Authorization: send Bearer <token> or Basic base64(user:<token>)'), {
    'www-authenticate': 'Bearer realm="postbacks", Basic realm="postbacks"',
  });

/** `POST /postbacks` and `GET /postbacks?data=…`: 202 `{conversionRef, outcome}`. */
export function createPostbacksHandler(deps: PostbacksHandlerDeps) {
  return httpFunction({ ...deps, anonymousRefusalMetric: METRICS.postbacksAnonymous }, async (event, deadline) => {
    // The stores of this request give up in time for a 5xx to reach Tealium inside its 5 s.
    // (Recording an attempt after the send is exempt: see DynamoConversionStore.finishAttempt.)
    const tokens = bindDeadline(deps.tokens, deadline);
    const authorization = header(event, 'authorization');
    if (!(await tokens.accepts(presentedToken(authorization)))) {
      // No credential at all is junk from the internet; a wrong one may be our own caller's broken setup (it pages).
      if (!authorization?.trim()) deps.metrics.add(METRICS.postbacksAnonymous, 1);
      return unauthorized();
    }
    const input = readInput(event, deps.maxBodyBytes, 'data');
    const bound = { ...deps, clicks: bindDeadline(deps.clicks, deadline), conversions: bindDeadline(deps.conversions, deadline) };
    return json(202, await acceptPostback(input, bound));
  });
}
