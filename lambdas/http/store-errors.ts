/**
 * Which store failures are worth a retry. A postback answers 5xx only when a retry can succeed
 * (Tealium retries 5xx, and on-call is paged for them); a failure that will repeat on every retry
 * is answered with a 4xx that names its cause, so it is neither retried in vain nor hidden.
 */
import { InputError } from '../core/errors.js';

export type StoreFailure =
  /** DynamoDB or the network is briefly unavailable: 503, retry. */
  | { kind: 'transient' }
  /** This request can never be stored as it is: a 4xx naming the cause. */
  | { kind: 'refused'; error: InputError }
  /** The deployment is broken (missing table, missing permission): 500, paged, retry after the fix. */
  | { kind: 'misconfigured'; name: string }
  /** Not a store failure at all. */
  | { kind: 'other' };

/** DynamoDB error names that a retry can cure. */
const TRANSIENT = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'LimitExceededException',
  'TimeoutError',
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
/** Errors of the deployment, not of the request. */
const MISCONFIGURED = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'MissingAuthenticationTokenException',
  'InvalidSignatureException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSNotFoundException',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

export function classifyStoreError(err: unknown): StoreFailure {
  if (typeof err !== 'object' || err === null) return { kind: 'other' };
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  const name = e.name ?? '';
  if (TRANSIENT.has(name) || e.$retryable !== undefined || NETWORK_CODES.has(e.code ?? '')) return { kind: 'transient' };
  if (name === 'ValidationException' && /size|too large|exceed/i.test(e.message ?? '')) {
    return {
      kind: 'refused',
      error: new InputError(
        'order_too_large',
        'the order is too large to store (a DynamoDB item holds at most 400 KB): send fewer items, shorter values or less metadata',
        'body',
        413,
      ),
    };
  }
  if (MISCONFIGURED.has(name)) return { kind: 'misconfigured', name };
  if (e.$metadata === undefined) return { kind: 'other' };
  const status = e.$metadata.httpStatusCode;
  // An SDK error without a readable answer (the connection broke) or a 5xx from DynamoDB.
  return status === undefined || status >= 500 ? { kind: 'transient' } : { kind: 'misconfigured', name };
}
