/** The call the tracker sent, read back from the record (core/reconcile-call.ts). */
import { describe, expect, it } from 'vitest';
import { buildConversionUrl } from '#lambdas/core/partnerize-url.js';
import { sentCallOf } from '#lambdas/core/reconcile-call.js';

const CAMPAIGN = '1011l270';
const WINDOW = { from: Date.UTC(2026, 10, 23) };

describe('sentCallOf', () => {
  it('reads back the call the tracker made, encoded values included', () => {
    const url = buildConversionUrl('https://prf.hn', {
      campaignId: CAMPAIGN,
      clickref: 'AbC',
      conversionRef: 'ORD/1:[x]',
      currency: 'GBP',
      conversionTime: WINDOW.from,
      items: [{ sku: 'a/b:[c]', category: 'x y', value: '19.99', quantity: 3 }],
    });
    expect(sentCallOf(url)).toEqual({
      campaignId: CAMPAIGN,
      clickref: 'AbC',
      conversionRef: 'ORD/1:[x]',
      currency: 'GBP',
      conversionTime: '2026-11-23 00:00:00',
      items: [{ sku: 'a/b:[c]', category: 'x y', value: '19.99', quantity: 3 }],
    });
  });

  it('leaves out what it cannot read: an item without a plain value', () => {
    const url =
      'https://prf.hn/conversion/campaign:c1/conversionref:R1/currency:GBP/[sku:A/value:1e3/quantity:1]/[sku:B/value:2.50/quantity:2]';
    expect(sentCallOf(url)).toMatchObject({ campaignId: 'c1', conversionRef: 'R1', items: [{ sku: 'B', value: '2.50', quantity: 2 }] });
  });
});
