/**
 * Several Partnerize campaigns in one deployment (README "Several campaigns"): the `campaigns`
 * setting is a list of rules, each naming a campaign id and its own conversionRef prefix, so one
 * campaign can be in its `TEST-` parallel run while another is live. An order goes to the campaign
 * its `campaign` field names (by rule name or campaign id), else to the first rule whose every
 * criterion matches (country, currency, site: the shop's hostname), else to the default campaign
 * (`partnerizeCampaignId` with `conversionRefPrefix`). Pure: no I/O.
 */
import { InputError } from './errors.js';
import type { Converted } from './fields.js';

/** The criteria of a rule: each is a list of accepted values; a rule matches when every criterion it names does. */
export interface CampaignMatch {
  /** ISO 3166-1 alpha-2 country codes (any case). */
  country?: string[];
  /** ISO 4217 currency codes (any case). */
  currency?: string[];
  /** Hostnames of the shop (any case; `*.example.com` matches its subdomains, not itself). */
  site?: string[];
}

export interface CampaignRule {
  /** How the campaign is called: in `pz lookup`, metrics, an order's `campaign` field. */
  name: string;
  campaignId: string;
  /** Prepended to the order id to make the conversionRef (default none). */
  conversionRefPrefix: string;
  match: CampaignMatch;
}

/** Where an order goes, and why (recorded on the conversion, shown by `pz lookup`). */
export interface CampaignRoute {
  name: string;
  campaignId: string;
  conversionRefPrefix: string;
  /** `default`, `campaign field`, or the criteria that matched (`country GB, currency GBP`). */
  routedBy: string;
}

/** A deployment's campaigns: the default first, then each rule's (distinct by name). */
export interface Campaign {
  name: string;
  campaignId: string;
  conversionRefPrefix: string;
}

/** The name of the campaign `partnerizeCampaignId` / `conversionRefPrefix` describe. */
export const DEFAULT_CAMPAIGN = 'default';

const CRITERIA: Record<keyof CampaignMatch, [RegExp, string]> = {
  country: [/^[A-Z]{2}$/, 'ISO country codes such as "GB"'],
  currency: [/^[A-Z]{3}$/, 'ISO currency codes such as "GBP"'],
  site: [/^(\*\.)?([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}$/, 'hostnames such as "shop.example.de" or "*.example.de"'],
};
/**
 * What a Partnerize campaign id looks like, and what a conversionRef prefix may be: one home for
 * both, read by a rule's keys here and by the `partnerizeCampaignId` and `conversionRefPrefix`
 * settings (core/settings.ts). Each is a pattern and what it asks, for the error.
 */
export const CAMPAIGN_ID_FORMAT: [RegExp, string] = [/^[A-Za-z0-9_-]{1,64}$/, 'your Partnerize campaign id: 1-64 letters, digits, _ or -'];
export const CONVERSION_REF_PREFIX_FORMAT: [RegExp, string] = [/^[A-Za-z0-9_.-]{0,32}$/, 'up to 32 letters, digits, _ . or -'];
/** Each key of a rule: how it is checked, and what it must be. */
const KEYS: Record<string, [RegExp, string]> = {
  name: [/^[a-z0-9][a-z0-9_-]{0,31}$/, '1-32 of a-z, 0-9, _ or -'],
  campaignId: CAMPAIGN_ID_FORMAT,
  conversionRefPrefix: CONVERSION_REF_PREFIX_FORMAT,
  match: [/$^/, 'an object naming at least one of country, currency, site'],
};
const shown = (v: unknown): string => JSON.stringify(v) ?? String(v);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

class RuleError extends Error {}
const must = (ok: boolean, at: string, message: string): void => {
  if (!ok) throw new RuleError(`${at} ${message}`);
};

/**
 * Reads the `campaigns` setting: a JSON list of rules (`[]`: one campaign). Every problem names
 * the rule and its key (`[1].match.country[0]`), so `cdk synth` says which.
 */
export function readCampaignRules(raw: unknown): Converted<CampaignRule[]> {
  try {
    let v = raw;
    if (typeof v === 'string') v = v.trim() === '' ? [] : JSON.parse(v);
    must(Array.isArray(v), 'must be', 'a JSON list of campaign rules');
    const names = new Set([DEFAULT_CAMPAIGN]);
    const rules = (v as unknown[]).map((r, i): CampaignRule => {
      const at = `[${i}]`;
      must(isObject(r), at, 'must be an object {name, campaignId, conversionRefPrefix?, match}');
      const o: Record<string, unknown> = { conversionRefPrefix: '', ...(r as Record<string, unknown>) };
      for (const key of Object.keys(o))
        must(key in KEYS, `${at}.${key}`, `is not a key of a campaign rule (${Object.keys(KEYS).join(', ')})`);
      for (const [key, [pattern, what]] of Object.entries(KEYS)) {
        const value = o[key];
        if (key !== 'match')
          must(typeof value === 'string' && pattern.test(value), `${at}.${key}`, `must be ${what} (got ${shown(value)})`);
      }
      const name = o['name'] as string;
      must(
        !names.has(name),
        `${at}.name`,
        `'${name}' is ${name === DEFAULT_CAMPAIGN ? 'the default campaign' : 'the name of an earlier rule'}`,
      );
      names.add(name);
      const m = o['match'];
      must(isObject(m) && Object.keys(m).length > 0, `${at}.match`, `must be ${KEYS['match']![1]}`);
      const match: CampaignMatch = {};
      for (const [key, list] of Object.entries(m as Record<string, unknown>)) {
        const [pattern, what] = CRITERIA[key as keyof CampaignMatch] ?? [];
        must(what !== undefined, `${at}.match.${key}`, 'is not a criterion (country, currency, site)');
        must(Array.isArray(list) && list.length > 0, `${at}.match.${key}`, `must be a non-empty list of ${what}`);
        match[key as keyof CampaignMatch] = (list as unknown[]).map((x, j) => {
          const value = typeof x === 'string' ? x.trim().replace(/\.$/, '') : '';
          const norm = key === 'site' ? value.toLowerCase() : value.toUpperCase();
          must(pattern!.test(norm), `${at}.match.${key}[${j}]`, `must be one of ${what} (got ${shown(x)})`);
          return norm;
        });
      }
      return { name, campaignId: o['campaignId'] as string, conversionRefPrefix: o.conversionRefPrefix as string, match };
    });
    return { ok: true, value: rules };
  } catch (err) {
    if (err instanceof SyntaxError) return { ok: false, message: `must be a JSON list of campaign rules, got ${shown(raw)}` };
    if (err instanceof RuleError)
      return {
        ok: false,
        message: err.message === 'must be a JSON list of campaign rules' ? `${err.message}, got ${shown(raw)}` : err.message,
      };
    throw err;
  }
}

interface CampaignSettings {
  partnerizeCampaignId: string;
  conversionRefPrefix: string;
  campaigns: readonly CampaignRule[];
}

const defaultOf = (s: CampaignSettings): Campaign => ({
  name: DEFAULT_CAMPAIGN,
  campaignId: s.partnerizeCampaignId,
  conversionRefPrefix: s.conversionRefPrefix,
});

/** Every campaign of the deployment, the default first. */
export function campaignsOf(s: CampaignSettings): Campaign[] {
  return [defaultOf(s), ...s.campaigns.map(({ name, campaignId, conversionRefPrefix }) => ({ name, campaignId, conversionRefPrefix }))];
}

/** The distinct conversionRef prefixes (the default's first): where an order id's record may be. */
export function refPrefixesOf(s: CampaignSettings): string[] {
  return [...new Set(campaignsOf(s).map((c) => c.conversionRefPrefix))];
}

/** What of an order routes it (its country and currency as validated; its site's hostname). */
export interface RoutingFacts {
  campaign?: string | undefined;
  country?: string | undefined;
  currency?: string | undefined;
  site?: string | undefined;
}

/** The hostname of a site value: a hostname, or a URL whose host is taken. */
export function siteHost(site: string): string | undefined {
  const t = site.trim();
  if (t === '') return undefined;
  const host = /^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? (URL.canParse(t) ? new URL(t).hostname : undefined) : t.split(/[/:?#]/)[0];
  return host ? host.toLowerCase().replace(/\.$/, '') : undefined;
}

const siteMatches = (patterns: readonly string[], host: string): boolean =>
  patterns.some((p) => (p.startsWith('*.') ? host.endsWith(p.slice(1)) : host === p));

/**
 * Where an order goes. Its `campaign` field, when present, names the campaign (a rule's name, a
 * campaign id, or `default`); a value naming none is an InputError on `campaign` (the caller
 * renames it to the sender's field), never a guess.
 */
export function routeOrder(facts: RoutingFacts, s: CampaignSettings): CampaignRoute {
  const all = campaignsOf(s);
  if (facts.campaign !== undefined && facts.campaign.trim() !== '') {
    const want = facts.campaign.trim();
    const named = all.find((c) => c.name === want.toLowerCase()) ?? all.find((c) => c.campaignId === want);
    if (!named)
      throw new InputError(
        'invalid_field',
        `campaign '${want.slice(0, 64)}' is not a campaign of this deployment (${all.map((c) => c.name).join(', ')})`,
        'campaign',
      );
    return { ...named, routedBy: 'campaign field' };
  }
  const country = facts.country?.toUpperCase();
  const currency = facts.currency?.toUpperCase();
  const host = facts.site === undefined ? undefined : siteHost(facts.site);
  for (const rule of s.campaigns) {
    const { match } = rule;
    const why: string[] = [];
    if (match.country) {
      if (!country || !match.country.includes(country)) continue;
      why.push(`country ${country}`);
    }
    if (match.currency) {
      if (!currency || !match.currency.includes(currency)) continue;
      why.push(`currency ${currency}`);
    }
    if (match.site) {
      if (!host || !siteMatches(match.site, host)) continue;
      why.push(`site ${host}`);
    }
    return { name: rule.name, campaignId: rule.campaignId, conversionRefPrefix: rule.conversionRefPrefix, routedBy: why.join(', ') };
  }
  return { ...defaultOf(s), routedBy: 'default' };
}
