/** The postbacks function, put together from its environment. */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerTokens, staticTokens, type TokenSource } from '../adapters/token-source.js';
import type { Env } from '../core/settings.js';
import { createPostbacksHandler } from '../handlers/postbacks.js';
import { depsFromEnv } from './deps.js';
import { tokenLocationFromEnv } from './env.js';
import { originVerifyFromEnv, secretsClient } from './secrets.js';

function postbackTokens(env: Env, cacheSeconds: number, client: () => SecretsManagerClient): TokenSource {
  const where = tokenLocationFromEnv(env);
  if ('token' in where) return staticTokens(where.token);
  return new SecretsManagerTokens(client(), where.secretArn, cacheSeconds * 1000);
}

export function postbacksFunction(env: Env) {
  const deps = depsFromEnv(env, { clicks: true });
  // One Secrets Manager client for the token and the origin-verify value, made only if either is read.
  let shared: SecretsManagerClient | undefined;
  const client = () => (shared ??= secretsClient());
  return createPostbacksHandler({
    ...deps,
    tokens: postbackTokens(env, deps.config.tokenCacheSeconds, client),
    maxBodyBytes: deps.config.maxBodyBytes,
    originVerify: originVerifyFromEnv(env, client),
  });
}
