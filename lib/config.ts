/**
 * The deploy configuration: one typed object, validated with zod at synth time. Defaults live in
 * cdk.json's `context`; every key can be overridden per deploy with `cdk deploy -c key=value`
 * (lists as JSON or comma-separated, numbers and booleans as text).
 */
import { z } from 'zod';
import { CONSENT_POLICIES } from '../lambdas/core/consent.js';
import { InputError } from '../lambdas/core/errors.js';
import { resolveMapping, type TealiumMappingConfig } from '../lambdas/core/tealium.js';

const fromText = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return v;
    }
  }
  return v;
};

const stringList = z.preprocess((v) => {
  const parsed = fromText(v);
  if (typeof parsed === 'string') return parsed.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return parsed;
}, z.array(z.string().min(1)));

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

const mappingSchema = z.preprocess(fromText, z.record(z.string(), z.union([z.string(), z.array(z.string())]))).superRefine((m, ctx) => {
  try {
    resolveMapping(m as TealiumMappingConfig);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof InputError ? err.message : String(err) });
  }
});

export const ConfigSchema = z.object({
  /** Partnerize campaign id (from Partnerize; the default is a demo value for dry runs). */
  partnerizeCampaignId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
  /** `dryrun` records the exact call without sending it; `live` sends. */
  partnerizeMode: z.enum(['live', 'dryrun']),
  partnerizeBaseUrl: z.string().regex(/^https:\/\/[^\s/]+(\/[^\s]*)?$/, 'must be an https URL'),
  partnerizeMethod: z.enum(['GET', 'POST']),
  /** Prepended to the order id to make the conversionRef, e.g. `TEST-` during the parallel run. */
  conversionRefPrefix: z.string().regex(/^[A-Za-z0-9_.-]{0,32}$/, 'must be up to 32 letters, digits, _ . or -'),
  attributionWindowDays: int(1, 365),
  conversionRetentionDays: int(1, 3650),
  consentPolicy: z.enum(CONSENT_POLICIES),
  /** Tealium consent categories that mean "may track affiliates". */
  consentCategories: stringList,
  purchaseEvents: stringList.refine((l) => l.length > 0, 'must name at least one event'),
  tealiumMapping: mappingSchema,
  /** Browser origins allowed to call /clicks (CORS); empty = no CORS headers (beacons still work). */
  allowedClickOrigins: stringList.refine(
    (l) => l.every((o) => o === '*' || /^https?:\/\/[^\s/]+$/.test(o)),
    'must be origins like https://www.example.com (or *)',
  ),
  minSessionIdLength: int(1, 256),
  inlineTimeoutMs: int(200, 4000),
  /** At most 15 s: a send plus its bookkeeping must end well inside the 30 s lease. */
  retryTimeoutMs: int(500, 15000),
  retryDelaysS: z.preprocess(
    (v) => {
      const p = fromText(v);
      return typeof p === 'string' ? p.split(',').map((s) => Number(s.trim())) : p;
    },
    z.array(z.number().positive()).min(1),
  ),
  /** Stage-wide throttling (requests per second, burst), and per route below. */
  apiThrottleRateLimit: int(1, 100000),
  apiThrottleBurstLimit: int(1, 100000),
  clicksThrottleRateLimit: int(1, 100000),
  clicksThrottleBurstLimit: int(1, 100000),
  postbacksThrottleRateLimit: int(1, 100000),
  postbacksThrottleBurstLimit: int(1, 100000),
  /** How long a function keeps the postback token before reading Secrets Manager again. */
  tokenCacheSeconds: int(1, 3600),
  /** Largest accepted request body, bytes. */
  maxBodyBytes: int(1024, 1_048_576),
  /**
   * Memory per function (CPU scales with it). Clicks and retries wait on DynamoDB and Partnerize,
   * so they run small; postbacks get more for a quick cold start inside Tealium's 5 s.
   */
  clicksMemoryMb: int(128, 10240),
  postbacksMemoryMb: int(128, 10240),
  retryMemoryMb: int(128, 10240),
  logRetentionDays: z.coerce.number().refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n), `must be one of ${LOG_RETENTION_DAYS.join(', ')}`),
  /** `retain` keeps the tables (and their data) when the stack is deleted. */
  tableRemovalPolicy: z.enum(['retain', 'destroy']),
  alarmEmails: stringList.refine((l) => l.every((e) => /^[^\s@]+@[^\s@]+$/.test(e)), 'must be email addresses'),
  alarmHttpsEndpoints: stringList.refine((l) => l.every((u) => /^https:\/\/\S+$/.test(u)), 'must be https URLs'),
  /** Where alarm descriptions point: your copy of docs/runbook.md (a URL, or the repo path). */
  runbookUrl: z.string().min(1),
  /** Alarm thresholds and periods. */
  alarmPeriodMinutes: int(1, 60),
  alarmApi4xxRatePercent: z.coerce.number().min(0).max(100),
  alarmApi4xxMinRequests: int(1, 1_000_000),
  alarmRetryableRatePercent: z.coerce.number().min(0).max(100),
  alarmRetryableEvaluationPeriods: int(1, 24),
  alarmOldestOwedMinutes: int(1, 1440),
  alarmUnattributedRatePercent: z.coerce.number().min(0).max(100),
  alarmUnattributedMinPurchases: int(1, 1_000_000),
  alarmUnattributedPeriodMinutes: int(5, 1440).refine((n) => n % 5 === 0 || n < 5, 'must be a multiple of 5'),
  /** Use an existing SNS topic for alarms instead of creating one. */
  alarmTopicArn: z.string().regex(/^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+)?$/, 'must be an SNS topic ARN or empty'),
  /**
   * Put the API behind CloudFront with an AWS WAF web ACL (HTTP APIs cannot take a web ACL
   * directly). The web ACL is created in us-east-1 (a second stack when deploying elsewhere),
   * unless `wafWebAclArn` names an existing CLOUDFRONT-scope one.
   */
  enableWaf: bool,
  wafWebAclArn: z.string().regex(/^(arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/.+)?$/, 'must be a CLOUDFRONT-scope (global, us-east-1) WAFv2 web ACL ARN, or empty'),
  wafClickRateLimitPer5Min: int(10, 2_000_000_000),
});

export type TrackingConfig = z.infer<typeof ConfigSchema>;
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as Array<keyof TrackingConfig>;

export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
}

/**
 * Validates raw values (context values, strings from `-c`, or objects) into the typed config. The
 * error names every bad key: `partnerizeMode: Invalid option: expected one of "live"|"dryrun"`.
 */
export function parseConfig(raw: Record<string, unknown>): TrackingConfig {
  const r = ConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const key = i.path.map(String).join('.') || '(config)';
    const got = i.path.length > 0 ? raw[String(i.path[0])] : undefined;
    return `  ${key}: ${i.message}${got === undefined ? ' (not set: add it to cdk.json context or pass -c ' + key + '=…)' : ` (got ${JSON.stringify(got)})`}`;
  });
  throw new ConfigValidationError(`Invalid deploy config:\n${lines.join('\n')}`);
}

/** Reads every config key from a context lookup (e.g. `app.node.tryGetContext`). */
export function configFromContext(get: (key: string) => unknown): TrackingConfig {
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) raw[key] = get(key);
  return parseConfig(raw);
}
