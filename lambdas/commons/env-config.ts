/**
 * The functions' runtime configuration, read from environment variables (set by the stack from the
 * deploy config, which zod validated at synth, or by the local mode from its own variables) and
 * checked again here: a bad value fails the function's init with a message naming the variable.
 * Plain checks rather than a schema library: this runs once per cold start, and zod's pipe and
 * default machinery cost 8 KB of every bundle (docs/performance.md).
 */
import { CONSENT_POLICIES, type ConsentPolicy } from '../core/consent.js';
import type { TrackerConfig } from '../core/model.js';
import { DEFAULT_RETRY_DELAYS_S, parseDelays } from '../core/retry-policy.js';
import { resolveMapping, type TealiumMappingConfig } from '../core/tealium.js';
import {
  DEFAULT_DUPLICATE_ANSWER, DEFAULT_INLINE_TIMEOUT_MS, DEFAULT_LEASE_MS, DEFAULT_RETRY_TIMEOUT_MS, minimumLeaseMs,
} from '../core/answer-budget.js';

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter((s) => s !== '');
const blank = (v: string | undefined): v is undefined => v === undefined || v.trim() === '';

function positiveInt(env: Env, name: string, def: number): number {
  const v = env[name];
  if (blank(v)) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${name} must be a positive whole number, got '${v}'`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], def: T): T {
  const v = env[name];
  if (blank(v)) return def;
  if ((values as readonly string[]).includes(v.trim())) return v.trim() as T;
  throw new ConfigError(`${name} must be one of ${values.join(', ')}, got '${v}'`);
}

function matching(env: Env, name: string, pattern: RegExp, what: string, def?: string): string {
  const v = env[name];
  if (v === undefined || (v === '' && def !== undefined)) {
    if (def === undefined) throw new ConfigError(`${name} is required (${what})`);
    return def;
  }
  if (!pattern.test(v)) throw new ConfigError(`${name} must be ${what}, got '${v}'`);
  return v;
}

/** A case-insensitive regular expression. */
function pattern(env: Env, name: string, def: string): RegExp {
  const v = blank(env[name]) ? def : env[name]!;
  try {
    return new RegExp(v, 'i');
  } catch (err) {
    throw new ConfigError(`${name} must be a regular expression, got '${v}': ${(err as Error).message}`);
  }
}

export function trackerConfigFromEnv(env: Env = process.env): TrackerConfig {
  let mappingConfig: TealiumMappingConfig;
  try {
    mappingConfig = JSON.parse(env['TEALIUM_MAPPING'] || '{}') as TealiumMappingConfig;
    if (mappingConfig === null || typeof mappingConfig !== 'object' || Array.isArray(mappingConfig)) throw new Error('not an object');
  } catch {
    throw new ConfigError('TEALIUM_MAPPING must be a JSON object of field → path(s)');
  }
  let retryDelaysS: number[];
  try {
    retryDelaysS = blank(env['RETRY_DELAYS_S']) ? [...DEFAULT_RETRY_DELAYS_S] : parseDelays(env['RETRY_DELAYS_S']);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const purchaseEvents = list(env['PURCHASE_EVENTS'] ?? 'purchase');
  if (purchaseEvents.length === 0) throw new ConfigError('PURCHASE_EVENTS must name at least one event');
  const timeouts = {
    inlineTimeoutMs: positiveInt(env, 'INLINE_TIMEOUT_MS', DEFAULT_INLINE_TIMEOUT_MS),
    retryTimeoutMs: positiveInt(env, 'RETRY_TIMEOUT_MS', DEFAULT_RETRY_TIMEOUT_MS),
  };
  const leaseMs = positiveInt(env, 'LEASE_S', DEFAULT_LEASE_MS / 1000) * 1000;
  if (leaseMs < minimumLeaseMs(timeouts)) {
    throw new ConfigError(
      `LEASE_S (${leaseMs / 1000}) must be at least ${Math.ceil(minimumLeaseMs(timeouts) / 1000)}: the longest attempt (INLINE_TIMEOUT_MS, RETRY_TIMEOUT_MS) plus the time to record it, or a second sender could take over a send still in flight`,
    );
  }
  return {
    mode: oneOf(env, 'PARTNERIZE_MODE', ['live', 'dryrun'] as const, 'dryrun'),
    partnerize: {
      baseUrl: matching(env, 'PARTNERIZE_BASE_URL', /^https?:\/\/[^\s]+$/, 'an http(s) URL', 'https://prf.hn'),
      campaignId: matching(env, 'PARTNERIZE_CAMPAIGN_ID', /^[A-Za-z0-9_-]{1,64}$/, '1-64 letters, digits, _ or -'),
      method: oneOf(env, 'PARTNERIZE_METHOD', ['GET', 'POST'] as const, 'GET'),
      duplicateAnswer: pattern(env, 'PARTNERIZE_DUPLICATE_ANSWER', DEFAULT_DUPLICATE_ANSWER),
    },
    conversionRefPrefix: matching(env, 'CONVERSION_REF_PREFIX', /^[A-Za-z0-9_.-]{0,32}$/, 'up to 32 letters, digits, _ . or -', ''),
    attributionWindowDays: positiveInt(env, 'ATTRIBUTION_WINDOW_DAYS', 30),
    conversionRetentionDays: positiveInt(env, 'CONVERSION_RETENTION_DAYS', 400),
    consentPolicy: oneOf<ConsentPolicy>(env, 'CONSENT_POLICY', CONSENT_POLICIES, 'required'),
    consentCategories: list(env['CONSENT_CATEGORIES'] ?? 'affiliates'),
    purchaseEvents,
    mapping: resolveMapping(mappingConfig),
    orderTotalCategory: (env['ORDER_TOTAL_CATEGORY'] ?? '').trim(),
    ...timeouts,
    retryDelaysS,
    leaseMs,
    minSessionIdLength: positiveInt(env, 'MIN_SESSION_ID_LENGTH', 8),
  };
}

/** The inverse, for the stack and the local mode: config → environment variables. */
export function trackerConfigToEnv(c: TrackerConfigInput): Record<string, string> {
  return {
    PARTNERIZE_MODE: c.mode,
    PARTNERIZE_BASE_URL: c.baseUrl,
    PARTNERIZE_CAMPAIGN_ID: c.campaignId,
    PARTNERIZE_METHOD: c.method,
    CONVERSION_REF_PREFIX: c.conversionRefPrefix,
    ATTRIBUTION_WINDOW_DAYS: String(c.attributionWindowDays),
    CONVERSION_RETENTION_DAYS: String(c.conversionRetentionDays),
    CONSENT_POLICY: c.consentPolicy,
    CONSENT_CATEGORIES: c.consentCategories.join(','),
    PURCHASE_EVENTS: c.purchaseEvents.join(','),
    TEALIUM_MAPPING: JSON.stringify(c.tealiumMapping),
    ORDER_TOTAL_CATEGORY: c.orderTotalCategory ?? '',
    INLINE_TIMEOUT_MS: String(c.inlineTimeoutMs),
    RETRY_TIMEOUT_MS: String(c.retryTimeoutMs),
    RETRY_DELAYS_S: c.retryDelaysS.join(','),
    LEASE_S: String(c.leaseS),
    MIN_SESSION_ID_LENGTH: String(c.minSessionIdLength),
  };
}

/** The tracker settings as the deploy config and the local mode spell them. */
export interface TrackerConfigInput {
  mode: 'live' | 'dryrun';
  baseUrl: string;
  campaignId: string;
  method: 'GET' | 'POST';
  conversionRefPrefix: string;
  attributionWindowDays: number;
  conversionRetentionDays: number;
  consentPolicy: (typeof CONSENT_POLICIES)[number];
  consentCategories: readonly string[];
  purchaseEvents: readonly string[];
  tealiumMapping: TealiumMappingConfig;
  orderTotalCategory?: string;
  inlineTimeoutMs: number;
  retryTimeoutMs: number;
  retryDelaysS: readonly number[];
  leaseS: number;
  minSessionIdLength: number;
}
