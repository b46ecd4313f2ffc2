import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { campaignsOf, readCampaignRules, refPrefixesOf, routeOrder, siteHost, type CampaignRule } from '#lambdas/core/campaigns.js';

const UK: CampaignRule = { name: 'uk', campaignId: '1100l111', conversionRefPrefix: '', match: { country: ['GB'] } };
const DE: CampaignRule = {
  name: 'de',
  campaignId: '1100l222',
  conversionRefPrefix: 'TEST-',
  match: { country: ['DE', 'AT'], currency: ['EUR'] },
};
const SHOP_FR: CampaignRule = {
  name: 'fr',
  campaignId: '1100l333',
  conversionRefPrefix: 'FR-',
  match: { site: ['*.example.fr', 'example.fr'] },
};
const settings = (campaigns: CampaignRule[]) => ({ partnerizeCampaignId: '1100l000', conversionRefPrefix: 'ALL-', campaigns });

const read = (raw: unknown) => readCampaignRules(raw);
const problem = (raw: unknown) => {
  const r = read(raw);
  return r.ok ? undefined : r.message;
};

describe('readCampaignRules', () => {
  it('reads a JSON list (or its text), normalising codes and hostnames; empty means one campaign', () => {
    const rules = [
      { name: 'uk', campaignId: '1100l111', match: { country: ['gb'] } },
      { name: 'de', campaignId: '1100l222', conversionRefPrefix: 'TEST-', match: { country: ['DE', 'at'], currency: ['eur'] } },
      { name: 'fr', campaignId: '1100l333', conversionRefPrefix: 'FR-', match: { site: ['*.Example.FR', 'example.fr.'] } },
    ];
    const expected = [UK, DE, SHOP_FR];
    expect(read(rules)).toEqual({ ok: true, value: expected });
    expect(read(JSON.stringify(rules))).toEqual({ ok: true, value: expected });
    expect(read([])).toEqual({ ok: true, value: [] });
    expect(read('')).toEqual({ ok: true, value: [] });
  });

  it('names the rule and the key of every problem', () => {
    expect(problem('{not json')).toMatch(/^must be a JSON list of campaign rules/);
    expect(problem({ name: 'uk' })).toMatch(/^must be a JSON list/);
    expect(problem([null])).toMatch(/^\[0\] must be an object/);
    expect(problem([{ ...UK, extra: 1 }])).toMatch(/^\[0\]\.extra is not a key of a campaign rule/);
    expect(problem([{ ...UK, name: 'UK site' }])).toMatch(/^\[0\]\.name must be 1-32 of a-z/);
    expect(problem([UK, { ...DE, name: 'uk' }])).toMatch(/^\[1\]\.name 'uk' is the name of an earlier rule/);
    expect(problem([{ ...UK, name: 'default' }])).toMatch(/^\[0\]\.name 'default' is the default campaign/);
    expect(problem([{ ...UK, campaignId: 'has space' }])).toMatch(/^\[0\]\.campaignId must be your Partnerize campaign id/);
    expect(problem([{ ...UK, conversionRefPrefix: 'TEST/' }])).toMatch(/^\[0\]\.conversionRefPrefix must be up to 32/);
    expect(problem([{ ...UK, match: {} }])).toMatch(/^\[0\]\.match must be an object naming at least one of country, currency, site/);
    expect(problem([{ ...UK, match: { language: ['en'] } }])).toMatch(/^\[0\]\.match\.language is not a criterion/);
    expect(problem([{ ...UK, match: { country: [] } }])).toMatch(/^\[0\]\.match\.country must be a non-empty list/);
    expect(problem([UK, { ...DE, match: { country: ['DE', 'Germany'] } }])).toMatch(
      /^\[1\]\.match\.country\[1\] must be one of ISO country codes/,
    );
    expect(problem([{ ...UK, match: { site: ['https://shop.example.com/'] } }])).toMatch(
      /^\[0\]\.match\.site\[0\] must be one of hostnames/,
    );
  });

  it('property: whatever the input, it reads rules or names the problem; never throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.string()), (raw) => {
        const r = read(raw);
        if (!r.ok) expect(r.message.length).toBeGreaterThan(0);
        else for (const rule of r.value) expect(Object.keys(rule.match).length).toBeGreaterThan(0);
      }),
    );
  });
});

describe('routeOrder', () => {
  const s = settings([UK, DE, SHOP_FR]);

  it('the first rule whose every criterion matches; else the default', () => {
    expect(routeOrder({ country: 'gb', currency: 'GBP' }, s)).toEqual({ ...UK, match: undefined, routedBy: 'country GB' } as never);
    expect(routeOrder({ country: 'DE', currency: 'EUR' }, s)).toMatchObject({
      name: 'de',
      campaignId: '1100l222',
      conversionRefPrefix: 'TEST-',
      routedBy: 'country DE, currency EUR',
    });
    // Every criterion must hold: a German order in pounds is not the German campaign's.
    expect(routeOrder({ country: 'DE', currency: 'GBP' }, s)).toMatchObject({
      name: 'default',
      campaignId: '1100l000',
      conversionRefPrefix: 'ALL-',
      routedBy: 'default',
    });
    expect(routeOrder({ site: 'https://www.example.fr/checkout?x=1' }, s)).toMatchObject({ name: 'fr', routedBy: 'site www.example.fr' });
    expect(routeOrder({ site: 'example.fr' }, s)).toMatchObject({ name: 'fr' });
    expect(routeOrder({ site: 'notexample.fr' }, s)).toMatchObject({ name: 'default' });
    expect(routeOrder({}, s)).toMatchObject({ name: 'default' });
  });

  it('an explicit campaign field names the campaign (rule name, campaign id or default), whatever else matches', () => {
    expect(routeOrder({ campaign: 'de', country: 'GB' }, s)).toMatchObject({ name: 'de', routedBy: 'campaign field' });
    expect(routeOrder({ campaign: '1100l333' }, s)).toMatchObject({ name: 'fr', routedBy: 'campaign field' });
    expect(routeOrder({ campaign: 'DEFAULT', country: 'GB' }, s)).toMatchObject({ name: 'default', routedBy: 'campaign field' });
    expect(() => routeOrder({ campaign: 'es' }, s)).toThrow(
      expect.objectContaining({ name: 'InputError', code: 'invalid_field', field: 'campaign' }),
    );
    expect(() => routeOrder({ campaign: 'es' }, s)).toThrow("campaign 'es' is not a campaign of this deployment (default, uk, de, fr)");
  });

  it('property: routing is total and lands on a campaign of the deployment', () => {
    const all = campaignsOf(s);
    fc.assert(
      fc.property(
        fc.record({
          country: fc.option(fc.constantFrom('GB', 'gb', 'DE', 'AT', 'FR', 'US'), { nil: undefined }),
          currency: fc.option(fc.constantFrom('GBP', 'EUR', 'usd'), { nil: undefined }),
          site: fc.option(fc.oneof(fc.webUrl(), fc.domain()), { nil: undefined }),
        }),
        (facts) => {
          const r = routeOrder(facts, s);
          expect(all.map((c) => c.name)).toContain(r.name);
          expect(all.find((c) => c.name === r.name)).toMatchObject({
            campaignId: r.campaignId,
            conversionRefPrefix: r.conversionRefPrefix,
          });
        },
      ),
    );
  });
});

describe('the deployment’s campaigns', () => {
  it('the default first, then the rules; prefixes distinct, the default’s first', () => {
    const s = settings([UK, DE, { ...SHOP_FR, conversionRefPrefix: 'TEST-' }]);
    expect(campaignsOf(s).map((c) => [c.name, c.campaignId, c.conversionRefPrefix])).toEqual([
      ['default', '1100l000', 'ALL-'],
      ['uk', '1100l111', ''],
      ['de', '1100l222', 'TEST-'],
      ['fr', '1100l333', 'TEST-'],
    ]);
    expect(refPrefixesOf(s)).toEqual(['ALL-', '', 'TEST-']);
  });

  it('siteHost takes a hostname or a URL’s host', () => {
    expect(siteHost('Shop.Example.com')).toBe('shop.example.com');
    expect(siteHost('https://shop.example.com:8443/a?b')).toBe('shop.example.com');
    expect(siteHost('shop.example.com/path')).toBe('shop.example.com');
    expect(siteHost('  ')).toBeUndefined();
  });
});
