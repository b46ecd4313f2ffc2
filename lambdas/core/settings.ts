/**
 * The functions' settings: one table, the single source of every setting that reaches a function.
 * Each row names the cdk.json context key, the environment variable the stack sets from it, the
 * reader that validates it (the same at `cdk synth`, in the function and in the local mode), its
 * default, and the functions that read it. Adding a setting is adding a row (and its docs):
 *
 *   cdk.json context ──readSettings──► Settings ──settingsToEnv(fn)──► a function's environment
 *   (lib/config.ts)                                   (lib/tracking-stack.ts)
 *   environment ──settingsFromEnv──► Settings ──trackerConfig──► TrackerConfig (Deps.config)
 *   (lambdas/runtime/env.ts, the one reader of an environment: functions, local mode)
 *
 * This module reads no environment: it names each setting's variable (envName) and checks values.
 *
 * Settings that only shape the infrastructure (throttles, alarms, memory, the WAF) never reach a
 * function: they live in lib/config.ts alone.
 */
import { CAMPAIGN_ID_FORMAT, CONVERSION_REF_PREFIX_FORMAT, readCampaignRules, type CampaignRule } from './campaigns.js';
import { CONSENT_POLICIES, type ConsentPolicy } from './consent.js';
import { InputError } from './errors.js';
import type { Converted } from './fields.js';
import { DEFAULT_RETRY_DELAYS_S } from './retry-policy.js';
import { SECOND_MS } from './time.js';
import {
  DEFAULT_DUPLICATE_ANSWER,
  DEFAULT_INLINE_TIMEOUT_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_RETRY_TIMEOUT_MS,
  MAX_INLINE_TIMEOUT_MS,
  minimumLeaseMs,
} from './answer-budget.js';
import {
  anyText,
  choice,
  httpUrl,
  jsonObject,
  matching,
  pattern,
  positiveNumbers,
  textList,
  wholeNumber,
  type Reader,
} from './setting-readers.js';
import type { HttpMethod } from './partnerize-url.js';
import { resolveGa4Mapping, type Ga4Mapping, type Ga4MappingConfig } from './ga4.js';
import { resolveSegmentMapping, type SegmentMapping, type SegmentMappingConfig } from './segment.js';
import { resolveMapping, type TealiumMapping, type TealiumMappingConfig } from './tealium.js';

export type FunctionName = 'clicks' | 'postbacks' | 'retry' | 'reconcile';
export type PartnerizeMode = 'live' | 'dryrun';

interface Setting<T> {
  /**
   * The environment variable the stack sets (and the local mode reads), when it is not the key in
   * UPPER_SNAKE_CASE (`leaseSeconds` → `LEASE_S`); see {@link envName}.
   */
  env?: string;
  read: Reader<T>;
  default: T;
  /** The functions that read it; the others do not get the variable. */
  for: readonly FunctionName[];
  /** How the value is written into the environment (default: its text, lists comma-separated). */
  write?: (value: T) => string;
}

const setting = <T>(s: Setting<T>): Setting<T> => s;

/** A setting's environment variable: its own `env`, else its key in UPPER_SNAKE_CASE (`conversionRefPrefix` → `CONVERSION_REF_PREFIX`). */
export const envName = (key: SettingKey): string =>
  (SETTINGS[key] as Setting<unknown>).env ?? key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** The demo campaign of cdk.json and the local mode: fine for dry runs, never for live sends. */
export const DEMO_CAMPAIGN_ID = '1011l0000';

/** The demo campaign, however its letters are cased (`1011L0000`). */
export const isDemoCampaign = (id: string | undefined): boolean => id?.toLowerCase() === DEMO_CAMPAIGN_ID;

/*
 * Which functions read a setting (`for`): those whose code reads it, and those whose start-up
 * cross-checks (crossCheck below) read it: a function must judge the values synth judged, so it gets
 * every setting a check of its own settings reads (the lease's and the demo campaign's).
 */
/** The postbacks function sends at once, the retry function later: the same delivery rules. */
const SENDERS = ['postbacks', 'retry'] as const;
/**
 * The senders and the daily reconciliation read the mode, the campaign and the retention. The base
 * URL and the campaign rules reach the retry and reconcile functions for the live-mode
 * demo-campaign check alone (a retry sends the request recorded at the postback).
 */
const RECONCILED = [...SENDERS, 'reconcile'] as const;

/** A source's field mapping (JSON), checked by resolving it over the source's defaults. */
const mappingReader = <T>(resolve: (overrides: T) => unknown): Reader<T> =>
  jsonObject((o) => {
    try {
      resolve(o as T);
      return { ok: true, value: o as T };
    } catch (err) {
      return { ok: false, message: err instanceof InputError ? err.message : String(err) };
    }
  });

const mapping = <T>(resolve: (overrides: T) => unknown) =>
  setting<T>({ read: mappingReader(resolve), default: {} as T, for: ['clicks', 'postbacks'], write: (m) => JSON.stringify(m) });

export const SETTINGS = {
  /** `dryrun` records the exact call without sending it; `live` sends. */
  partnerizeMode: setting<PartnerizeMode>({ read: choice(['live', 'dryrun'] as const), default: 'dryrun', for: RECONCILED }),
  /** Partnerize campaign id (from Partnerize; the default is a demo value, refused in live mode). */
  partnerizeCampaignId: setting({ read: matching(...CAMPAIGN_ID_FORMAT), default: DEMO_CAMPAIGN_ID, for: RECONCILED }),
  partnerizeBaseUrl: setting({ read: httpUrl, default: 'https://prf.hn', for: RECONCILED }),
  /** Partnerize's API (bulk conversion updates, jobs, the conversion report); its keys are a secret, not a setting. */
  partnerizeApiBaseUrl: setting({ read: httpUrl, default: 'https://api.partnerize.com', for: ['retry', 'reconcile'] }),
  /** How the postback calls Partnerize; a retry sends the request recorded then, method and all. */
  partnerizeMethod: setting<HttpMethod>({ read: choice(['GET', 'POST'] as const), default: 'GET', for: ['postbacks'] }),
  /** How Partnerize's answer to a conversionref it already holds reads (core/answer-budget.ts). */
  partnerizeDuplicateAnswer: setting({ read: pattern, default: DEFAULT_DUPLICATE_ANSWER, for: SENDERS }),
  /**
   * Prepended to the order id to make the conversionRef, e.g. `TEST-` during the parallel run (the
   * postback makes the conversionRef; a retry sends the one recorded; the reconciliation finds it).
   */
  conversionRefPrefix: setting({ read: matching(...CONVERSION_REF_PREFIX_FORMAT), default: '', for: ['postbacks', 'reconcile'] }),
  /**
   * More campaigns beside the default one (core/campaigns.ts): rules routing an order by its
   * `campaign` field, country, currency or site to a campaign id with its own conversionRef prefix.
   */
  campaigns: setting<CampaignRule[]>({ read: readCampaignRules, default: [], for: RECONCILED, write: (r) => JSON.stringify(r) }),
  /** How long a click is kept (clicks) and may attribute an order (postbacks). */
  attributionWindowDays: setting({ read: wholeNumber(1, 365), default: 30, for: ['clicks', 'postbacks'] }),
  conversionRetentionDays: setting({ read: wholeNumber(1, 3650), default: 400, for: RECONCILED }),
  consentPolicy: setting<ConsentPolicy>({ read: choice(CONSENT_POLICIES), default: 'required', for: ['postbacks'] }),
  /** Tealium consent categories that mean "may track affiliates". */
  consentCategories: setting({ read: textList(), default: ['affiliates'], for: ['clicks', 'postbacks'] }),
  purchaseEvents: setting({ read: textList({ atLeastOne: true }), default: ['purchase'], for: ['postbacks'] }),
  /**
   * Event names of order updates (Tealium's, or any sender's own). The native shape's `cancel`,
   * `refund`, `return` and `approve` are always recognised (README "Order lifecycle").
   */
  cancelEvents: setting({ read: textList(), default: ['order_cancel'], for: ['postbacks'] }),
  refundEvents: setting({ read: textList(), default: ['order_refund'], for: ['postbacks'] }),
  returnEvents: setting({ read: textList(), default: ['return', 'order_return'], for: ['postbacks'] }),
  approveEvents: setting({ read: textList(), default: ['order_approve'], for: ['postbacks'] }),
  /**
   * Sent conversions not rejected within this many days are approved in Partnerize, once
   * (0: never; the brand validates by hand or sends approve events).
   */
  autoApproveAfterDays: setting({ read: wholeNumber(0, 365), default: 0, for: SENDERS }),
  tealiumMapping: mapping<TealiumMappingConfig>(resolveMapping),
  /** Per-field overrides of the GA4 / server-side GTM mapping (core/ga4.ts). */
  ga4Mapping: mapping<Ga4MappingConfig>(resolveGa4Mapping),
  /** Per-field overrides of the Segment / RudderStack mapping (core/segment.ts). */
  segmentMapping: mapping<SegmentMappingConfig>(resolveSegmentMapping),
  /**
   * Segment consent categories (RudderStack consent ids) that mean "may track affiliates": Segment's
   * own example category, and OneTrust's usual id for targeting cookies.
   */
  segmentConsentCategories: setting({ read: textList(), default: ['Advertising', 'C0004'], for: ['clicks', 'postbacks'] }),
  /** Category of the single item an order sent with only its total becomes ('' = none). */
  orderTotalCategory: setting({ read: anyText(256), default: '', for: ['postbacks'] }),
  /** Shorter session ids on clicks are a 400: a guessable id lets anyone overwrite its clickref. */
  minSessionIdLength: setting({ read: wholeNumber(1, 256), default: 8, for: ['clicks'] }),
  /** Session ids on clicks that look guessable by this estimate (core/session-id.ts) are a 400; 0 turns it off. */
  minSessionIdBits: setting({ read: wholeNumber(0, 128), default: 32, for: ['clicks'] }),
  /** How long a session's click is locked against a click with another clickref and without its key (core/clicks.ts); 0: never. */
  clickLockMinutes: setting({ read: wholeNumber(0, 1440), default: 30, for: ['clicks'] }),
  /**
   * Timeout of the attempt made while the postback waits (core/answer-budget.ts). Each attempt, with
   * its recording, must end inside the lease: both senders check the lease against both timeouts.
   */
  inlineTimeoutMs: setting({ read: wholeNumber(200, MAX_INLINE_TIMEOUT_MS), default: DEFAULT_INLINE_TIMEOUT_MS, for: SENDERS }),
  /** Timeout of a retry attempt and of a call to Partnerize's API. */
  retryTimeoutMs: setting({ read: wholeNumber(200, 25_000), default: DEFAULT_RETRY_TIMEOUT_MS, for: SENDERS }),
  /** The retry schedule (±20 % jitter); after the last one the record is `failed`. */
  retryDelaysS: setting({ read: positiveNumbers, default: [...DEFAULT_RETRY_DELAYS_S], for: SENDERS }),
  /** How long a sender holds a record before another may take it over. */
  leaseSeconds: setting({ env: 'LEASE_S', read: wholeNumber(1, 900), default: DEFAULT_LEASE_MS / SECOND_MS, for: SENDERS }),
  /**
   * Largest postback body (bytes); a larger one is a 413. At most 256 KiB: a record keeps the order
   * it was built from, its attempts and history, and DynamoDB refuses items over 400 KB — a record
   * that cannot grow could not record its own attempts.
   */
  maxBodyBytes: setting({ read: wholeNumber(1024, 262_144), default: 262_144, for: ['postbacks'] }),
  /** How long a function keeps the postback token before reading Secrets Manager again. */
  tokenCacheSeconds: setting({ env: 'TOKEN_CACHE_S', read: wholeNumber(1, 3600), default: 300, for: ['postbacks'] }),
  /** The retry run's bounds: records read from the due index, sends in flight, how long it claims. */
  sweepLimit: setting({ read: wholeNumber(1, 5000), default: 5000, for: ['retry'] }),
  sweepConcurrency: setting({ read: wholeNumber(1, 64), default: 16, for: ['retry'] }),
  /**
   * The drain rate: retry sends per second at most (docs/capacity.md: the design peak of 50
   * postbacks/s; at most 100, which keeps the due index's one partition under DynamoDB's limit).
   */
  sweepSendsPerSecond: setting({ read: wholeNumber(1, 100), default: 50, for: ['retry'] }),
  sweepBudgetMs: setting({ read: wholeNumber(5_000, 50_000), default: 45_000, for: ['retry'] }),
  /**
   * Order updates a retry run takes into bulk requests at most (one request per campaign and kind,
   * each under Partnerize's 100,000 ids); the bound keeps a run inside its time and a job's record
   * inside DynamoDB's item size.
   */
  updateBatchSize: setting({ read: wholeNumber(1, 5000), default: 1000, for: ['retry'] }),
  /** How soon a bulk job is first polled; later polls back off, doubling up to 15 minutes. */
  updatePollSeconds: setting({ env: 'UPDATE_POLL_S', read: wholeNumber(1, 3600), default: 30, for: ['retry'] }),
  /**
   * How long an update for an order the tracker has no record of waits for the order's own
   * postback (a Tealium retry) before it is forwarded by reference (the legacy pixel's conversions).
   */
  unknownOrderGraceSeconds: setting({ env: 'UNKNOWN_ORDER_GRACE_S', read: wholeNumber(0, 86_400), default: 60, for: ['retry'] }),
} as const;

export type SettingKey = keyof typeof SETTINGS;
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];
export type Settings = { -readonly [K in SettingKey]: (typeof SETTINGS)[K] extends Setting<infer T> ? T : never };

/**
 * The runtime configuration of the functions (Deps.config): the settings, and what is derived from
 * them once at start (the resolved source mappings, the compiled duplicate pattern, the lease in ms).
 */
export interface TrackerConfig extends Readonly<Settings> {
  mapping: TealiumMapping;
  ga4Paths: Ga4Mapping;
  segmentPaths: SegmentMapping;
  duplicateAnswer: RegExp;
  leaseMs: number;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
  constructor(readonly problems: ReadonlyArray<{ key: SettingKey; name: string; message: string }>) {
    super(problems.map((p) => `${p.name} ${p.message}`).join('\n'));
  }
}

type Problem = SettingsError['problems'][number];

/** Partnerize's own hosts: prf.hn is its tracking host; the API and the console are on partnerize.com. */
export const isPartnerizeHost = (url: string): boolean =>
  URL.canParse(url) && /(^|\.)(prf\.hn|partnerize\.com)$/i.test(new URL(url).hostname.replace(/\.$/, ''));

export interface Naming {
  /** How a setting is called where it was read: the context key at synth, the variable in a function. */
  name: (key: SettingKey) => string;
  /** How to give it a value there: `"key": <value> in cdk.json`, `VARIABLE=<value>`. */
  assign: (key: SettingKey, value: string) => string;
}

export const ENV_NAMING: Naming = { name: envName, assign: (key, value) => `${envName(key)}=${value}` };

/** Rules that bind two settings together; each runs only when the settings it needs were read. */
export function crossCheck(s: Partial<Settings>, naming: Naming): Problem[] {
  const { name, assign } = naming;
  const problems: Problem[] = [];
  if (
    s.partnerizeMode === 'live' &&
    isDemoCampaign(s.partnerizeCampaignId) &&
    s.partnerizeBaseUrl !== undefined &&
    isPartnerizeHost(s.partnerizeBaseUrl)
  ) {
    problems.push({
      key: 'partnerizeCampaignId',
      name: name('partnerizeCampaignId'),
      message:
        `${DEMO_CAMPAIGN_ID} is the demo campaign, and ${name('partnerizeMode')} is live: every conversion would be sent to Partnerize ` +
        `(${new URL(s.partnerizeBaseUrl).hostname}) for a campaign that is not yours. Set your Partnerize campaign id ` +
        `(${assign('partnerizeCampaignId', '<id>')}), or stay in a dry run (${assign('partnerizeMode', 'dryrun')})`,
    });
  }
  if (s.partnerizeMode === 'live' && s.partnerizeBaseUrl !== undefined && isPartnerizeHost(s.partnerizeBaseUrl)) {
    for (const [i, rule] of (s.campaigns ?? []).entries()) {
      if (!isDemoCampaign(rule.campaignId)) continue;
      problems.push({
        key: 'campaigns',
        name: name('campaigns'),
        message: `[${i}].campaignId is ${DEMO_CAMPAIGN_ID}, the demo campaign, and ${name('partnerizeMode')} is live: set the campaign id of '${rule.name}'`,
      });
    }
  }
  problems.push(...eventListOverlaps(s, name));
  if (s.leaseSeconds !== undefined && s.inlineTimeoutMs !== undefined && s.retryTimeoutMs !== undefined) {
    const lease = minimumLeaseMs({ inlineTimeoutMs: s.inlineTimeoutMs, retryTimeoutMs: s.retryTimeoutMs });
    if (s.leaseSeconds * SECOND_MS < lease) {
      problems.push({
        key: 'leaseSeconds',
        name: name('leaseSeconds'),
        message: `(${s.leaseSeconds}) must be at least ${Math.ceil(lease / SECOND_MS)}: the longest attempt (${name('inlineTimeoutMs')}, ${name('retryTimeoutMs')}) plus the time to record it, or a second sender could take over a send still in flight`,
      });
    }
  }
  return problems;
}

/** The settings that name events: an event name may mean one thing only. */
const EVENT_LISTS = ['purchaseEvents', 'cancelEvents', 'refundEvents', 'returnEvents', 'approveEvents'] as const;

function eventListOverlaps(s: Partial<Settings>, name: Naming['name']): Problem[] {
  const seen = new Map<string, SettingKey>();
  const problems: Problem[] = [];
  for (const key of EVENT_LISTS) {
    for (const event of s[key] ?? []) {
      const n = event.trim().toLowerCase();
      const first = seen.get(n);
      if (first && first !== key)
        problems.push({
          key,
          name: name(key),
          message: `names '${event}', which ${name(first)} names too: an event may mean one thing only`,
        });
      else seen.set(n, key);
    }
  }
  return problems;
}

/**
 * Reads every setting through `lookup`, naming a setting as `naming` says in errors. An absent
 * value (undefined) takes the table's default, unless `requireAll` (the deploy config: cdk.json
 * must name every key, so no deploy runs on a default nobody chose).
 */
export function readSettings(lookup: (key: SettingKey) => unknown, naming: Naming, opts: { requireAll?: boolean } = {}): Settings {
  const out: Partial<Record<SettingKey, unknown>> = {};
  const problems: Problem[] = [];
  for (const key of SETTING_KEYS) {
    const raw = lookup(key);
    const def = SETTINGS[key].default;
    if (raw === undefined || raw === null) {
      if (opts.requireAll)
        problems.push({
          key,
          name: naming.name(key),
          message: `is not set: put ${naming.assign(key, '…')}`,
        });
      else out[key] = Array.isArray(def) ? [...def] : def;
      continue;
    }
    const r = (SETTINGS[key].read as Reader<unknown>)(raw) as Converted<unknown>;
    if (r.ok) out[key] = r.value;
    else problems.push({ key, name: naming.name(key), message: r.message });
  }
  problems.push(...crossCheck(out as Partial<Settings>, naming));
  if (problems.length > 0) throw new SettingsError(problems);
  return out as Settings;
}

/**
 * The settings an operator's CLI needs to act as the functions would (judge a duplicate answer,
 * find a live click, schedule a retry, hold a lease): published by the stack as an output and by
 * the local mode's info endpoint.
 */
export const OPERATOR_SETTINGS = [
  'partnerizeDuplicateAnswer',
  'attributionWindowDays',
  'retryDelaysS',
  'leaseSeconds',
  'inlineTimeoutMs',
  'retryTimeoutMs',
  'conversionRefPrefix',
  // The campaigns and the API a reconciliation reads (pz reconcile).
  'partnerizeCampaignId',
  'campaigns',
  'partnerizeApiBaseUrl',
] as const satisfies readonly SettingKey[];

export const operatorSettingsOf = (s: Settings): Partial<Settings> => Object.fromEntries(OPERATOR_SETTINGS.map((k) => [k, s[k]]));

/** Every setting at its default. */
export const defaultSettings = (): Settings => readSettings(() => undefined, ENV_NAMING);

/** The environment variables of the settings `fn` reads (all of them without `fn`: the local mode). */
export function settingsToEnv(s: Settings, fn?: FunctionName): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of SETTING_KEYS) {
    const row = SETTINGS[key] as Setting<unknown>;
    if (fn !== undefined && !row.for.includes(fn)) continue;
    const value = s[key] as unknown;
    // Lists as JSON: an item may itself hold a comma (the readers take JSON and comma-separated text).
    out[envName(key)] = row.write ? row.write(value) : Array.isArray(value) ? JSON.stringify(value) : String(value);
  }
  return out;
}

/** The runtime configuration: the settings and what is derived from them. */
export function trackerConfig(s: Settings): TrackerConfig {
  return {
    ...s,
    mapping: resolveMapping(s.tealiumMapping),
    ga4Paths: resolveGa4Mapping(s.ga4Mapping),
    segmentPaths: resolveSegmentMapping(s.segmentMapping),
    duplicateAnswer: new RegExp(s.partnerizeDuplicateAnswer, 'i'),
    leaseMs: s.leaseSeconds * SECOND_MS,
  };
}
