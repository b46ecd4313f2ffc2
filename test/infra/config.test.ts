import { describe, expect, it } from 'vitest';
import { ConfigValidationError, CONFIG_KEYS, parseConfig } from '../../lib/config.js';
import { cdkJsonContext, configWith } from '../support/stack.js';

describe('deploy config', () => {
  it('cdk.json holds a valid default for every key', () => {
    const context = cdkJsonContext();
    for (const key of CONFIG_KEYS) expect(context, key).toHaveProperty(key);
    expect(() => parseConfig(context)).not.toThrow();
  });

  it('reads -c overrides given as text: numbers, lists (JSON or comma-separated), JSON objects, booleans', () => {
    const c = configWith({
      attributionWindowDays: '45',
      purchaseEvents: 'purchase, order_complete',
      consentCategories: '["affiliates","misc"]',
      retryDelaysS: '1,2,3',
      tealiumMapping: '{"price":"data.udo.product_unit_price"}',
      enableWaf: 'true',
    });
    expect(c.attributionWindowDays).toBe(45);
    expect(c.purchaseEvents).toEqual(['purchase', 'order_complete']);
    expect(c.consentCategories).toEqual(['affiliates', 'misc']);
    expect(c.retryDelaysS).toEqual([1, 2, 3]);
    expect(c.tealiumMapping).toEqual({ price: 'data.udo.product_unit_price' });
    expect(c.enableWaf).toBe(true);
  });

  it.each([
    ['partnerizeMode', 'sometimes'],
    ['partnerizeBaseUrl', 'http://prf.hn'],
    ['partnerizeCampaignId', 'has space'],
    ['attributionWindowDays', '0'],
    ['consentPolicy', 'maybe'],
    ['purchaseEvents', ''],
    ['tealiumMapping', '{"orderId":"a..b"}'],
    ['tealiumMapping', '{"nope":"a"}'],
    ['allowedClickOrigins', 'www.acme.example'],
    ['logRetentionDays', '42'],
    ['alarmEmails', 'not-an-email'],
    ['retryDelaysS', '1,-2'],
  ])('an invalid %s fails with a message naming the key', (key, value) => {
    try {
      configWith({ [key]: value });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigValidationError);
      expect((err as Error).message).toContain(`${key}`);
    }
  });

  it('a missing key says how to set it', () => {
    const context = cdkJsonContext();
    delete context['partnerizeCampaignId'];
    expect(() => parseConfig(context)).toThrow(/partnerizeCampaignId: .*-c partnerizeCampaignId=/);
  });
});
