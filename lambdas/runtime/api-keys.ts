/**
 * The Partnerize API keys as the retry and reconcile functions read them: the secret the stack
 * created (AWS, read at run time, so filling it takes effect without a deploy), the two variables
 * (local mode), or none yet.
 */
import { API_KEYS_READ } from '../core/answer-budget.js';
import { secretCredentials } from '../adapters/api-credentials.js';
import { staticCredentials, type CredentialSource } from '../adapters/partnerize-api.js';
import { apiKeysLocationFromEnv, type Env } from './env.js';
import { secretsManagerClient } from './secrets.js';

export function apiCredentials(env: Env): CredentialSource {
  const where = apiKeysLocationFromEnv(env);
  if ('keys' in where) return staticCredentials(where.keys);
  if ('none' in where) return staticCredentials(undefined);
  const client = secretsManagerClient(API_KEYS_READ);
  return secretCredentials(client, where.secretArn);
}
