import { describe, expect, it } from 'vitest';
import { contextOverrides, overrideMessage } from '../../lib/context-overrides.js';

const file = {
  partnerizeMode: 'dryrun',
  partnerizeCampaignId: '1011l0000',
  sweepLimit: 200,
  enableWaf: false,
  purchaseEvents: ['purchase'],
  '@aws-cdk/core:newStyleStackSynthesis': true,
};

describe('contextOverrides', () => {
  it('names each setting whose value in effect differs from cdk.json (it came from -c)', () => {
    const given: Record<string, unknown> = { ...file, partnerizeMode: 'live', partnerizeCampaignId: '1011l270' };
    const o = contextOverrides(file, (k) => given[k]);
    expect(o.map((x) => [x.key, x.value, x.inFile])).toEqual([
      ['partnerizeMode', 'live', 'dryrun'],
      ['partnerizeCampaignId', '1011l270', '1011l0000'],
    ]);
    expect(overrideMessage(o[0]!)).toMatch(
      /partnerizeMode is "live" from the command line \(-c\) only; cdk\.json says "dryrun"\. The next `npx cdk deploy`/,
    );
  });

  it('a -c repeating the file (as text, a comma list or JSON) is no override; CDK flags are not settings', () => {
    const given: Record<string, unknown> = {
      ...file,
      sweepLimit: '200',
      enableWaf: 'false',
      purchaseEvents: 'purchase',
      '@aws-cdk/core:newStyleStackSynthesis': 'false',
    };
    expect(contextOverrides(file, (k) => given[k])).toEqual([]);
    expect(contextOverrides(file, (k) => ({ ...file, purchaseEvents: '["purchase"]' })[k])).toEqual([]);
    expect(contextOverrides(file, (k) => ({ ...file, purchaseEvents: 'purchase,order' })[k]).map((x) => x.key)).toEqual(['purchaseEvents']);
  });
});
