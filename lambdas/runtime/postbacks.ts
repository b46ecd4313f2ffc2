/** The postbacks function, put together from its environment. */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerTokens, staticTokens, type TokenSource } from '../adapters/token-source.js';
import type { Env } from '../core/settings.js';
import { createPostbacksHandler } from '../handlers/postbacks.js';
import { depsFromEnv } from './deps.js';
import { originVerifyFromEnv, tokenLocationFromEnv } from './env.js';

function postbackTokens(env: Env, cacheSeconds: number): TokenSource {
  const where = tokenLocationFromEnv(env);
  if ('token' in where) return staticTokens(where.token);
  const client = new SecretsManagerClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1000, requestTimeout: 1500 } });
  return new SecretsManagerTokens(client, where.secretArn, cacheSeconds * 1000);
}

export function postbacksFunction(env: Env) {
  const deps = depsFromEnv(env, { clicks: true });
  const originVerify = originVerifyFromEnv(env);
  return createPostbacksHandler({
    ...deps,
    tokens: postbackTokens(env, deps.config.tokenCacheSeconds),
    maxBodyBytes: deps.config.maxBodyBytes,
    originVerify: originVerify ? staticTokens(originVerify) : undefined,
  });
}
