/**
 * The exact Partnerize request for an order: its call spec (everything but the clickref) and the
 * clickref, as the URL the contract describes.
 */
import { InputError } from './errors.js';
import type { CallSpec } from './model.js';
import { buildConversionUrl, type OutgoingCall } from './partnerize-url.js';

/** Longest Partnerize call we build: servers commonly refuse longer request lines (414). */
export const MAX_CALL_LENGTH = 8000;

export function requestFor(call: CallSpec, clickref: string): OutgoingCall {
  const { baseUrl, method, ...rest } = call;
  const url = buildConversionUrl(baseUrl, { ...rest, clickref });
  if (url.length > MAX_CALL_LENGTH) {
    throw new InputError(
      'call_too_long',
      `the Partnerize call for this order would be ${url.length} characters (at most ${MAX_CALL_LENGTH}): send fewer items or less metadata`,
      'items',
    );
  }
  return { method, url };
}
