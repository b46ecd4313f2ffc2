/**
 * The Partnerize API keys in AWS: a Secrets Manager secret the stack creates empty and the brand
 * fills (`{"applicationKey": "…", "userApiKey": "…"}`, README "Order lifecycle"). Until it is
 * filled the source answers undefined: order updates wait (and a metric says so), nothing fails.
 * The keys are never logged; they leave this module only in the Authorization header.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ApiCredentials } from '../core/model.js';
import type { CredentialSource } from './partnerize-api.js';

/** The secret's value as the brand writes it (Partnerize's own spellings are read too). */
export function credentialsOf(secretString: string | undefined): ApiCredentials | undefined {
  if (secretString === undefined || secretString.trim() === '') return undefined;
  let o: Record<string, unknown>;
  try {
    const parsed = JSON.parse(secretString) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    o = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const pick = (...names: string[]) => names.map((n) => o[n]).find((v): v is string => typeof v === 'string' && v.trim() !== '');
  const applicationKey = pick('applicationKey', 'application_key', 'userApplicationKey');
  const userApiKey = pick('userApiKey', 'user_api_key', 'apiKey');
  return applicationKey && userApiKey ? { applicationKey: applicationKey.trim(), userApiKey: userApiKey.trim() } : undefined;
}

const isNotSet = (err: unknown) => (err as { name?: string } | null)?.name === 'ResourceNotFoundException';

export interface SecretCredentialsOptions {
  /** How long keys that were read are kept before reading again (a rotation takes effect within it). */
  ttlMs?: number;
  /** How soon an empty secret is read again (filling it takes effect within it). */
  missingTtlMs?: number;
  now?: () => number;
}

/**
 * Reads the secret's AWSCURRENT value. An empty secret (no value yet: ResourceNotFoundException) or
 * one that does not hold both keys is "not set". Any other failure is thrown: the run that asked
 * leaves its updates due and tries again next time.
 */
export function secretCredentials(client: SecretsManagerClient, secretId: string, opts: SecretCredentialsOptions = {}): CredentialSource {
  const ttlMs = opts.ttlMs ?? 300_000;
  const missingTtlMs = opts.missingTtlMs ?? 60_000;
  const now = opts.now ?? (() => Date.now());
  let cached: { value: ApiCredentials | undefined; at: number } | undefined;
  return async () => {
    if (cached && now() - cached.at < (cached.value ? ttlMs : missingTtlMs)) return cached.value;
    let value: ApiCredentials | undefined;
    try {
      const r = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      value = credentialsOf(r.SecretString);
    } catch (err) {
      if (!isNotSet(err)) throw err;
      value = undefined;
    }
    cached = { value, at: now() };
    return value;
  };
}
