import { describe, expect, it } from 'vitest';
import { ConfigError, trackerConfigFromEnv, trackerConfigToEnv } from '../../lambdas/commons/env-config.js';

describe('runtime config from the environment', () => {
  it('has safe defaults: dry run, consent required, production schedule', () => {
    const c = trackerConfigFromEnv({ PARTNERIZE_CAMPAIGN_ID: 'c1' });
    expect(c).toMatchObject({
      mode: 'dryrun', consentPolicy: 'required', purchaseEvents: ['purchase'], consentCategories: ['affiliates'],
      partnerize: { baseUrl: 'https://prf.hn', campaignId: 'c1', method: 'GET' }, attributionWindowDays: 30, inlineTimeoutMs: 3500, retryTimeoutMs: 15_000, leaseMs: 30_000,
    });
    expect(c.retryDelaysS).toEqual([60, 300, 900, 3600, 10800, 21600, 43200, 86400]);
  });

  it('names the variable at fault', () => {
    expect(() => trackerConfigFromEnv({})).toThrow(/PARTNERIZE_CAMPAIGN_ID/);
    expect(() => trackerConfigFromEnv({ PARTNERIZE_CAMPAIGN_ID: 'c', PARTNERIZE_MODE: 'on' })).toThrow(/PARTNERIZE_MODE/);
    expect(() => trackerConfigFromEnv({ PARTNERIZE_CAMPAIGN_ID: 'c', ATTRIBUTION_WINDOW_DAYS: '0' })).toThrow(/ATTRIBUTION_WINDOW_DAYS/);
    expect(() => trackerConfigFromEnv({ PARTNERIZE_CAMPAIGN_ID: 'c', TEALIUM_MAPPING: '{' })).toThrow(/TEALIUM_MAPPING/);
    expect(() => trackerConfigFromEnv({ PARTNERIZE_CAMPAIGN_ID: 'c', TEALIUM_MAPPING: '{"orderId":".x"}' })).toThrow(/tealiumMapping.orderId/);
    expect(() => trackerConfigFromEnv({ PARTNERIZE_CAMPAIGN_ID: 'c', RETRY_DELAYS_S: 'a' })).toThrow(ConfigError);
    // A lease shorter than an attempt and its recording would let a second sender double the send.
    expect(() => trackerConfigFromEnv({ PARTNERIZE_CAMPAIGN_ID: 'c', LEASE_S: '10' })).toThrow(/LEASE_S \(10\) must be at least 19/);
    expect(() => trackerConfigFromEnv({ PARTNERIZE_CAMPAIGN_ID: 'c', PARTNERIZE_DUPLICATE_ANSWER: '(' })).toThrow(/PARTNERIZE_DUPLICATE_ANSWER/);
  });

  it('round-trips through trackerConfigToEnv', () => {
    const env = trackerConfigToEnv({
      mode: 'live', baseUrl: 'https://prf.hn', campaignId: 'c2', method: 'POST', conversionRefPrefix: 'TEST-', attributionWindowDays: 7,
      conversionRetentionDays: 90, consentPolicy: 'assumed', consentCategories: ['affiliates', 'misc'], purchaseEvents: ['purchase', 'order'],
      tealiumMapping: { price: 'data.udo.product_unit_price' }, inlineTimeoutMs: 1500, retryTimeoutMs: 4000, retryDelaysS: [1, 2], leaseS: 20, minSessionIdLength: 8,
    });
    const c = trackerConfigFromEnv(env);
    expect(c).toMatchObject({
      mode: 'live', partnerize: { method: 'POST', campaignId: 'c2' }, conversionRefPrefix: 'TEST-', attributionWindowDays: 7, consentPolicy: 'assumed',
      consentCategories: ['affiliates', 'misc'], purchaseEvents: ['purchase', 'order'], retryDelaysS: [1, 2], leaseMs: 20_000, minSessionIdLength: 8,
    });
    expect(c.mapping.price).toEqual([['data', 'udo', 'product_unit_price']]);
  });
});
