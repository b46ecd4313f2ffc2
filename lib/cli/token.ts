/**
 * `pz token status | rotate | retire --stack <name>`: the postback token's rotation
 * (docs/runbook.md#rotating-the-postback-token) as commands, built to stay safe however often it is
 * repeated.
 *
 * The functions accept the secret's versions labelled AWSCURRENT, AWSPREVIOUS and AWSPENDING, so
 * "safe" means: the token a caller (Tealium) sends always carries one of those labels.
 * - rotate puts the new token as a new version: Secrets Manager makes it AWSCURRENT and moves
 *   AWSPREVIOUS to the version it replaced, the one callers still send. It refuses while
 *   AWSPREVIOUS is taken: that version may be a caller's token (an earlier rotation never retired)
 *   and the move would strip its label. That is how "retire the old token with a second rotation"
 *   lost Tealium's token at the next routine rotation.
 * - retire takes AWSPREVIOUS off the old version — never by rotating again — once the callers have
 *   switched; it refuses while AWSCURRENT is younger than --min-age, so a rotate and a retire run
 *   back to back (a script, a habit) cannot cut Tealium off before it could switch.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
  type SecretVersionsListEntry,
} from '@aws-sdk/client-secrets-manager';
import { TOKEN_STAGES, tokenOf } from '#lambdas/adapters/token-source.js';
import { InputError } from '#lambdas/core/errors.js';
import { HOUR_MS, MINUTE_MS, SECOND_MS } from '#lambdas/core/time.js';
import type { Io } from './io.js';
import { table } from './render.js';
import { stackOutputs, TargetError } from './target.js';

export const DEFAULT_MIN_AGE = '15m';

export const TOKEN_HELP = `pz token status|rotate|retire --stack <name> [options]

Rotates the postback token (the secret named by the stack output PostbackTokenSecretArn) without
ever refusing a caller, however often it is done. The functions accept the versions labelled
AWSCURRENT, AWSPREVIOUS and AWSPENDING.
  status              the labelled versions: labels, age, and a fingerprint of each token
  rotate              puts a new random token (48 letters and digits) as AWSCURRENT and prints it
                      once, for Tealium; the old token stays valid as AWSPREVIOUS. Refuses while an
                      earlier rotation is not retired (AWSPREVIOUS taken) or a token is staged
                      (AWSPENDING).
  retire              removes AWSPREVIOUS from the old token, once every caller sends the new one
                      (asks first)
  --min-age <d>       retire refuses while AWSCURRENT is younger than this (default ${DEFAULT_MIN_AGE};
                      0 when the old token leaked and must go now)
  --yes               do not ask for confirmation (needed when not on a terminal)
  --stack <name>      the deployed stack (required)
  --region <region>   AWS region (default: AWS_REGION or your profile's)
  --profile <name>    AWS profile (default: AWS_PROFILE)
  --json              machine-readable JSON

The procedure, as often as you like: rotate → paste the token into the Tealium connector and
publish → see it in Tealium Trace → retire.
Fingerprint of a token you hold:  printf %s "$TOKEN" | sha256sum | cut -c1-12`;

export interface TokenCommandValues {
  stack?: string | undefined;
  local?: string | undefined;
  region?: string | undefined;
  profile?: string | undefined;
  json?: boolean | undefined;
  'min-age'?: string | undefined;
}

export interface TokenVersion {
  versionId: string;
  stages: string[];
  createdAt: Date | undefined;
  /** First 12 hex digits of the token's SHA-256: tells tokens apart without showing them. */
  fingerprint: string;
}

interface LoadedVersion extends TokenVersion {
  secretString: string;
}

class Refusal extends Error {}

export const fingerprint = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 12);

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** 48 letters and digits (about 286 bits), like `get-random-password --exclude-punctuation --password-length 48`. */
export function newToken(length = 48): string {
  let token = '';
  while (token.length < length) {
    for (const byte of randomBytes(length)) {
      // 248 = 4 × 62: taking bytes below it keeps every character equally likely.
      if (byte < 248 && token.length < length) token += ALPHABET[byte % 62];
    }
  }
  return token;
}

/** "15m", "1h", "90s", "0" → milliseconds. */
export function parseMinAge(value: string): number {
  const m = /^(\d+)\s*([smh])?$/i.exec(value.trim());
  if (!m || (m[2] === undefined && m[1] !== '0')) {
    throw new InputError('invalid_min_age', `--min-age must be a duration like 15m, 1h, 90s, or 0; got '${value}'`, 'min-age');
  }
  const unit = { s: SECOND_MS, m: MINUTE_MS, h: HOUR_MS }[(m[2] ?? 's').toLowerCase() as 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

const STAGE_ORDER = ['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS'];

/** The secret's labelled versions (unlabelled ones are retired for good): current, pending, previous, others. */
async function versionsOf(sm: SecretsManagerClient, secretId: string): Promise<LoadedVersion[]> {
  const entries: SecretVersionsListEntry[] = [];
  let NextToken: string | undefined;
  do {
    const page = await sm.send(new ListSecretVersionIdsCommand({ SecretId: secretId, NextToken }));
    entries.push(...(page.Versions ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  const labelled = entries.filter((e) => e.VersionId && (e.VersionStages?.length ?? 0) > 0);
  const loaded = await Promise.all(
    labelled.map(async (e): Promise<LoadedVersion> => {
      const s = await sm.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: e.VersionId }));
      const secretString = s.SecretString ?? '';
      return {
        versionId: e.VersionId!,
        stages: [...(e.VersionStages ?? [])],
        createdAt: e.CreatedDate,
        fingerprint: fingerprint(tokenOf(secretString)),
        secretString,
      };
    }),
  );
  const rank = (v: LoadedVersion) => Math.min(...v.stages.map((s) => STAGE_ORDER.indexOf(s)).filter((i) => i >= 0), STAGE_ORDER.length);
  return loaded.sort((a, b) => rank(a) - rank(b) || (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0));
}

const withStage = (versions: readonly LoadedVersion[], stage: string) => versions.find((v) => v.stages.includes(stage));
const publicView = ({ secretString: _, ...v }: LoadedVersion): TokenVersion => v;

/** The secret keeps its shape: JSON `{"token": …, …}` stays JSON with its other fields. */
function secretStringFor(token: string, current: string): string {
  try {
    const parsed = JSON.parse(current) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && typeof (parsed as { token?: unknown }).token === 'string') {
      return JSON.stringify({ ...(parsed as object), token });
    }
  } catch {
    // a plain token
  }
  return token;
}

function age(createdAt: Date | undefined, now: number): string {
  if (!createdAt) return 'unknown';
  const min = Math.floor((now - createdAt.getTime()) / MINUTE_MS);
  const ago = min < 60 ? `${min} min` : min < 2880 ? `${Math.floor(min / 60)} h` : `${Math.floor(min / 1440)} d`;
  return `${createdAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (${ago} ago)`;
}

const PENDING_HINT = (arn: string, id: string) =>
  `promote it (aws secretsmanager update-secret-version-stage --secret-id ${arn} --version-stage AWSCURRENT --move-to-version-id ${id} --remove-from-version-id <AWSCURRENT's version>, then remove AWSPENDING from it)\n` +
  `or drop it (aws secretsmanager update-secret-version-stage --secret-id ${arn} --version-stage AWSPENDING --remove-from-version-id ${id})`;

async function statusCommand(
  sm: SecretsManagerClient,
  arn: string,
  stack: string,
  values: TokenCommandValues,
  io: Io,
  now: number,
): Promise<number> {
  const versions = await versionsOf(sm, arn);
  if (values.json) {
    io.stdout.write(
      `${JSON.stringify({ stack, secretArn: arn, acceptedStages: TOKEN_STAGES, versions: versions.map(publicView) }, null, 2)}\n`,
    );
    return 0;
  }
  const accepted = (v: TokenVersion) => v.stages.some((s) => (TOKEN_STAGES as readonly string[]).includes(s));
  const lines = [
    `Postback token of stack ${stack}`,
    '',
    table(
      ['version', 'labels', 'accepted', 'created', 'fingerprint'],
      versions.map((v) => [v.versionId, v.stages.join(' '), accepted(v) ? 'yes' : 'no', age(v.createdAt, now), v.fingerprint]),
    ),
    '',
  ];
  const previous = withStage(versions, 'AWSPREVIOUS');
  const pending = withStage(versions, 'AWSPENDING');
  if (previous)
    lines.push(
      `An earlier rotation is not retired: once every caller sends the AWSCURRENT token, run: npm run pz -- token retire --stack ${stack}`,
    );
  if (pending) lines.push(`A token is staged as AWSPENDING and accepted: ${PENDING_HINT(arn, pending.versionId)}`);
  if (!previous && !pending) lines.push(`One token is valid. To rotate it: npm run pz -- token rotate --stack ${stack}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function rotateCommand(sm: SecretsManagerClient, arn: string, stack: string, values: TokenCommandValues, io: Io): Promise<number> {
  const versions = await versionsOf(sm, arn);
  const current = withStage(versions, 'AWSCURRENT');
  if (!current) throw new Refusal(`the secret ${arn} has no AWSCURRENT version`);
  const previous = withStage(versions, 'AWSPREVIOUS');
  if (previous) {
    throw new Refusal(
      `Not rotated: an earlier rotation is not retired (AWSPREVIOUS is on version ${previous.versionId}, ${previous.fingerprint}).\n` +
        'Rotating now would take that label from a token a caller may still send. Once every caller sends the\n' +
        `current token (${current.fingerprint}), run: npm run pz -- token retire --stack ${stack}, then rotate.`,
    );
  }
  const pending = withStage(versions, 'AWSPENDING');
  if (pending)
    throw new Refusal(
      `Not rotated: a token is staged as AWSPENDING (version ${pending.versionId}, ${pending.fingerprint}); ${PENDING_HINT(arn, pending.versionId)}`,
    );

  const token = newToken();
  const versionId = randomUUID();
  await sm.send(
    new PutSecretValueCommand({ SecretId: arn, ClientRequestToken: versionId, SecretString: secretStringFor(token, current.secretString) }),
  );
  const fp = fingerprint(token);
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ stack, versionId, token, fingerprint: fp, previous: publicView(current) }, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(
    [
      `New postback token of stack ${stack} (version ${versionId}, fingerprint ${fp}), now AWSCURRENT:`,
      '',
      `    ${token}`,
      '',
      'Paste it into the Tealium connector (header Authorization: Bearer <token>, or the Basic auth',
      'password) and publish.',
      `The old token (${current.fingerprint}) stays valid as AWSPREVIOUS until you retire it: nothing is refused meanwhile.`,
      'When Tealium Trace shows the new token in use — not before:',
      `    npm run pz -- token retire --stack ${stack}`,
      '',
    ].join('\n'),
  );
  return 0;
}

async function retireCommand(
  sm: SecretsManagerClient,
  arn: string,
  stack: string,
  values: TokenCommandValues,
  io: Io,
  confirm: (question: string) => Promise<boolean>,
  now: number,
): Promise<number> {
  const minAgeMs = parseMinAge(values['min-age'] ?? DEFAULT_MIN_AGE);
  const versions = await versionsOf(sm, arn);
  const previous = withStage(versions, 'AWSPREVIOUS');
  const current = withStage(versions, 'AWSCURRENT');
  if (!previous || !current) {
    if (values.json) io.stdout.write(`${JSON.stringify({ stack, retired: null })}\n`);
    else io.stdout.write(`Nothing to retire: no version of the token carries AWSPREVIOUS.\n`);
    return 0;
  }
  const currentAgeMs = current.createdAt ? now - current.createdAt.getTime() : Number.POSITIVE_INFINITY;
  if (currentAgeMs < minAgeMs) {
    throw new Refusal(
      `Not retired: the current token was created ${Math.floor(currentAgeMs / MINUTE_MS)} min ago, less than --min-age ${values['min-age'] ?? DEFAULT_MIN_AGE}:\n` +
        'Tealium has probably not switched to it yet. If it has — or the old token leaked and must go now — run again with --min-age 0.',
    );
  }
  if (!values.json) {
    io.stdout.write(
      [
        `Retiring the previous token: version ${previous.versionId}, ${previous.fingerprint}, created ${age(previous.createdAt, now)}.`,
        "Callers still sending it get 401 once the functions' token cache lets go of it (tokenCacheSeconds,",
        '5 min by default), and Tealium does not retry a 401: those orders are lost.',
        `Every caller must send the current token: ${current.fingerprint}, created ${age(current.createdAt, now)}.`,
        '',
      ].join('\n'),
    );
  }
  if (
    !(await confirm(`Does every caller (Tealium Trace) send the current token ${current.fingerprint}? Retire ${previous.fingerprint} now?`))
  ) {
    io.stdout.write('Nothing changed.\n');
    return 1;
  }
  // Naming the version makes this fail, rather than strip a label, if the secret changed since it was listed.
  await sm.send(
    new UpdateSecretVersionStageCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS', RemoveFromVersionId: previous.versionId }),
  );
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ stack, retired: previous.versionId, fingerprint: previous.fingerprint })}\n`);
  } else {
    io.stdout.write(
      `Retired ${previous.fingerprint}: the functions refuse it within tokenCacheSeconds. Rotate again whenever you like (npm run pz -- token rotate --stack ${stack}).\n`,
    );
  }
  return 0;
}

const SUBCOMMANDS = ['status', 'rotate', 'retire'] as const;

/**
 * Runs `pz token <subcommand>`. Usage errors answer 2 with the help; refusals 1 with the reason.
 * `confirm` asks the operator (or says yes for --yes).
 */
export async function tokenCommand(
  args: readonly string[],
  values: TokenCommandValues,
  io: Io,
  confirm: (question: string) => Promise<boolean>,
  now: () => number = () => Date.now(),
): Promise<number> {
  const [sub] = args;
  const usage = (message: string) => {
    io.stderr.write(`${message}\n\n${TOKEN_HELP}\n`);
    return 2;
  };
  if (!sub || !(SUBCOMMANDS as readonly string[]).includes(sub))
    return usage(sub ? `unknown token command '${sub}'` : 'say what to do: pz token status|rotate|retire');
  if (!values.stack) {
    return usage(
      values.local
        ? "the local mode's token is POSTBACK_TOKEN (restart npm start with another one); token commands work on a deployed stack: --stack <name>"
        : 'token commands need the deployed stack: --stack <name>',
    );
  }
  if (values.profile) process.env['AWS_PROFILE'] = values.profile;
  const outputs = await stackOutputs(values.stack, values.region);
  const arn = outputs['PostbackTokenSecretArn'];
  if (!arn) throw new TargetError(`stack ${values.stack} has no output PostbackTokenSecretArn: is it this tracker's stack?`);
  const sm = new SecretsManagerClient(values.region ? { region: values.region } : {});
  try {
    switch (sub as (typeof SUBCOMMANDS)[number]) {
      case 'status':
        return await statusCommand(sm, arn, values.stack, values, io, now());
      case 'rotate':
        return await rotateCommand(sm, arn, values.stack, values, io);
      case 'retire':
        return await retireCommand(sm, arn, values.stack, values, io, confirm, now());
    }
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    io.stderr.write(`${err.message}\n`);
    return 1;
  } finally {
    sm.destroy();
  }
}
