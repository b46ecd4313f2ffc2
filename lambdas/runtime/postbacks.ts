/** The postbacks function, put together from its environment. */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerTokens, staticTokens, type TokenSource } from '../adapters/token-source.js';
import type { Env } from '../core/settings.js';
import { createPostbacksHandler } from '../handlers/postbacks.js';
import { depsFromEnv } from './deps.js';
import { originVerifyFromEnv, segmentSecretLocationFromEnv, tokenLocationFromEnv, type TokenLocation } from './env.js';

/** A secret's accepted values: fixed (local mode), or read from Secrets Manager through one shared client. */
function secrets(cacheSeconds: number) {
  let client: SecretsManagerClient | undefined;
  return (where: TokenLocation): TokenSource => {
    if ('token' in where) return staticTokens(where.token);
    client ??= new SecretsManagerClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1000, requestTimeout: 1500 } });
    return new SecretsManagerTokens(client, where.secretArn, cacheSeconds * 1000);
  };
}

export function postbacksFunction(env: Env) {
  const deps = depsFromEnv(env, { clicks: true });
  const originVerify = originVerifyFromEnv(env);
  const secret = secrets(deps.config.tokenCacheSeconds);
  const segment = segmentSecretLocationFromEnv(env);
  return createPostbacksHandler({
    ...deps,
    tokens: secret(tokenLocationFromEnv(env)),
    segmentSecret: segment && secret(segment),
    maxBodyBytes: deps.config.maxBodyBytes,
    originVerify: originVerify ? staticTokens(originVerify) : undefined,
  });
}
