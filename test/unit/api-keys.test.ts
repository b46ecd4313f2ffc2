/**
 * Where the Partnerize API keys come from (order updates): the secret the stack creates empty, read
 * with aws-sdk-client-mock; the two local variables; and the settings that name update events.
 */
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { credentialsOf, secretCredentials } from '#lambdas/adapters/api-credentials.js';
import { apiKeysLocationFromEnv, configFromEnv } from '#lambdas/runtime/env.js';

const sm = mockClient(SecretsManagerClient);
afterEach(() => sm.reset());
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PartnerizeApiKeys-AbCdEf';

describe('the API keys secret', () => {
  it('reads {"applicationKey", "userApiKey"} (and Partnerize\'s own spellings); anything else is "not set"', () => {
    expect(credentialsOf('{"applicationKey":" app ","userApiKey":"user"}')).toEqual({ applicationKey: 'app', userApiKey: 'user' });
    expect(credentialsOf('{"application_key":"a","user_api_key":"u"}')).toEqual({ applicationKey: 'a', userApiKey: 'u' });
    for (const v of [undefined, '', '{}', '{"applicationKey":"a"}', 'not json', '[1]', '{"applicationKey":"a","userApiKey":""}'])
      expect(credentialsOf(v), String(v)).toBeUndefined();
  });

  it('an empty secret (no value yet) is "not set": updates wait, nothing throws; once filled, read within a minute', async () => {
    let now = 0;
    sm.on(GetSecretValueCommand).rejectsOnce(
      new ResourceNotFoundException({
        message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        $metadata: {},
      }),
    );
    const source = secretCredentials(new SecretsManagerClient({}), ARN, { now: () => now });
    expect(await source()).toBeUndefined();
    sm.on(GetSecretValueCommand).resolves({ SecretString: '{"applicationKey":"a","userApiKey":"u"}' });
    now = 30_000;
    expect(await source()).toBeUndefined();
    now = 61_000;
    expect(await source()).toEqual({ applicationKey: 'a', userApiKey: 'u' });
    now = 200_000;
    expect(await source()).toEqual({ applicationKey: 'a', userApiKey: 'u' });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: ARN });
  });

  it('another failure (Secrets Manager unreachable) is thrown: the run leaves its updates due', async () => {
    sm.on(GetSecretValueCommand).rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));
    await expect(secretCredentials(new SecretsManagerClient({}), ARN)()).rejects.toThrow(/socket hang up/);
  });
});

describe('apiKeysLocationFromEnv', () => {
  it('the secret in AWS, the two variables locally, or none yet; one key alone is refused, naming both', () => {
    expect(apiKeysLocationFromEnv({ PARTNERIZE_API_KEYS_SECRET_ARN: ARN })).toEqual({ secretArn: ARN });
    expect(apiKeysLocationFromEnv({ PARTNERIZE_APPLICATION_KEY: 'a', PARTNERIZE_USER_API_KEY: ' u ' })).toEqual({
      keys: { applicationKey: 'a', userApiKey: 'u' },
    });
    expect(apiKeysLocationFromEnv({ PARTNERIZE_APPLICATION_KEY: ' ' })).toEqual({ none: true });
    expect(() => apiKeysLocationFromEnv({ PARTNERIZE_APPLICATION_KEY: 'a' })).toThrow(
      /PARTNERIZE_APPLICATION_KEY is set but PARTNERIZE_USER_API_KEY is not/,
    );
    expect(() => apiKeysLocationFromEnv({ PARTNERIZE_USER_API_KEY: 'u' })).toThrow(
      /PARTNERIZE_USER_API_KEY is set but PARTNERIZE_APPLICATION_KEY/,
    );
  });
});

describe('order update settings', () => {
  it("defaults: Tealium retail names, Partnerize's API host, automatic approval off", () => {
    expect(configFromEnv({})).toMatchObject({
      cancelEvents: ['order_cancel'],
      refundEvents: ['order_refund'],
      returnEvents: ['return', 'order_return'],
      approveEvents: ['order_approve'],
      partnerizeApiBaseUrl: 'https://api.partnerize.com',
      autoApproveAfterDays: 0,
      updateBatchSize: 1000,
    });
  });

  it('an event name may mean one thing only (a purchase, or one kind of update)', () => {
    expect(() => configFromEnv({ CANCEL_EVENTS: 'purchase' })).toThrow(/CANCEL_EVENTS names 'purchase', which PURCHASE_EVENTS names too/);
    expect(() => configFromEnv({ REFUND_EVENTS: 'Return' })).toThrow(/RETURN_EVENTS names 'return', which REFUND_EVENTS names too/);
    expect(() => configFromEnv({ UPDATE_BATCH_SIZE: '100001' })).toThrow(/UPDATE_BATCH_SIZE/);
    expect(() => configFromEnv({ PARTNERIZE_API_BASE_URL: 'ftp://x' })).toThrow(/PARTNERIZE_API_BASE_URL/);
  });
});
