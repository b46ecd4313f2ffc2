/**
 * Several Partnerize campaigns in one deployment (README "Several campaigns"): the `campaigns`
 * setting is a list of rules, each naming a campaign id and its own conversionRef prefix, so one
 * campaign can be in its `TEST-` parallel run while another is live. An order goes to the campaign
 * its `campaign` field names (by rule name or campaign id), else to the first rule whose every
 * criterion matches (country, currency, site: the shop's hostname), else to the default campaign
 * (`partnerizeCampaignId` with `conversionRefPrefix`). Pure: no I/O.
 */
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

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const CAMPAIGN_ID = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX = /^[A-Za-z0-9_.-]{0,32}$/;
const COUNTRY = /^[A-Za-z]{2}$/;
const CURRENCY = /^[A-Za-z]{3}$/;
const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const CRITERIA: Record<keyof CampaignMatch, { pattern: RegExp; what: string; norm: (v: string) => string }> = {
  country: { pattern: COUNTRY, what: 'ISO country codes such as "GB"', norm: (v) => v.toUpperCase() },
  currency: { pattern: CURRENCY, what: 'ISO currency codes such as "GBP"', norm: (v) => v.toUpperCase() },
  site: {
    pattern: HOST,
    what: 'hostnames such as "shop.example.co.uk" or "*.example.de"',
    norm: (v) => v.toLowerCase().replace(/\.$/, ''),
  },
};
const CRITERIA_KEYS = Object.keys(CRITERIA) as Array<keyof CampaignMatch>;
const RULE_KEYS = new Set(['name', 'campaignId', 'conversionRefPrefix', 'match']);
const shown = (v: unknown): string => JSON.stringify(v) ?? String(v);

/**
 * Reads the `campaigns` setting: a JSON list of rules (`[]`: one campaign). Every problem names
 * the rule and its key (`campaigns[1].match.country[0]`), so `cdk synth` says which.
 */
export function readCampaignRules(raw: unknown): Converted<CampaignRule[]> {
  let v = raw;
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return { ok: true, value: [] };
    try {
      v = JSON.parse(t) as unknown;
    } catch {
      return { ok: false, message: `must be a JSON list of campaign rules, got ${shown(raw)}` };
    }
  }
  if (!Array.isArray(v)) return { ok: false, message: `must be a JSON list of campaign rules, got ${shown(raw)}` };
  const rules: CampaignRule[] = [];
  const names = new Set<string>([DEFAULT_CAMPAIGN]);
  for (const [i, r] of v.entries()) {
    const at = `[${i}]`;
    if (r === null || typeof r !== 'object' || Array.isArray(r))
      return fail(at, 'must be an object {name, campaignId, conversionRefPrefix?, match}');
    const o = r as Record<string, unknown>;
    const unknown = Object.keys(o).find((k) => !RULE_KEYS.has(k));
    if (unknown) return fail(`${at}.${unknown}`, 'is not a key of a campaign rule (name, campaignId, conversionRefPrefix, match)');
    if (typeof o.name !== 'string' || !NAME.test(o.name))
      return fail(`${at}.name`, `must be 1-32 of a-z, 0-9, _ or - (got ${shown(o.name)})`);
    if (names.has(o.name))
      return fail(`${at}.name`, `'${o.name}' is ${o.name === DEFAULT_CAMPAIGN ? 'the default campaign' : 'the name of an earlier rule'}`);
    names.add(o.name);
    if (typeof o.campaignId !== 'string' || !CAMPAIGN_ID.test(o.campaignId))
      return fail(`${at}.campaignId`, `must be your Partnerize campaign id: 1-64 letters, digits, _ or - (got ${shown(o.campaignId)})`);
    const prefix = o.conversionRefPrefix ?? '';
    if (typeof prefix !== 'string' || !PREFIX.test(prefix))
      return fail(`${at}.conversionRefPrefix`, `must be up to 32 letters, digits, _ . or - (got ${shown(prefix)})`);
    const m = o.match;
    if (m === null || typeof m !== 'object' || Array.isArray(m))
      return fail(`${at}.match`, 'must be an object naming at least one of country, currency, site');
    const match: CampaignMatch = {};
    for (const [key, list] of Object.entries(m as Record<string, unknown>)) {
      const c = CRITERIA[key as keyof CampaignMatch];
      if (!c) return fail(`${at}.match.${key}`, 'is not a criterion (country, currency, site)');
      if (!Array.isArray(list) || list.length === 0) return fail(`${at}.match.${key}`, `must be a non-empty list of ${c.what}`);
      const values: string[] = [];
      for (const [j, x] of list.entries()) {
        const value = typeof x === 'string' ? c.norm(x.trim()) : undefined;
        if (value === undefined || !c.pattern.test(value.toLowerCase()))
          return fail(`${at}.match.${key}[${j}]`, `must be one of ${c.what} (got ${shown(x)})`);
        values.push(value);
      }
      match[key as keyof CampaignMatch] = values;
    }
    if (CRITERIA_KEYS.every((k) => match[k] === undefined)) return fail(`${at}.match`, 'must name at least one of country, currency, site');
    rules.push({ name: o.name, campaignId: o.campaignId, conversionRefPrefix: prefix, match });
  }
  return { ok: true, value: rules };
}

function fail(at: string, message: string): Converted<never> {
  return { ok: false, message: `${at} ${message}` };
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

export class UnknownCampaignError extends Error {
  override name = 'UnknownCampaignError';
  constructor(
    readonly value: string,
    readonly known: readonly string[],
  ) {
    super(`'${value.slice(0, 64)}' is not a campaign of this deployment (${known.join(', ')})`);
  }
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
 * campaign id, or `default`); a value naming none is an {@link UnknownCampaignError}, never a guess.
 */
export function routeOrder(facts: RoutingFacts, s: CampaignSettings): CampaignRoute {
  const all = campaignsOf(s);
  if (facts.campaign !== undefined && facts.campaign.trim() !== '') {
    const want = facts.campaign.trim();
    const named = all.find((c) => c.name === want.toLowerCase()) ?? all.find((c) => c.campaignId === want);
    if (!named)
      throw new UnknownCampaignError(
        want,
        all.map((c) => c.name),
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
