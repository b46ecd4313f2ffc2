import { InputError } from '../core/errors.js';
import type { Log } from '../core/model.js';
import { errorBody, inputErrorResponse, json, type HttpResult } from './http.js';
import { classifyStoreError } from './store-errors.js';

/**
 * Turns errors into answers: bad input → its 4xx with the failing field; a store that is briefly
 * unavailable → 503 (Tealium retries 5xx, and nothing was half-written); a request the store can
 * never take → its 4xx; a broken deployment or anything else → 500 (paged).
 */
export function httpErrorAnswer(log: Log): (err: unknown) => HttpResult {
  return (err) => {
    if (err instanceof InputError) return inputErrorResponse(err);
    const failure = classifyStoreError(err);
    const name = (err as { name?: string } | null)?.name ?? 'Error';
    if (failure.kind === 'refused') {
      log.warn('request refused by the store', { error: name, code: failure.error.code });
      return inputErrorResponse(failure.error);
    }
    log.error('request failed', { error: name, kind: failure.kind, message: (err as Error | null)?.message });
    return failure.kind === 'transient'
      ? json(503, errorBody('store_unavailable', 'the request could not be stored; retry later'), { 'retry-after': '5' })
      : json(500, errorBody('internal_error', 'the request failed; retry later'));
  };
}
