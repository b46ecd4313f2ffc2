/** Secrets the HTTP functions read at run time: the postback token, and CloudFront's origin-verify value. */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerTokens, type SecretsManagerTokensOptions } from '../adapters/token-source.js';
import type { TokenSource } from '../core/auth.js';
import { SECRET_READ } from '../core/answer-budget.js';
import { MINUTE_MS, SECOND_MS } from '../core/time.js';
import { originVerifySecretArnFromEnv, type Env } from './env.js';

/** Short timeouts: a read happens while a request waits (core/answer-budget.ts). */
export const secretsClient = (): SecretsManagerClient => secretsManagerClient(SECRET_READ);

/** A Secrets Manager client bounded per try (`throwOnRequestTimeout`: without it a timeout only warns). */
export const secretsManagerClient = (read: { tries: number; connectTimeoutMs: number; requestTimeoutMs: number }): SecretsManagerClient =>
  new SecretsManagerClient({
    maxAttempts: read.tries,
    requestHandler: { connectionTimeout: read.connectTimeoutMs, requestTimeout: read.requestTimeoutMs, throwOnRequestTimeout: true },
  });

/**
 * The origin-verify value is kept 5 minutes. A value the cache does not hold is decided by a read
 * only if none started in the last 30 s, else refused at once: requests sent around CloudFront with
 * made-up values cost at most one read per 30 s per instance and never wait, and a rotated value is known
 * before CloudFront sends it (the new version is in the secret well before the distribution's
 * update has spread: docs/runbook.md#rotating-the-origin-verify-value).
 */
export const ORIGIN_VERIFY_CACHE_MS = 5 * MINUTE_MS;
export const ORIGIN_VERIFY_SOURCE_OPTIONS: SecretsManagerTokensOptions = { readSpacingMs: 30 * SECOND_MS, waitForRead: false };

/**
 * With the optional WAF, the value CloudFront adds (x-origin-verify), read from its secret:
 * AWSCURRENT, AWSPREVIOUS and AWSPENDING are accepted, so a rotation has no gap (docs/runbook.md).
 */
export function originVerifyFromEnv(env: Env, client: () => SecretsManagerClient = secretsClient): TokenSource | undefined {
  const arn = originVerifySecretArnFromEnv(env);
  if (arn === undefined) return undefined;
  return new SecretsManagerTokens(client(), arn, ORIGIN_VERIFY_CACHE_MS, undefined, ORIGIN_VERIFY_SOURCE_OPTIONS);
}
