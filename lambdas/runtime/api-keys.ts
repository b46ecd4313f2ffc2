/**
 * The Partnerize API keys as the retry and reconcile functions read them: the secret the stack
 * created (AWS, read at run time, so filling it takes effect without a deploy), the two variables
 * (local mode), or none yet.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretCredentials } from '../adapters/api-credentials.js';
import { staticCredentials, type CredentialSource } from '../adapters/partnerize-api.js';
import { apiKeysLocationFromEnv, type Env } from './env.js';

export function apiCredentials(env: Env): CredentialSource {
  const where = apiKeysLocationFromEnv(env);
  if ('keys' in where) return staticCredentials(where.keys);
  if ('none' in where) return staticCredentials(undefined);
  const client = new SecretsManagerClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1000, requestTimeout: 3000 } });
  return secretCredentials(client, where.secretArn);
}
