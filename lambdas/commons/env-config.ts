/**
 * The functions' runtime configuration, read from environment variables (set by the stack from the
 * validated deploy config, or by the local mode from its own variables) and checked with zod/mini.
 * A bad value fails the function's init with a message naming the variable.
 */
import * as z from 'zod/mini';
import { CONSENT_POLICIES } from '../core/consent.js';
import type { TrackerConfig } from '../core/model.js';
import { DEFAULT_RETRY_DELAYS_S, parseDelays } from '../core/retry-policy.js';
import { resolveMapping, type TealiumMappingConfig } from '../core/tealium.js';

type Env = Record<string, string | undefined>;

const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter((s) => s !== '');

const positiveInt = (name: string, def: number) =>
  z.pipe(
    z.optional(z.string()),
    z.transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) {
        ctx.issues.push({ code: 'custom', message: `${name} must be a positive whole number, got '${v}'`, input: v });
        return z.NEVER;
      }
      return n;
    }),
  );

const oneOf = <T extends string>(name: string, values: readonly T[], def: T) =>
  z.pipe(
    z.optional(z.string()),
    z.transform((v, ctx): T => {
      if (v === undefined || v.trim() === '') return def;
      if ((values as readonly string[]).includes(v.trim())) return v.trim() as T;
      ctx.issues.push({ code: 'custom', message: `${name} must be one of ${values.join(', ')}, got '${v}'`, input: v });
      return z.NEVER;
    }),
  );

const EnvSchema = z.object({
  PARTNERIZE_MODE: oneOf('PARTNERIZE_MODE', ['live', 'dryrun'] as const, 'dryrun'),
  PARTNERIZE_BASE_URL: z._default(z.string().check(z.regex(/^https?:\/\/[^\s]+$/, 'PARTNERIZE_BASE_URL must be an http(s) URL')), 'https://prf.hn'),
  PARTNERIZE_CAMPAIGN_ID: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/, 'PARTNERIZE_CAMPAIGN_ID must be 1-64 letters, digits, _ or -')),
  PARTNERIZE_METHOD: oneOf('PARTNERIZE_METHOD', ['GET', 'POST'] as const, 'GET'),
  CONVERSION_REF_PREFIX: z._default(z.string().check(z.regex(/^[A-Za-z0-9_.-]{0,32}$/, 'CONVERSION_REF_PREFIX must be up to 32 letters, digits, _ . or -')), ''),
  ATTRIBUTION_WINDOW_DAYS: positiveInt('ATTRIBUTION_WINDOW_DAYS', 30),
  CONVERSION_RETENTION_DAYS: positiveInt('CONVERSION_RETENTION_DAYS', 400),
  CONSENT_POLICY: oneOf('CONSENT_POLICY', CONSENT_POLICIES, 'required'),
  CONSENT_CATEGORIES: z._default(z.string(), 'affiliates'),
  PURCHASE_EVENTS: z._default(z.string(), 'purchase'),
  TEALIUM_MAPPING: z._default(z.string(), '{}'),
  INLINE_TIMEOUT_MS: positiveInt('INLINE_TIMEOUT_MS', 2000),
  RETRY_TIMEOUT_MS: positiveInt('RETRY_TIMEOUT_MS', 5000),
  RETRY_DELAYS_S: z.optional(z.string()),
  LEASE_S: positiveInt('LEASE_S', 30),
  MIN_SESSION_ID_LENGTH: positiveInt('MIN_SESSION_ID_LENGTH', 8),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function trackerConfigFromEnv(env: Env = process.env): TrackerConfig {
  const r = z.safeParse(EnvSchema, env);
  if (!r.success) {
    const issue = r.error.issues[0];
    const name = String(issue?.path[0] ?? '');
    throw new ConfigError(issue?.message.includes(name) ? issue.message : `${name}: ${issue?.message ?? 'invalid'}`);
  }
  const e = r.data;
  let mappingConfig: TealiumMappingConfig;
  try {
    mappingConfig = JSON.parse(e.TEALIUM_MAPPING) as TealiumMappingConfig;
  } catch {
    throw new ConfigError('TEALIUM_MAPPING must be a JSON object of field → path(s)');
  }
  let retryDelaysS: number[];
  try {
    retryDelaysS = e.RETRY_DELAYS_S ? parseDelays(e.RETRY_DELAYS_S) : [...DEFAULT_RETRY_DELAYS_S];
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const purchaseEvents = list(e.PURCHASE_EVENTS);
  if (purchaseEvents.length === 0) throw new ConfigError('PURCHASE_EVENTS must name at least one event');
  return {
    mode: e.PARTNERIZE_MODE,
    partnerize: { baseUrl: e.PARTNERIZE_BASE_URL, campaignId: e.PARTNERIZE_CAMPAIGN_ID, method: e.PARTNERIZE_METHOD },
    conversionRefPrefix: e.CONVERSION_REF_PREFIX,
    attributionWindowDays: e.ATTRIBUTION_WINDOW_DAYS,
    conversionRetentionDays: e.CONVERSION_RETENTION_DAYS,
    consentPolicy: e.CONSENT_POLICY,
    consentCategories: list(e.CONSENT_CATEGORIES),
    purchaseEvents,
    mapping: resolveMapping(mappingConfig),
    inlineTimeoutMs: e.INLINE_TIMEOUT_MS,
    retryTimeoutMs: e.RETRY_TIMEOUT_MS,
    retryDelaysS,
    leaseMs: e.LEASE_S * 1000,
    minSessionIdLength: e.MIN_SESSION_ID_LENGTH,
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
  inlineTimeoutMs: number;
  retryTimeoutMs: number;
  retryDelaysS: readonly number[];
  leaseS: number;
  minSessionIdLength: number;
}
