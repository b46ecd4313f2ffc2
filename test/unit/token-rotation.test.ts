/**
 * The rotation procedure end to end: `pz token rotate|retire|status` against an in-memory model of
 * Secrets Manager (versions and staging labels), with the functions' token source — warm
 * throughout, reading the same model — checked after every step, on fake time.
 */
import { Readable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SecretsManagerTokens } from '#lambdas/adapters/token-source.js';
import { main } from '../../lib/cli/main.js';
import { fingerprint, newToken, parseMinAge } from '../../lib/cli/token.js';
import { SecretsManagerModel } from '../support/secrets-manager-model.js';

const STACK = 'PartnerizeS2S';
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:PostbackToken-AbCdEf';
const DEPLOYED_TOKEN = 'deployedTokenGeneratedByCdk0123456789abcdefghijkl';
const TTL = 300_000;
const MIN = 60_000;

const sm = mockClient(SecretsManagerClient);
const cfn = mockClient(CloudFormationClient);
let model: SecretsManagerModel;

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 10, 24, 9, 0, 0) });
  model = new SecretsManagerModel(ARN, DEPLOYED_TOKEN).install(sm);
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: STACK,
        CreationTime: new Date(),
        StackStatus: 'CREATE_COMPLETE',
        Outputs: [
          { OutputKey: 'PostbackTokenSecretArn', OutputValue: ARN },
          { OutputKey: 'ApiUrl', OutputValue: 'https://api.example' },
        ],
      },
    ],
  });
});
afterEach(() => {
  vi.useRealTimers();
  sm.reset();
  cfn.reset();
});

async function pz(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (out += s), isTTY: false },
    stderr: { write: (s: string) => (err += s), isTTY: false },
    stdin: Object.assign(Readable.from([]), { isTTY: false }),
    env: {},
  });
  return { code, out, err };
}

/** Settles `p`, running fake time from timer to timer meanwhile. */
async function settle<T>(p: Promise<T>): Promise<T> {
  let settled = false;
  const done = p.finally(() => {
    settled = true;
  });
  done.catch(() => undefined);
  for (let steps = 0; !settled; steps += 1) {
    if (steps > 10_000) throw new Error('never settled');
    await vi.advanceTimersToNextTimerAsync();
  }
  return done;
}

const functions = () => new SecretsManagerTokens(new SecretsManagerClient({}), ARN, TTL);

describe('rotate → Tealium switches → retire, three times over', () => {
  it('never refuses the token Tealium sends, and refuses each retired token once the cache refreshes', async () => {
    const warm = functions(); // one function instance, warm from start to end
    let tealium = DEPLOYED_TOKEN;
    const retired: string[] = [];
    const accepted = async (token: string, by = warm) => settle(by.accepts(token));
    let junk = 0;
    /** Secrets Manager calls a wrong token costs the warm instance: [DescribeSecret, GetSecretValue]. */
    const junkCost = async () => {
      junk += 1;
      const before = [sm.commandCalls(DescribeSecretCommand).length, sm.commandCalls(GetSecretValueCommand).length];
      expect(await accepted(`wrong-token-${junk}`)).toBe(false);
      return [sm.commandCalls(DescribeSecretCommand).length - before[0]!, sm.commandCalls(GetSecretValueCommand).length - before[1]!];
    };
    const check = async (step: string) => {
      expect(await accepted(tealium), `${step}: Tealium's token, warm instance`).toBe(true);
      // The first wrong token reads what changed since the warm instance's last read; the next one
      // finds nothing changed: one DescribeSecret, no value read.
      await junkCost();
      expect(await junkCost(), `${step}: a wrong token's cost`).toEqual([1, 0]);
      expect(await accepted(tealium, functions()), `${step}: Tealium's token, cold instance`).toBe(true);
      expect(
        model.stagesOf(tealium).some((s) => s === 'AWSCURRENT' || s === 'AWSPREVIOUS'),
        step,
      ).toBe(true);
    };
    await check('deployed');

    for (let round = 1; round <= 3; round += 1) {
      const rotated = await pz('token', 'rotate', '--stack', STACK, '--json');
      expect(rotated.code, rotated.err).toBe(0);
      const { token: fresh, fingerprint: fp } = JSON.parse(rotated.out) as { token: string; fingerprint: string };
      expect(fresh).toMatch(/^[A-Za-z0-9]{48}$/);
      expect(fp).toBe(fingerprint(fresh));
      expect(model.valueAt('AWSCURRENT')).toBe(fresh);
      await check(`round ${round}, rotated`);

      // The Tealium admin pastes the token and publishes a few minutes later.
      vi.advanceTimersByTime(4 * MIN);
      await check(`round ${round}, before Tealium switched`);
      const old = tealium;
      tealium = fresh;
      await check(`round ${round}, Tealium switched`);
      expect(await accepted(old), 'the old token still works until retired').toBe(true);

      vi.advanceTimersByTime(15 * MIN);
      const retire = await pz('token', 'retire', '--stack', STACK, '--yes');
      expect(retire.code, retire.err).toBe(0);
      expect(retire.out).toContain(`Retiring the previous token: version`);
      expect(model.stagesOf(old)).toEqual([]);
      retired.push(old);
      await check(`round ${round}, retired`);

      vi.advanceTimersByTime(TTL);
      await check(`round ${round}, after the cache refresh`);
      for (const gone of retired) {
        expect(await accepted(gone), `round ${round}: a retired token after the cache refresh`).toBe(false);
        expect(await accepted(gone, functions()), `round ${round}: a retired token, cold instance`).toBe(false);
      }
      vi.advanceTimersByTime(30 * MIN);
    }
    expect(new Set(retired).size).toBe(3);
  });

  it('the old procedure ("a second rotation retires the old token") loses Tealium\'s token at the next rotation; rotate refuses to do that', async () => {
    const warm = functions();
    const accepted = async (token: string) => settle(warm.accepts(token));
    // Old procedure: rotate, Tealium switches, rotate again to retire the old token.
    model.putSecretValue({ SecretId: ARN, SecretString: 'tealium-token-1' });
    const tealium = 'tealium-token-1';
    expect(await accepted(tealium)).toBe(true);
    model.putSecretValue({ SecretId: ARN, SecretString: 'never-sent-token-2' });
    expect(model.stagesOf(tealium)).toEqual(['AWSPREVIOUS']); // Tealium's token hangs on by AWSPREVIOUS
    // The next routine rotation.
    model.putSecretValue({ SecretId: ARN, SecretString: 'routine-token-3' });
    expect(model.stagesOf(tealium)).toEqual([]);
    vi.advanceTimersByTime(TTL);
    expect(await accepted(tealium)).toBe(false); // 401: Tealium's orders lost

    // The command refuses the step that strips AWSPREVIOUS from a token a caller may still send.
    const before = sm.commandCalls(PutSecretValueCommand).length;
    const refused = await pz('token', 'rotate', '--stack', STACK);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('Not rotated: an earlier rotation is not retired');
    expect(refused.err).toContain('token retire --stack PartnerizeS2S');
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(before);
  });
});

describe('pz token rotate', () => {
  it('prints the new token once with what to do next; the old one stays valid', async () => {
    const r = await pz('token', 'rotate', '--stack', STACK);
    expect(r.code, r.err).toBe(0);
    const token = model.valueAt('AWSCURRENT')!;
    expect(r.out.split(token)).toHaveLength(2);
    expect(r.out).toContain(`stays valid as AWSPREVIOUS until you retire it`);
    expect(r.out).toContain('npm run pz -- token retire --stack PartnerizeS2S');
    expect(model.valueAt('AWSPREVIOUS')).toBe(DEPLOYED_TOKEN);
  });

  it('keeps a JSON secret JSON, with its other fields', async () => {
    model.putSecretValue({ SecretId: ARN, SecretString: '{"token":"json-token-1","note":"keep me"}' });
    const previous = model.listSecretVersionIds({ SecretId: ARN }).Versions!.find((v) => v.VersionStages!.includes('AWSPREVIOUS'))!
      .VersionId!;
    model.updateSecretVersionStage({ SecretId: ARN, VersionStage: 'AWSPREVIOUS', RemoveFromVersionId: previous });
    expect((await pz('token', 'rotate', '--stack', STACK)).code).toBe(0);
    const stored = JSON.parse(model.valueAt('AWSCURRENT')!) as { token: string; note: string };
    expect(stored.note).toBe('keep me');
    expect(stored.token).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(await settle(functions().accepts(stored.token))).toBe(true);
    expect(await settle(functions().accepts('json-token-1'))).toBe(true);
  });

  it('refuses while a token is staged as AWSPENDING', async () => {
    model.putSecretValue({ SecretId: ARN, SecretString: 'staged-token', VersionStages: ['AWSPENDING'] });
    const r = await pz('token', 'rotate', '--stack', STACK);
    expect(r.code).toBe(1);
    expect(r.err).toContain('a token is staged as AWSPENDING');
    expect(r.err).toContain('--version-stage AWSPENDING --remove-from-version-id');
    expect(model.valueAt('AWSCURRENT')).toBe(DEPLOYED_TOKEN);
  });
});

describe('pz token retire', () => {
  it('refuses while the current token is younger than --min-age; --min-age 0 retires at once', async () => {
    expect((await pz('token', 'rotate', '--stack', STACK)).code).toBe(0);
    vi.advanceTimersByTime(3 * MIN);
    const young = await pz('token', 'retire', '--stack', STACK, '--yes');
    expect(young.code).toBe(1);
    expect(young.err).toContain('created 3 min ago, less than --min-age 15m');
    expect(model.stagesOf(DEPLOYED_TOKEN)).toEqual(['AWSPREVIOUS']);
    expect((await pz('token', 'retire', '--stack', STACK, '--yes', '--min-age', '0')).code).toBe(0);
    expect(model.stagesOf(DEPLOYED_TOKEN)).toEqual([]);
  });

  it('asks first: not on a terminal it needs --yes', async () => {
    await pz('token', 'rotate', '--stack', STACK);
    vi.advanceTimersByTime(20 * MIN);
    const r = await pz('token', 'retire', '--stack', STACK);
    expect(r.code).toBe(2);
    expect(r.err).toContain('pass --yes');
    expect(model.stagesOf(DEPLOYED_TOKEN)).toEqual(['AWSPREVIOUS']);
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(0);
  });

  it('has nothing to retire right after a retire (repeating it is harmless)', async () => {
    await pz('token', 'rotate', '--stack', STACK);
    vi.advanceTimersByTime(20 * MIN);
    expect((await pz('token', 'retire', '--stack', STACK, '--yes')).code).toBe(0);
    const again = await pz('token', 'retire', '--stack', STACK, '--yes');
    expect(again.code).toBe(0);
    expect(again.out).toContain('Nothing to retire');
    expect(model.valueAt('AWSCURRENT')).toBeDefined();
  });

  it('fails rather than strip a label when the secret changed since it was listed', async () => {
    await pz('token', 'rotate', '--stack', STACK);
    vi.advanceTimersByTime(20 * MIN);
    // Someone else retires and rotates between our listing and our update.
    sm.on(UpdateSecretVersionStageCommand).callsFakeOnce(async (input) => {
      const prev = model.listSecretVersionIds({ SecretId: ARN }).Versions!.find((v) => v.VersionStages!.includes('AWSPREVIOUS'))!
        .VersionId!;
      model.updateSecretVersionStage({ SecretId: ARN, VersionStage: 'AWSPREVIOUS', RemoveFromVersionId: prev });
      model.putSecretValue({ SecretId: ARN, SecretString: 'someone-elses-rotation' });
      return model.updateSecretVersionStage(input);
    });
    const r = await pz('token', 'retire', '--stack', STACK, '--yes');
    expect(r.code).toBe(1);
    expect(r.err).toContain('is not attached to version');
    expect(model.stagesOf('someone-elses-rotation')).toEqual(['AWSCURRENT']);
    expect(model.stagesOf(model.valueAt('AWSPREVIOUS')!)).toEqual(['AWSPREVIOUS']);
  });
});

describe('pz token status', () => {
  it('lists the labelled versions with fingerprints, never the tokens', async () => {
    await pz('token', 'rotate', '--stack', STACK);
    const current = model.valueAt('AWSCURRENT')!;
    const r = await pz('token', 'status', '--stack', STACK);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`AWSCURRENT\\s+yes\\s+.+\\(0 min ago\\)\\s+${fingerprint(current)}`));
    expect(r.out).toMatch(new RegExp(`AWSPREVIOUS\\s+yes\\s+.+${fingerprint(DEPLOYED_TOKEN)}`));
    expect(r.out).toContain('An earlier rotation is not retired');
    expect(r.out).not.toContain(current);
    expect(r.out).not.toContain(DEPLOYED_TOKEN);
    const json = JSON.parse((await pz('token', 'status', '--stack', STACK, '--json')).out) as {
      versions: { stages: string[]; fingerprint: string }[];
    };
    expect(json.versions.map((v) => v.stages)).toEqual([['AWSCURRENT'], ['AWSPREVIOUS']]);
    expect(JSON.stringify(json)).not.toContain(current);
    expect(sm.commandCalls(GetSecretValueCommand).every((c) => c.args[0].input.VersionId !== undefined)).toBe(true);
  });
});

describe('pz token: usage', () => {
  it('needs a subcommand and a deployed stack', async () => {
    expect((await pz('token')).code).toBe(2);
    expect((await pz('token', 'spin', '--stack', STACK)).err).toContain("unknown token command 'spin'");
    const local = await pz('token', 'rotate', '--local', 'http://127.0.0.1:3000');
    expect(local.code).toBe(2);
    expect(local.err).toContain('POSTBACK_TOKEN');
    const help = await pz('token', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('rotate → paste the token into the Tealium connector');
  });

  it('a bad --min-age names the option', async () => {
    const r = await pz('token', 'retire', '--stack', STACK, '--min-age', '15');
    expect(r.code).toBe(1);
    expect(r.err).toContain("--min-age must be a duration like 15m, 1h, 90s, or 0; got '15'");
    expect(parseMinAge('15m')).toBe(15 * MIN);
    expect(parseMinAge('90s')).toBe(90_000);
    expect(parseMinAge('1h')).toBe(60 * MIN);
    expect(parseMinAge('0')).toBe(0);
  });

  it('new tokens are 48 letters and digits, all distinct, every character in use', () => {
    const tokens = Array.from({ length: 500 }, () => newToken());
    expect(tokens.every((t) => /^[A-Za-z0-9]{48}$/.test(t))).toBe(true);
    expect(new Set(tokens).size).toBe(500);
    expect(new Set(tokens.join('')).size).toBe(62);
  });
});
