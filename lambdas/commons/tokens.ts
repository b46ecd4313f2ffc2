import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerTokens, staticTokens, type TokenSource } from '../adapters/token-source.js';

type Env = Record<string, string | undefined>;

/**
 * The postback token: from the Secrets Manager secret `TOKEN_SECRET_ARN` (AWS), or `POSTBACK_TOKEN`
 * (local mode only; the stack never sets it).
 */
let client: SecretsManagerClient | undefined;

function secretTokens(arn: string, env: Env): TokenSource {
  client ??= new SecretsManagerClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1000, requestTimeout: 1500 } });
  const ttlS = Number(env['TOKEN_CACHE_S'] ?? '300');
  return new SecretsManagerTokens(client, arn, (Number.isFinite(ttlS) && ttlS > 0 ? ttlS : 300) * 1000);
}

export function tokensFromEnv(env: Env = process.env): TokenSource {
  const arn = env['TOKEN_SECRET_ARN'];
  if (arn) return secretTokens(arn, env);
  const token = env['POSTBACK_TOKEN'];
  if (token) return staticTokens(token);
  throw new Error('neither TOKEN_SECRET_ARN nor POSTBACK_TOKEN is set');
}
