/** The postbacks function, put together from its environment. */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerTokens, staticTokens } from '../adapters/token-source.js';
import type { TokenSource } from '../core/auth.js';
import { createPostbacksHandler } from '../handlers/postbacks.js';
import { depsFromEnv } from './deps.js';
import { segmentSecretLocationFromEnv, tokenLocationFromEnv, type TokenLocation, type Env } from './env.js';
import { originVerifyFromEnv, secretsClient } from './secrets.js';

export function postbacksFunction(env: Env) {
  const deps = depsFromEnv(env, { clicks: true });
  // One Secrets Manager client for every secret this function reads, made only if one is read.
  let shared: SecretsManagerClient | undefined;
  const client = () => (shared ??= secretsClient());
  /** A secret's accepted values: fixed (local mode), or read from Secrets Manager. */
  const secret = (where: TokenLocation): TokenSource =>
    'token' in where
      ? staticTokens(where.token)
      : new SecretsManagerTokens(client(), where.secretArn, deps.config.tokenCacheSeconds * 1000);
  const segment = segmentSecretLocationFromEnv(env);
  return createPostbacksHandler({
    ...deps,
    tokens: secret(tokenLocationFromEnv(env)),
    segmentSecret: segment && secret(segment),
    maxBodyBytes: deps.config.maxBodyBytes,
    originVerify: originVerifyFromEnv(env, client),
  });
}
