/**
 * The local mode's environment as the one environment module reads it (lambdas/runtime/env.ts,
 * localModeFromEnv): README "Local mode settings", its names and defaults, and a bad value refused
 * naming its variable.
 */
import { describe, expect, it } from 'vitest';
import { apiKeysFromEnv, EnvError, localModeFromEnv, LOCAL_ENV } from '#lambdas/runtime/env.js';
import { defaultSettings } from '#lambdas/core/settings.js';

describe('localModeFromEnv', () => {
  it('has the README defaults', () => {
    const local = localModeFromEnv({});
    expect(local).toMatchObject({
      port: 3000,
      givenToken: undefined,
      dataDir: undefined,
      sweepIntervalS: 60,
      clickOrigins: ['*'],
      maxConnections: 128,
      apiKeys: undefined,
      passedOn: { POWERTOOLS_METRICS_DISABLED: 'true' },
    });
    expect(local.functions).toEqual(defaultSettings());
  });

  it('reads the documented variables', () => {
    const local = localModeFromEnv({
      PORT: '0',
      POSTBACK_TOKEN: 'tok',
      DATA_DIR: './.local-data',
      SWEEP_INTERVAL_S: '0.2',
      CLICK_ORIGINS: 'https://a.example, https://b.example',
      MAX_CONNECTIONS: '3',
      PARTNERIZE_APPLICATION_KEY: ' app ',
      PARTNERIZE_USER_API_KEY: 'user',
      PARTNERIZE_MODE: 'live',
      PARTNERIZE_CAMPAIGN_ID: '1011l270',
      RETRY_DELAYS_S: '0.2,0.5,1',
      SEGMENT_SHARED_SECRET: 's',
      LOG_LEVEL: 'DEBUG',
    });
    expect(local).toMatchObject({
      port: 0,
      givenToken: 'tok',
      dataDir: './.local-data',
      sweepIntervalS: 0.2,
      clickOrigins: ['https://a.example', 'https://b.example'],
      maxConnections: 3,
      apiKeys: { applicationKey: 'app', userApiKey: 'user' },
      passedOn: { SEGMENT_SHARED_SECRET: 's', LOG_LEVEL: 'DEBUG', POWERTOOLS_METRICS_DISABLED: 'true' },
    });
    expect(local.functions).toMatchObject({ partnerizeMode: 'live', partnerizeCampaignId: '1011l270', retryDelaysS: [0.2, 0.5, 1] });
  });

  it('an empty value of the contract table means the default; an empty CLICK_ORIGINS means none', () => {
    const local = localModeFromEnv({
      PORT: '',
      PARTNERIZE_BASE_URL: '',
      PARTNERIZE_CAMPAIGN_ID: ' ',
      PARTNERIZE_MODE: '',
      RETRY_DELAYS_S: '',
      PARTNERIZE_API_BASE_URL: '',
      SWEEP_INTERVAL_S: '',
      MAX_CONNECTIONS: '',
      CLICK_ORIGINS: '',
    });
    expect(local.port).toBe(3000);
    expect(local.functions).toEqual(defaultSettings());
    expect(local.sweepIntervalS).toBe(60);
    expect(local.maxConnections).toBe(128);
    expect(local.clickOrigins).toEqual([]);
  });

  it('refuses a bad value, naming its variable', () => {
    for (const [name, value] of [
      [LOCAL_ENV.port, '70000'],
      [LOCAL_ENV.port, 'http'],
      [LOCAL_ENV.sweepIntervalS, '0'],
      [LOCAL_ENV.sweepIntervalS, 'often'],
      [LOCAL_ENV.maxConnections, 'lots'],
      [LOCAL_ENV.maxConnections, '1.5'],
    ] as const) {
      expect(() => localModeFromEnv({ [name]: value }), `${name}=${value}`).toThrow(EnvError);
      expect(() => localModeFromEnv({ [name]: value }), `${name}=${value}`).toThrow(new RegExp(`^${name} must be`));
    }
    expect(() => localModeFromEnv({ PARTNERIZE_MODE: 'on' })).toThrow(/PARTNERIZE_MODE/);
    expect(() => localModeFromEnv({ PARTNERIZE_APPLICATION_KEY: 'a' })).toThrow(
      /PARTNERIZE_APPLICATION_KEY is set but PARTNERIZE_USER_API_KEY is not/,
    );
  });
});

describe('apiKeysFromEnv (the local mode, the CLI, and the functions without a secret)', () => {
  it('both keys, or neither; one alone is refused naming both', () => {
    expect(apiKeysFromEnv({})).toBeUndefined();
    expect(apiKeysFromEnv({ PARTNERIZE_APPLICATION_KEY: ' ', PARTNERIZE_USER_API_KEY: '' })).toBeUndefined();
    expect(apiKeysFromEnv({ PARTNERIZE_APPLICATION_KEY: 'a ', PARTNERIZE_USER_API_KEY: ' u' })).toEqual({
      applicationKey: 'a',
      userApiKey: 'u',
    });
    expect(() => apiKeysFromEnv({ PARTNERIZE_USER_API_KEY: 'u' })).toThrow(/PARTNERIZE_USER_API_KEY is set but PARTNERIZE_APPLICATION_KEY/);
  });
});
