import type { MiddlewareObj } from '@middy/core';
import { InputError } from '../core/errors.js';
import type { Log } from '../core/model.js';
import { errorBody, inputErrorResponse, json, type HttpEvent, type HttpResult } from './http.js';

/**
 * True for errors thrown by an AWS SDK client (the store is unreachable, throttled, …) or a call
 * cut off by the request deadline.
 */
const isServiceError = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && ('$metadata' in err || (err as { name?: string }).name === 'AbortError');

/**
 * Turns errors into answers: bad input → its 4xx with the failing field; a store that cannot be
 * reached → 503 (Tealium retries 5xx, and nothing was half-written); anything else → 500.
 */
export function httpErrors(log: Log): MiddlewareObj<HttpEvent, HttpResult> {
  return {
    onError: async (request) => {
      const err = request.error;
      if (err instanceof InputError) {
        request.response = inputErrorResponse(err);
        return;
      }
      const name = (err as { name?: string } | null)?.name ?? 'Error';
      log.error('request failed', { error: name, message: (err as Error | null)?.message });
      request.response = isServiceError(err)
        ? json(503, errorBody('store_unavailable', 'the request could not be stored; retry later'), { 'retry-after': '5' })
        : json(500, errorBody('internal_error', 'the request failed; retry later'));
    },
  };
}
