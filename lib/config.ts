/**
 * The deploy configuration: one typed object, validated at synth time. Defaults live in cdk.json's
 * `context` (where a brand keeps its settings); `-c key=value` overrides a key for one command (lists as JSON
 * or comma-separated, numbers and booleans as text).
 *
 * Two kinds of keys, each defined once: the settings that reach the functions are rows of
 * lambdas/core/settings.ts (read here by the same readers the functions use); the keys that only
 * shape the infrastructure (throttles, alarms, memory, the WAF) are the zod schema below.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { textList } from '#lambdas/core/setting-readers.js';
import { readSettings, SETTING_KEYS, SettingsError, type Naming, type SettingKey, type Settings } from '#lambdas/core/settings.js';

export { DEMO_CAMPAIGN_ID } from '#lambdas/core/settings.js';

/** A list key, read by the functions' own list reader (JSON array or comma-separated text; blanks dropped). */
const stringList = z.unknown().transform((v, ctx) => {
  const r = textList()(v);
  if (r.ok) return r.value;
  ctx.addIssue({ code: 'custom', message: r.message });
  return z.NEVER;
});

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The retention periods CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;
const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

export interface Cidr {
  version: 4 | 6;
  /** The network address and prefix, e.g. `203.0.113.0/24`. */
  cidr: string;
}

const ipv6Groups = (address: string): number[] => {
  // An embedded IPv4 tail (::ffff:192.0.2.1) is two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  let text = address;
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${address.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const part = (p: string | undefined) => (p ? p.split(':').map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = part(tail);
  return tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
};

const ipv6Text = (groups: number[]): string => {
  // RFC 5952: the longest run of two or more zero groups becomes `::`.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
};

/**
 * Reads an IPv4 or IPv6 CIDR as AWS WAF takes it: a network address with a prefix of 1 or more
 * (WAF refuses /0). Throws a message saying what is wrong, with the network meant when the
 * address has bits set past the prefix.
 */
export function parseCidr(text: string): Cidr {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) throw new Error(`${JSON.stringify(text)} is not a CIDR such as 203.0.113.0/24 or 2001:db8::/32`);
  const [, address, prefixText] = m as unknown as [string, string, string];
  const prefix = Number(prefixText);
  // Node accepts a zone index (fe80::1%eth0); WAF does not.
  const version = isIPv4(address) ? 4 : isIPv6(address) && !address.includes('%') ? 6 : undefined;
  if (version === undefined) throw new Error(`${JSON.stringify(text)}: ${address} is not an IPv4 or IPv6 address`);
  const bits = version === 4 ? 32 : 128;
  if (prefix < 1 || prefix > bits) throw new Error(`${JSON.stringify(text)}: the prefix must be 1-${bits} for IPv${version}`);
  const width = version === 4 ? 8 : 16;
  const groups = version === 4 ? address.split('.').map(Number) : ipv6Groups(address);
  const value = groups.reduce((acc, g) => (acc << BigInt(width)) | BigInt(g), 0n);
  const mask = ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  const network = value & mask;
  const networkGroups = Array.from({ length: bits / width }, (_, i) =>
    Number((network >> BigInt(bits - width * (i + 1))) & ((1n << BigInt(width)) - 1n)),
  );
  const cidr = `${version === 4 ? networkGroups.join('.') : ipv6Text(networkGroups)}/${prefix}`;
  if (network !== value) throw new Error(`${JSON.stringify(text)} has address bits set past the /${prefix} prefix: did you mean ${cidr}?`);
  return { version, cidr };
}

const cidrList = stringList.superRefine((list, ctx) => {
  for (const item of list) {
    try {
      parseCidr(item);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }
});

/**
 * What EventBridge would refuse in a schedule expression (at deploy, long after synth): the shape of
 * `rate(…)` and `cron(…)`, and cron's rule that one of day-of-month and day-of-week is `?`.
 */
export function scheduleProblem(expression: string): string | undefined {
  const example =
    'an EventBridge schedule such as cron(30 5 * * ? *) (minutes, hours, day of month, month, day of week, year; UTC) or rate(1 day), or empty for none';
  if (expression === '') return undefined;
  const rate = /^rate\((\d+) (minute|hour|day)(s?)\)$/.exec(expression);
  if (rate) {
    const n = Number(rate[1]);
    if (n < 1) return 'a rate must be at least 1';
    return (n === 1) === (rate[3] === '')
      ? undefined
      : `must say rate(1 ${rate[2]}) or rate(${n > 1 ? n : 2} ${rate[2]}s): EventBridge takes the singular for 1 only`;
  }
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron) return `must be ${example}`;
  const fields = cron[1]!.trim().split(/\s+/);
  if (fields.length !== 6) return `has ${fields.length} fields; must be ${example}`;
  if ((fields[2] === '?') === (fields[4] === '?'))
    return 'must have ? in exactly one of day of month (third field) and day of week (fifth): e.g. cron(30 5 * * ? *)';
  return undefined;
}

/**
 * The API's throttled paths, each with its keys `<path>ThrottleRateLimit` and `…BurstLimit`. Each
 * path is a route per method (GET and POST), and each route has a bucket of its own
 * (lib/constructs/tracking-api.ts): the stage's limit must cover them all.
 */
export const THROTTLED_PATHS = ['clicks', 'postbacks'] as const;
export type ThrottledPath = (typeof THROTTLED_PATHS)[number];
const ROUTES_PER_PATH = 2;
const COUNT_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];

/** The keys that only shape the infrastructure (the functions' settings: lambdas/core/settings.ts). */
export const InfraConfigSchema = z
  .object({
    /** Browser origins allowed to call /clicks (CORS); empty = no CORS headers (beacons still work). */
    allowedClickOrigins: stringList.refine(
      (l) => l.every((o) => o === '*' || /^https?:\/\/[^\s/]+$/.test(o)),
      'must be origins like https://www.example.com (or *)',
    ),
    /**
     * Throttling, requests per second and burst: the stage's default route throttle, and one bucket
     * per route (GET and POST each). Sized from a design peak in docs/capacity.md. The stage may not
     * be lower than the four routes together (checked below), so no route can take another's budget.
     */
    apiThrottleRateLimit: int(1, 100000),
    apiThrottleBurstLimit: int(1, 100000),
    clicksThrottleRateLimit: int(1, 100000),
    clicksThrottleBurstLimit: int(1, 100000),
    postbacksThrottleRateLimit: int(1, 100000),
    postbacksThrottleBurstLimit: int(1, 100000),
    /**
     * Memory per function (CPU scales with it). Clicks and retries wait on DynamoDB and Partnerize,
     * so they run small; postbacks get more for a quick cold start inside the answer budget
     * (lambdas/core/answer-budget.ts).
     */
    clicksMemoryMb: int(128, 10240),
    postbacksMemoryMb: int(128, 10240),
    retryMemoryMb: int(128, 10240),
    /** The daily reconciliation holds a whole window in memory: its records, their updates and the report. */
    reconcileMemoryMb: int(256, 10240),
    /**
     * When the daily reconciliation runs (an EventBridge `cron(…)` or `rate(…)`, UTC); empty: no
     * schedule (the function stays, for an operator's invoke). It runs only live and once the API
     * keys are set.
     */
    reconcileSchedule: z
      .string()
      .trim()
      .superRefine((s, ctx) => {
        const problem = scheduleProblem(s);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    /**
     * Whole UTC days before the run's day it reconciles. 2 by default: with the grace period, the
     * last hours of yesterday are too recent to judge in the morning; they are judged the next day.
     */
    reconcileLookbackDays: int(1, 31),
    /** Hours after a delivery before its absence from Partnerize's report counts as missing. */
    reconcileGraceHours: z.coerce.number().min(0).max(720),
    logRetentionDays: z.coerce
      .number()
      .refine((n) => (LOG_RETENTION_DAYS as readonly number[]).includes(n), `must be one of ${LOG_RETENTION_DAYS.join(', ')}`),
    /** `retain` keeps the tables (and their data) when the stack is deleted. */
    tableRemovalPolicy: z.enum(['retain', 'destroy']),
    alarmEmails: stringList.refine((l) => l.every((e) => /^[^\s@]+@[^\s@]+$/.test(e)), 'must be email addresses'),
    alarmHttpsEndpoints: stringList.refine((l) => l.every((u) => /^https:\/\/\S+$/.test(u)), 'must be https URLs'),
    /** Where alarm descriptions point: your copy of docs/runbook.md (a URL, or the repo path). */
    runbookUrl: z.string().min(1),
    /** The CloudFormation stack's name (CloudFormation's own rule; `-Waf` is appended for the web ACL's stack). */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,123}$/, 'must start with a letter and hold only letters, digits and hyphens (at most 124)'),
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
    /** Share of postbacks answered `ignored` (not a purchase event) that alarms; 100 switches it off. */
    alarmIgnoredRatePercent: z.coerce.number().min(0).max(100),
    alarmIgnoredMinPostbacks: int(1, 1_000_000),
    alarmIgnoredPeriodMinutes: int(5, 1440).refine((n) => n % 5 === 0, 'must be a multiple of 5'),
    /** A daily reconciliation alarms when more than this share of the delivered conversions it judged are missing at Partnerize. */
    alarmReconcileMissingPercent: z.coerce.number().min(0).max(100),
    /** … or more than this share of Partnerize's conversions of the window have no record here (100: never). */
    alarmReconcileUnexpectedPercent: z.coerce.number().min(0).max(100),
    /** Use an existing SNS topic for alarms instead of creating one. */
    alarmTopicArn: z.string().regex(/^(arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+)?$/, 'must be an SNS topic ARN or empty'),
    /**
     * Put the API behind CloudFront with an AWS WAF web ACL (HTTP APIs cannot take a web ACL
     * directly). The web ACL is created in us-east-1 (a second stack when deploying elsewhere),
     * unless `wafWebAclArn` names an existing CLOUDFRONT-scope one.
     */
    enableWaf: bool,
    wafWebAclArn: z
      .string()
      .regex(
        /^(arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global\/webacl\/.+)?$/,
        'must be a CLOUDFRONT-scope (global, us-east-1) WAFv2 web ACL ARN, or empty',
      ),
    wafClickRateLimitPer5Min: int(10, 2_000_000_000),
    /**
     * Requests per 5 minutes per IP allowed on /postbacks by the created web ACL. Tealium posts from a
     * few egress IPs, so this is sized for the whole design peak arriving from one of them.
     */
    wafPostbackRateLimitPer5Min: int(10, 2_000_000_000),
    /**
     * Where postbacks may come from (IPv4/IPv6 CIDRs, e.g. Tealium's published connector egress
     * addresses for your region); empty = anywhere. Enforced by the web ACL, so it needs `enableWaf`.
     */
    postbackSourceCidrs: cidrList,
    /**
     * Create a Secrets Manager secret for Segment's webhook shared secret and accept Segment's
     * `X-Signature` on /postbacks instead of the token (docs/segment-setup.md).
     */
    enableSegmentSignatures: bool,
    /**
     * With `enableWaf`: the version of the origin-verify secret CloudFront sends. CloudFront takes
     * the value into its configuration when the distribution is deployed; naming a new version is
     * what makes a deploy update it (the rotation: docs/runbook.md#rotating-the-origin-verify-value).
     * Empty: the version current when the distribution was last updated.
     */
    originVerifyVersionId: z.string().regex(/^([A-Za-z0-9-]{32,64})?$/, 'must be a Secrets Manager version id (a UUID) or empty'),
  })
  .superRefine((c, ctx) => {
    const routes = THROTTLED_PATHS.length * ROUTES_PER_PATH;
    for (const what of ['RateLimit', 'BurstLimit'] as const) {
      const key = `apiThrottle${what}` as const;
      const pathKeys = THROTTLED_PATHS.map((path) => `${path}Throttle${what}` as const);
      const sum = ROUTES_PER_PATH * pathKeys.reduce((total, k) => total + c[k], 0);
      if (c[key] < sum) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `must be at least the ${COUNT_WORDS[routes] ?? routes} routes together, ${ROUTES_PER_PATH} × (${pathKeys.join(' + ')}) = ${sum}, so that a flood on one route cannot take the budget of another: raise it ("${key}": ${sum} in cdk.json) or lower the route limits`,
        });
      }
    }
    if (c.postbackSourceCidrs.length > 0 && !c.enableWaf) {
      ctx.addIssue({
        code: 'custom',
        path: ['postbackSourceCidrs'],
        message:
          'needs enableWaf=true: an HTTP API cannot filter callers by address, so the allowlist is a rule of the web ACL in front of the API (docs/capacity.md). Set "enableWaf": true in cdk.json, or leave postbackSourceCidrs empty',
      });
    }
    if (c.originVerifyVersionId !== '' && !c.enableWaf) {
      ctx.addIssue({
        code: 'custom',
        path: ['originVerifyVersionId'],
        message: 'needs enableWaf=true: without the WAF there is no CloudFront and no origin-verify value. Leave it empty',
      });
    }
    if (c.postbackSourceCidrs.length > 0 && c.enableWaf && c.wafWebAclArn !== '') {
      ctx.addIssue({
        code: 'custom',
        path: ['postbackSourceCidrs'],
        message:
          'cannot be applied to the web ACL named by wafWebAclArn (this app adds no rules to a web ACL it does not create): add an IP set rule for /postbacks to that web ACL yourself and leave postbackSourceCidrs empty, or clear wafWebAclArn',
      });
    }
  });

export type InfraConfig = z.infer<typeof InfraConfigSchema>;
/** The whole deploy config: the functions' settings and the infrastructure's keys. */
export type TrackingConfig = Settings & InfraConfig;
export const CONFIG_KEYS = [...SETTING_KEYS, ...(Object.keys(InfraConfigSchema.shape) as Array<keyof InfraConfig>)];

export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
}

/** Settings are named at synth by their context key, and set with `-c`. */
// Settings live in cdk.json: a -c lasts one command, and the next deploy without it drops it (docs/go-live.md).
const CONTEXT_NAMING: Naming = { name: (key) => key, assign: (key, value) => `"${key}": "${value}" in cdk.json` };

/** What the deploy asks of the settings beyond what the functions accept. */
function deployChecks(s: Pick<Settings, 'partnerizeBaseUrl'>): Array<{ key: SettingKey; message: string }> {
  return s.partnerizeBaseUrl.startsWith('https://')
    ? []
    : [{ key: 'partnerizeBaseUrl', message: `must be an https URL, got '${s.partnerizeBaseUrl}'` }];
}

/**
 * Validates raw values (context values, strings from `-c`, or objects) into the typed config. The
 * error names every bad key: `partnerizeMode: must be one of live, dryrun, got 'sometimes'`.
 */
export function parseConfig(raw: Record<string, unknown>): TrackingConfig {
  const lines: string[] = [];
  let settings: Settings | undefined;
  try {
    settings = readSettings((key) => raw[key], CONTEXT_NAMING, { requireAll: true });
    for (const p of deployChecks(settings)) lines.push(`  ${p.key}: ${p.message}`);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    for (const p of err.problems) lines.push(`  ${p.name}: ${p.message}`);
  }
  const r = InfraConfigSchema.safeParse(raw);
  if (!r.success) {
    for (const i of r.error.issues) {
      const key = i.path.map(String).join('.') || '(config)';
      const got = i.path.length > 0 ? raw[String(i.path[0])] : undefined;
      lines.push(
        `  ${key}: ${i.message}${got === undefined ? ` (not set: put "${key}": … in cdk.json)` : ` (got ${JSON.stringify(got)})`}`,
      );
    }
  }
  if (lines.length > 0 || !settings || !r.success) throw new ConfigValidationError(`Invalid deploy config:\n${lines.join('\n')}`);
  return { ...settings, ...r.data };
}

export interface ConfigWarning {
  /** Acknowledge with `Annotations.of(stack).acknowledgeWarning(id)` (or `cdk synth` without `--strict`). */
  id: string;
  message: string;
}

/**
 * Settings that are valid but probably not meant: the stack adds them as warnings, which
 * `cdk synth`/`deploy` print (and fail on only with `--strict`).
 */
/** The window a WAF rate-based rule counts over, in seconds. */
const WAF_WINDOW_S = 300;

export function configWarnings(c: TrackingConfig): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  if (c.partnerizeMode === 'live' && c.alarmEmails.length === 0 && c.alarmHttpsEndpoints.length === 0 && c.alarmTopicArn === '') {
    warnings.push({
      id: 'partnerize-s2s:live-without-alarm-destination',
      message:
        'partnerizeMode is live but no alarm reaches anyone: set alarmEmails, alarmHttpsEndpoints (PagerDuty, Opsgenie …) or alarmTopicArn, ' +
        'or lost and refused conversions will go unnoticed.',
    });
  }
  // WAF's rate-based rules count over 5 minutes; the route's throttle is per second.
  const routeBudget = c.postbacksThrottleRateLimit * WAF_WINDOW_S;
  if (c.enableWaf && c.wafWebAclArn === '' && c.wafPostbackRateLimitPer5Min < routeBudget) {
    warnings.push({
      id: 'partnerize-s2s:waf-limit-below-route',
      message:
        `wafPostbackRateLimitPer5Min (${c.wafPostbackRateLimitPer5Min}) is below the postbacks route's own 5-minute budget ` +
        `(postbacksThrottleRateLimit ${c.postbacksThrottleRateLimit}/s × ${WAF_WINDOW_S} = ${routeBudget}): one Tealium address would be limited ` +
        'before the API limits it. Raise it with the route limit (docs/capacity.md).',
    });
  }
  if (c.enableWaf && c.wafWebAclArn !== '') {
    warnings.push({
      id: 'partnerize-s2s:own-web-acl',
      message:
        'wafWebAclArn names your own web ACL: this app adds none of its rules to it (postbacks without Authorization, the per-IP ' +
        'limits on /postbacks and /clicks). Add the ones you want there (docs/capacity.md).',
    });
  }
  return warnings;
}

/** Reads every config key from a context lookup (e.g. `app.node.tryGetContext`). */
export function configFromContext(get: (key: string) => unknown): TrackingConfig {
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) raw[key] = get(key);
  return parseConfig(raw);
}
