import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockList, isIP } from 'node:net';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigValidationError, CONFIG_KEYS, configWarnings, DEMO_CAMPAIGN_ID, parseCidr, parseConfig } from '../../lib/config.js';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { cdkJsonContext, configWith } from '../support/stack.js';

const errorOf = (overrides: Record<string, unknown>): string => {
  try {
    configWith(overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigValidationError);
    return (err as Error).message;
  }
  throw new Error(`config accepted: ${JSON.stringify(overrides)}`);
};

describe('deploy config', () => {
  it('cdk.json holds a valid default for every key', () => {
    const context = cdkJsonContext();
    for (const key of CONFIG_KEYS) expect(context, key).toHaveProperty(key);
    expect(() => parseConfig(context)).not.toThrow();
  });

  it('reads -c overrides given as text: numbers, lists (JSON or comma-separated), JSON objects, booleans', () => {
    const c = configWith({
      attributionWindowDays: '45',
      purchaseEvents: 'purchase, order_complete',
      consentCategories: '["affiliates","misc"]',
      retryDelaysS: '1,2,3',
      tealiumMapping: '{"price":"data.udo.product_unit_price"}',
      enableWaf: 'true',
    });
    expect(c.attributionWindowDays).toBe(45);
    expect(c.purchaseEvents).toEqual(['purchase', 'order_complete']);
    expect(c.consentCategories).toEqual(['affiliates', 'misc']);
    expect(c.retryDelaysS).toEqual([1, 2, 3]);
    expect(c.tealiumMapping).toEqual({ price: 'data.udo.product_unit_price' });
    expect(c.enableWaf).toBe(true);
  });

  it.each([
    ['partnerizeMode', 'sometimes'],
    ['partnerizeBaseUrl', 'http://prf.hn'],
    ['partnerizeCampaignId', 'has space'],
    ['attributionWindowDays', '0'],
    ['consentPolicy', 'maybe'],
    ['purchaseEvents', ''],
    ['tealiumMapping', '{"orderId":"a..b"}'],
    ['tealiumMapping', '{"nope":"a"}'],
    ['allowedClickOrigins', 'www.acme.example'],
    ['logRetentionDays', '42'],
    ['alarmEmails', 'not-an-email'],
    ['retryDelaysS', '1,-2'],
    ['sweepLimit', '0'],
    ['sweepLimit', '5001'],
    ['sweepConcurrency', '65'],
    ['sweepBudgetMs', '60000'],
    ['sweepBudgetMs', '1000'],
    ['alarmIgnoredRatePercent', '101'],
    ['alarmIgnoredMinPostbacks', '0'],
    ['alarmIgnoredPeriodMinutes', '7'],
    ['wafPostbackRateLimitPer5Min', '5'],
    ['postbackSourceCidrs', '203.0.113.7'],
    ['postbackSourceCidrs', '203.0.113.0/24,not-an-ip/8'],
  ])('an invalid %s fails with a message naming the key', (key, value) => {
    try {
      configWith({ [key]: value });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigValidationError);
      expect((err as Error).message).toContain(`${key}`);
    }
  });

  it('stackName is checked at synth: CloudFormation refuses other names only at deploy', () => {
    expect(configWith({ stackName: 'BrandX-prod' }).stackName).toBe('BrandX-prod');
    expect(errorOf({ stackName: 'brand_x' })).toMatch(/stackName: must start with a letter/);
  });

  it('a missing key says how to set it', () => {
    const context = cdkJsonContext();
    delete context['partnerizeCampaignId'];
    expect(() => parseConfig(context)).toThrow(/partnerizeCampaignId: is not set: put "partnerizeCampaignId": "…" in cdk\.json/);
  });
});

describe('live mode on the demo campaign', () => {
  it('cdk.json ships the demo campaign in dry-run mode, and that is accepted', () => {
    expect(cdkJsonContext()['partnerizeCampaignId']).toBe(DEMO_CAMPAIGN_ID);
    expect(configWith().partnerizeMode).toBe('dryrun');
    expect(configWith({ partnerizeMode: 'dryrun' }).partnerizeCampaignId).toBe(DEMO_CAMPAIGN_ID);
  });

  it('live with the demo campaign is refused, naming the key and how to fix it', () => {
    const message = errorOf({ partnerizeMode: 'live' });
    expect(message).toMatch(/^ {2}partnerizeCampaignId: 1011l0000 is the demo campaign, and partnerizeMode is live/m);
    expect(message).toContain('"partnerizeCampaignId": "<id>" in cdk.json');
    expect(message).toContain('"partnerizeMode": "dryrun" in cdk.json');
  });

  it('is named even when another key is wrong too', () => {
    const message = errorOf({ partnerizeMode: 'live', attributionWindowDays: 'soon' });
    expect(message).toContain('attributionWindowDays:');
    expect(message).toContain('partnerizeCampaignId: 1011l0000 is the demo campaign');
  });

  it('live with an empty or missing campaign id is refused, naming the key', () => {
    expect(errorOf({ partnerizeMode: 'live', partnerizeCampaignId: '' })).toMatch(
      /partnerizeCampaignId: must be your Partnerize campaign id/,
    );
    expect(errorOf({ partnerizeMode: 'live', partnerizeCampaignId: undefined })).toMatch(/partnerizeCampaignId: .*in cdk\.json/);
  });

  it('the demo campaign is refused however it is cased', () => {
    expect(errorOf({ partnerizeMode: 'live', partnerizeCampaignId: '1011L0000' })).toMatch(
      /partnerizeCampaignId: 1011l0000 is the demo campaign/,
    );
  });

  it('live with a real campaign id is accepted', () => {
    expect(configWith({ partnerizeMode: 'live', partnerizeCampaignId: '1011l270' }).partnerizeCampaignId).toBe('1011l270');
  });
});

describe('config warnings', () => {
  const live = { partnerizeMode: 'live', partnerizeCampaignId: '1011l270' };
  const ids = (overrides: Record<string, unknown>) => configWarnings(configWith(overrides)).map((w) => w.id);

  it('live with no alarm destination warns, naming the keys that fix it', () => {
    const [warning, ...rest] = configWarnings(configWith(live));
    expect(rest).toEqual([]);
    expect(warning!.id).toBe('partnerize-s2s:live-without-alarm-destination');
    for (const key of ['alarmEmails', 'alarmHttpsEndpoints', 'alarmTopicArn']) expect(warning!.message).toContain(key);
  });

  it('any one destination, or a dry run, silences it', () => {
    expect(ids({ ...live, alarmEmails: 'oncall@acme.example' })).toEqual([]);
    expect(ids({ ...live, alarmHttpsEndpoints: 'https://events.pagerduty.com/x' })).toEqual([]);
    expect(ids({ ...live, alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:oncall' })).toEqual([]);
    expect(ids({})).toEqual([]);
  });

  it("the WAF's per-IP postback limit warns when it is below the route's own 5-minute budget (the defaults agree)", () => {
    expect(ids({ enableWaf: 'true' })).toEqual([]);
    expect(
      ids({
        enableWaf: 'true',
        postbacksThrottleRateLimit: '400',
        postbacksThrottleBurstLimit: '800',
        apiThrottleRateLimit: '4000',
        apiThrottleBurstLimit: '8000',
      }),
    ).toEqual(['partnerize-s2s:waf-limit-below-route']);
    expect(ids({ enableWaf: 'true', wafPostbackRateLimitPer5Min: '30000' })).toEqual(['partnerize-s2s:waf-limit-below-route']);
  });

  it('an existing web ACL warns that the postback rules are not in it', () => {
    expect(ids({ enableWaf: 'true', wafWebAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/acme/abc' })).toEqual([
      'partnerize-s2s:own-web-acl',
    ]);
  });
});

describe('throttling', () => {
  it('the defaults give the stage at least the four routes together', () => {
    const c = configWith();
    expect(c.apiThrottleRateLimit).toBeGreaterThanOrEqual(2 * (c.clicksThrottleRateLimit + c.postbacksThrottleRateLimit));
    expect(c.apiThrottleBurstLimit).toBeGreaterThanOrEqual(2 * (c.clicksThrottleBurstLimit + c.postbacksThrottleBurstLimit));
  });

  it('a stage limit below the routes together is refused with the number it needs', () => {
    expect(errorOf({ postbacksThrottleRateLimit: '500' })).toContain(
      'apiThrottleRateLimit: must be at least the four routes together, 2 × (clicksThrottleRateLimit + postbacksThrottleRateLimit) = 2200',
    );
    expect(errorOf({ clicksThrottleBurstLimit: '2000' })).toContain('apiThrottleBurstLimit: must be at least the four routes together');
    expect(configWith({ postbacksThrottleRateLimit: '500', apiThrottleRateLimit: '2200' }).postbacksThrottleRateLimit).toBe(500);
  });
});

describe('retry run bounds', () => {
  it('default to a drain of 50 sends/s (the design peak), 16 at a time, 45 s, up to 5,000 records, and take overrides', () => {
    expect(configWith()).toMatchObject({ sweepSendsPerSecond: 50, sweepLimit: 5000, sweepConcurrency: 16, sweepBudgetMs: 45_000 });
    expect(configWith({ sweepSendsPerSecond: '20', sweepLimit: '1000', sweepConcurrency: '8', sweepBudgetMs: '30000' })).toMatchObject({
      sweepSendsPerSecond: 20,
      sweepLimit: 1000,
      sweepConcurrency: 8,
      sweepBudgetMs: 30_000,
    });
  });

  it('the drain rate stays within what the due index takes (at most 100 sends/s)', () => {
    expect(() => configWith({ sweepSendsPerSecond: '101' })).toThrow(/sweepSendsPerSecond: must be a whole number from 1 to 100/);
  });
});

describe('campaigns', () => {
  const uk = { name: 'uk', campaignId: '1100l111', conversionRefPrefix: 'UK-', match: { country: ['GB'] } };

  it('takes rules as JSON in cdk.json or -c text, and sets CAMPAIGNS for the functions that send', () => {
    expect(configWith({ campaigns: [uk] }).campaigns).toEqual([uk]);
    expect(configWith({ campaigns: JSON.stringify([uk]) }).campaigns).toEqual([uk]);
    expect(configWith().campaigns).toEqual([]);
  });

  it('an invalid rule fails synth naming the key, the rule and its field', () => {
    expect(() => configWith({ campaigns: [{ ...uk, match: { country: ['United Kingdom'] } }] })).toThrow(
      /campaigns: \[0\]\.match\.country\[0\] must be one of ISO country codes/,
    );
    expect(() => configWith({ campaigns: [uk, { ...uk, campaignId: '1100l222' }] })).toThrow(
      /campaigns: \[1\]\.name 'uk' is the name of an earlier rule/,
    );
    expect(() => configWith({ campaigns: '[{' })).toThrow(/campaigns: must be a JSON list of campaign rules/);
  });

  it('live mode refuses the demo campaign in a rule too', () => {
    expect(() =>
      configWith({
        partnerizeMode: 'live',
        partnerizeCampaignId: '1100l000',
        campaigns: [{ ...uk, campaignId: '1011l0000' }],
      }),
    ).toThrow(/campaigns: \[0\]\.campaignId is 1011l0000, the demo campaign, and partnerizeMode is live: set the campaign id of 'uk'/);
  });
});

describe('ignored-share alarm keys', () => {
  it('default to 50 % of at least 20 postbacks in 60 minutes', () => {
    expect(configWith()).toMatchObject({ alarmIgnoredRatePercent: 50, alarmIgnoredMinPostbacks: 20, alarmIgnoredPeriodMinutes: 60 });
  });
});

describe('postbackSourceCidrs', () => {
  const waf = { enableWaf: 'true' };

  it('is empty by default (postbacks from anywhere) and takes IPv4 and IPv6 CIDRs', () => {
    expect(configWith().postbackSourceCidrs).toEqual([]);
    expect(configWith({ ...waf, postbackSourceCidrs: '203.0.113.0/24, 198.51.100.7/32,2001:db8::/32' }).postbackSourceCidrs).toEqual([
      '203.0.113.0/24',
      '198.51.100.7/32',
      '2001:db8::/32',
    ]);
  });

  it('reads each CIDR as WAF takes it', () => {
    expect(parseCidr('203.0.113.0/24')).toEqual({ version: 4, cidr: '203.0.113.0/24' });
    expect(parseCidr('2001:DB8:0:0:0:0:0:0/32')).toEqual({ version: 6, cidr: '2001:db8::/32' });
    expect(parseCidr('::ffff:192.0.2.128/121')).toEqual({ version: 6, cidr: '::ffff:c000:280/121' });
    expect(parseCidr('2001:db8:0:1:0:0:0:1/128')).toEqual({ version: 6, cidr: '2001:db8:0:1::1/128' });
    expect(() => parseCidr('203.0.113.7/24')).toThrow('has address bits set past the /24 prefix: did you mean 203.0.113.0/24?');
    expect(() => parseCidr('2001:db8::1/32')).toThrow('did you mean 2001:db8::/32?');
    expect(() => parseCidr('0.0.0.0/0')).toThrow('the prefix must be 1-32 for IPv4');
    expect(() => parseCidr('203.0.113.0/33')).toThrow('the prefix must be 1-32');
    expect(() => parseCidr('203.0.113.0')).toThrow('is not a CIDR');
    expect(() => parseCidr('300.0.0.0/8')).toThrow('is not an IPv4 or IPv6 address');
    expect(() => parseCidr('fe80::1%eth0/64')).toThrow('is not an IPv4 or IPv6 address');
  });

  it('property: any address with any prefix reads as the network that holds it, in canonical form', () => {
    const v4 = fc
      .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 1, max: 32 }))
      .map(([octets, prefix]) => ({ type: 'ipv4' as const, address: octets.join('.'), prefix }));
    const v6 = fc
      .tuple(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 128 }), fc.boolean())
      .map(([groups, prefix, zeros]) => ({
        type: 'ipv6' as const,
        address: groups.map((g, i) => (zeros && i > 2 && i < 6 ? 0 : g).toString(16)).join(':'),
        prefix,
      }));
    fc.assert(
      fc.property(fc.oneof(v4, v6), ({ type, address, prefix }) => {
        let cidr: string;
        try {
          cidr = parseCidr(`${address}/${prefix}`).cidr;
        } catch (err) {
          cidr = /did you mean (\S+)\?$/.exec((err as Error).message)![1]!;
        }
        const [network, bits] = cidr.split('/') as [string, string];
        expect(Number(bits)).toBe(prefix);
        const list = new BlockList();
        list.addSubnet(network, prefix, type);
        expect(list.check(address, type)).toBe(true);
        expect(parseCidr(cidr).cidr).toBe(cidr);
        expect(isIP(network)).toBe(type === 'ipv4' ? 4 : 6);
      }),
    );
  });

  it('an invalid entry fails naming the key and the entry', () => {
    expect(errorOf({ ...waf, postbackSourceCidrs: '203.0.113.0/24,10.1.2.3/8' })).toMatch(
      /postbackSourceCidrs: "10\.1\.2\.3\/8" has address bits set .* did you mean 10\.0\.0\.0\/8\?/,
    );
  });

  it('without enableWaf is refused, naming the key and the fix', () => {
    const message = errorOf({ postbackSourceCidrs: '203.0.113.0/24' });
    expect(message).toContain('postbackSourceCidrs: needs enableWaf=true');
    expect(message).toContain('Set "enableWaf": true in cdk.json');
  });

  it('with an existing web ACL (wafWebAclArn) is refused: no rules are added to it', () => {
    const message = errorOf({
      ...waf,
      wafWebAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/acme/abc',
      postbackSourceCidrs: '203.0.113.0/24',
    });
    expect(message).toContain('postbackSourceCidrs: cannot be applied to the web ACL named by wafWebAclArn');
  });
});

describe('bin/app.ts (what `npx cdk synth` runs)', () => {
  const run = promisify(execFile);
  /** Runs the app as the CDK CLI does: context in CDK_CONTEXT_JSON, the assembly into CDK_OUTDIR. */
  async function synth(overrides: Record<string, unknown>) {
    const outdir = mkdtempSync(join(tmpdir(), 'pz-app-'));
    const context = { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...overrides };
    try {
      const r = await run(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          CDK_CONTEXT_JSON: JSON.stringify(context),
          CDK_OUTDIR: outdir,
          CDK_DEFAULT_REGION: 'eu-west-1',
          CDK_DEFAULT_ACCOUNT: '123456789012',
        },
        maxBuffer: 16 * 1024 * 1024,
      });
      // The CLI prints the assembly's warnings; they sit in the manifest and the stacks' metadata files.
      const manifest = readdirSync(outdir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => readFileSync(join(outdir, f), 'utf8'))
        .join('\n');
      return { code: 0, stderr: r.stderr, manifest };
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      return { code: e.code ?? -1, stderr: e.stderr ?? String(err), manifest: '' };
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  }

  it('exits non-zero on live with the demo campaign, naming partnerizeCampaignId', async () => {
    const r = await synth({ partnerizeMode: 'live' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('partnerizeCampaignId: 1011l0000 is the demo campaign');
  }, 120_000);

  it('synthesizes live without an alarm destination, with the warning in the assembly (cdk prints it)', async () => {
    const r = await synth({ partnerizeMode: 'live', partnerizeCampaignId: '1011l270' });
    expect(r.stderr).not.toMatch(/Invalid deploy config/);
    expect(r.code).toBe(0);
    expect(r.manifest).toContain('partnerizeMode is live but no alarm reaches anyone');
  }, 180_000);
});
