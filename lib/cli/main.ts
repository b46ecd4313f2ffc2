/**
 * `pz`: the operator CLI. "What happened to order X?" in one command, plus replay, requeue and an
 * end-to-end test against an endpoint. Tables for people by default, `--json` for scripts.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { InputError } from '#lambdas/core/errors.js';
import type { ConversionRecord, RequeueableStatus } from '#lambdas/core/model.js';
import { refPrefixesOf } from '#lambdas/core/campaigns.js';
import { mayHaveLandedBefore } from '#lambdas/core/delivery.js';
import {
  confirmDelivered,
  findConversion,
  findRequeueable,
  OperationError,
  operatorUpdate,
  parseSince,
  replay,
  requeue,
} from '#lambdas/core/operations.js';
import { progressBar } from './progress.js';
import { attemptRow, renderConversion, renderUpdates, table } from './render.js';
import { localTarget, stackTarget, TargetError, type Target } from './target.js';
import { DEFAULT_LOCAL_URL } from '../local/cli-hint.js';
import { TOKEN_HELP, tokenCommand } from './token.js';
import { RECONCILE_EXIT, RECONCILE_HELP, reconcileCommand } from './reconcile.js';
import type { Io } from './io.js';

export type { Io };

export { DEFAULT_LOCAL_URL };

const TARGET_HELP = `Where (default: PZ_LOCAL_URL, else the local mode at ${DEFAULT_LOCAL_URL}):
  --local <url>       the local mode started with npm start
  --stack <name>      a deployed stack, found through its CloudFormation outputs
  --region <region>   AWS region (default: AWS_REGION or your profile's)
  --profile <name>    AWS profile (default: AWS_PROFILE)
  --json              machine-readable JSON instead of tables`;

const HELP: Record<string, string> = {
  main: `pz — operate the Partnerize S2S tracker

Usage: pz <command> [options]      (npm run pz -- <command> …, or npx pz <command> …)

Commands:
  lookup <orderId>    what happened to an order: status, the clickref and where it came from,
                      every attempt with Partnerize's answer, and the exact call
  replay <orderId>    send a conversion to Partnerize again now (asks first)
  confirm <orderId> --reason "<how you know>"
                      record that Partnerize holds an unconfirmed conversion (no call is made)
  requeue --failed    put failed conversions back in the retry queue
  approve <orderId>   approve a conversion in Partnerize (sent in bulk by the retry function)
  reject <orderId> --reason "<why>"
                      reject a conversion in Partnerize (a cancelled or returned order)
  reconcile --from <date> --to <date>
                      does Partnerize hold every order the tracker delivered, with the right value,
                      items and status? Lists every difference; --fix puts right what it can
  send-test           report a synthetic click and order to an endpoint (dry run unless --live)
  token status|rotate|retire --stack <name>
                      rotate the postback token without refusing Tealium, however often

${TARGET_HELP}

pz <command> --help tells more.`,
  lookup: `pz lookup <orderId> [options]

Shows the conversion of an order: its status and what happens next, the clickref and how it was
resolved (postback, the session's click, an operator), consent, device, every attempt (time,
trigger, HTTP status or error, latency, the start of Partnerize's answer) and the exact call; then
its updates (cancellations, returns, approvals): where each is, its job, what was sent.
The configured conversionRef prefix (e.g. TEST-) is added for you; a full conversionRef works too.
Exit code 1 when there is no such conversion.

${TARGET_HELP}`,
  replay: `pz replay <orderId> [--clickref <clickref>] [--consent-confirmed <why>] [--live] [--yes] [options]

Sends the stored call to Partnerize again now, whatever the status — also when already sent
(Partnerize decides what a repeated conversionref means). The attempt goes on the record.
When the tracker runs a dry run, nothing is sent unless you pass --live.
  --clickref <ref>    attribute an unattributed conversion to this clickref first (the call is
                      built from the stored order; the record notes an operator supplied it)
  --consent-confirmed <why>
                      send a no_consent conversion after all: you confirm the shopper did consent
                      (e.g. a data-layer bug sent consent false); the reason is kept on the record.
                      Uses the session's click unless --clickref is given
  --live              send even though the tracker runs a dry run
  --yes               do not ask for confirmation (needed when not on a terminal)

${TARGET_HELP}`,
  confirm: `pz confirm <orderId> --reason <how you know> [--yes] [options]

For an unconfirmed conversion: Partnerize cut the connection after the call went out, without an
answer, so it may have counted it, and the tracker does not send it again by itself. When you have
found it in Partnerize (\`pz reconcile\` for its day, or Partnerize's console), this records that it
is delivered: its status becomes sent, with your reason on the record. No call is made. When
Partnerize does not hold it, send it with \`pz replay <orderId>\` instead.
  --reason <how>      required: how you know Partnerize holds it (kept on the record)
  --yes               do not ask for confirmation (needed when not on a terminal)

${TARGET_HELP}`,
  requeue: `pz requeue --failed [--rejected] [--since <when>] [--yes] [options]

Puts conversions back in the retry queue, due now, with a fresh retry schedule; the retry function
(every minute in AWS, every SWEEP_INTERVAL_S locally) sends them.
  --failed            conversions whose every scheduled retry failed
  --rejected          also conversions Partnerize refused with a 4xx (after you fixed the cause)
  --since <when>      only those last changed since: an ISO date, or 30m, 24h, 7d
  --yes               do not ask for confirmation (needed when not on a terminal)

${TARGET_HELP}`,
  'send-test': `pz send-test [--live] [--endpoint <url>] [--token <token>] [--clickref <ref>] [options]

Reports a synthetic click and then an order for the same session, as the landing page and Tealium
would, and shows what the tracker did with them. Unless --live, the order is a dry run: the exact
Partnerize call is recorded, not sent.
  --live              really send the conversion to Partnerize (use a TEST- prefix first)
  --endpoint <url>    the API base URL (default: the target's)
  --token <token>     the postback token (default: the target's)
  --clickref <ref>    the clickref to report (default: a random PZTEST… one)

${TARGET_HELP}`,
  token: TOKEN_HELP,
  reconcile: `${RECONCILE_HELP}

${TARGET_HELP}`,
  approve: `pz approve <orderId> [--reason <why>] [--force] [--yes] [options]

Approves the order's conversion in Partnerize (its status becomes approved: the affiliate is paid).
The approval is recorded as an update and sent, in bulk with others, by the retry function on its
next run, after any earlier update of the same order; \`pz lookup\` follows it. In a dry run it is
recorded and held: sent when the tracker runs live.
  --reason <why>      kept on the record and sent to Partnerize
  --force             approve although an earlier update (a cancellation) rejected the conversion
  --yes               do not ask for confirmation (needed when not on a terminal)

${TARGET_HELP}`,
  reject: `pz reject <orderId> --reason <why> [--yes] [options]

Rejects the order's conversion in Partnerize (no commission is paid on it): for a cancellation or
return the order feed did not report. Recorded as an update and sent, in bulk with others, by the
retry function on its next run; \`pz lookup\` follows it. In a dry run it is recorded and held.
  --reason <why>      required: kept on the record and sent to Partnerize
  --yes               do not ask for confirmation (needed when not on a terminal)

${TARGET_HELP}`,
};

class UsageError extends Error {}

const OPTIONS = {
  local: { type: 'string' },
  stack: { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  yes: { type: 'boolean', short: 'y' },
  clickref: { type: 'string' },
  failed: { type: 'boolean' },
  rejected: { type: 'boolean' },
  since: { type: 'string' },
  live: { type: 'boolean' },
  endpoint: { type: 'string' },
  token: { type: 'string' },
  'consent-confirmed': { type: 'string' },
  'min-age': { type: 'string' },
  reason: { type: 'string' },
  force: { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  grace: { type: 'string' },
  campaign: { type: 'string' },
  csv: { type: 'boolean' },
  fix: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

async function confirm(io: Io, question: string, values: Values): Promise<boolean> {
  if (values.yes) return true;
  if (!io.stdin.isTTY) throw new UsageError('not on a terminal: pass --yes to confirm');
  const rl = createInterface({ input: io.stdin, output: io.stderr as NodeJS.WritableStream });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function openTarget(values: Values, io: Io): Promise<Target> {
  if (values.profile) process.env['AWS_PROFILE'] = values.profile;
  const opts = { live: values.live === true };
  if (values.stack) return stackTarget(values.stack, values.region, opts);
  return localTarget(values.local ?? io.env['PZ_LOCAL_URL'] ?? DEFAULT_LOCAL_URL, opts);
}

/** Whether calls may leave this process: the tracker runs live, or the operator said --live. */
const mayCall = (target: Target, values: Values): boolean => target.mode === 'live' || values.live === true;

/** Said before any command that acts: where, and whether anything will reach Partnerize. */
function announceMode(io: Io, target: Target, values: Values): void {
  const mode =
    target.mode === 'live'
      ? 'live: calls go to Partnerize'
      : values.live
        ? `${target.mode === 'dryrun' ? 'dry run' : 'mode unknown'}, but --live: calls go to Partnerize`
        : target.mode === 'dryrun'
          ? 'dry run: nothing is sent to Partnerize (--live sends)'
          : 'mode unknown (a stack without the PartnerizeMode output): nothing is sent unless you pass --live';
  io.stderr.write(`pz: ${target.label} — ${mode}\n`);
}

const json = (io: Io, v: unknown) => io.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
const say = (io: Io, s: string) => io.stdout.write(`${s}\n`);

/** Where an order's record may be: the target's prefix, then each campaign's (core/campaigns.ts). */
const refPrefixesOfTarget = (target: Target): string[] => [...new Set([target.conversionRefPrefix, ...refPrefixesOf(target.deps.config)])];

async function lookupCommand(id: string, values: Values, io: Io, target: Target): Promise<number> {
  const prefixes = refPrefixesOfTarget(target);
  const rec = await findConversion(id, prefixes, target.deps);
  const updates = await target.deps.updates.get(rec?.conversionRef ?? target.conversionRefPrefix + id);
  if (!rec && updates) {
    // An update for an order the tracker never accepted (the legacy pixel's conversion).
    if (values.json) json(io, { found: false, orderId: id, updates });
    else
      say(
        io,
        `No conversion for ${id} in ${target.label}: the tracker never accepted the order.\n\n${renderUpdates(updates, target.mode)}`,
      );
    return 0;
  }
  if (!rec) {
    if (values.json) json(io, { found: false, orderId: id });
    else {
      say(
        io,
        `No conversion for ${id} in ${target.label}${prefixes.some((p) => p !== '') ? ` (looked for ${[...new Set([...prefixes.map((p) => p + id), id])].join(', ')})` : ''}.`,
      );
      say(
        io,
        'Not stored means: the postback never arrived, was refused (401/400: see the caller\'s logs or Tealium Trace), or was not a purchase event (answered "ignored").',
      );
    }
    return 1;
  }
  if (values.json) json(io, updates ? { ...rec, updates } : rec);
  else
    say(
      io,
      updates ? `${renderConversion(rec, target.mode)}\n\n${renderUpdates(updates, target.mode)}` : renderConversion(rec, target.mode),
    );
  return 0;
}

async function updateCommand(kind: 'approve' | 'reject', id: string, values: Values, io: Io, target: Target): Promise<number> {
  const rec = await findConversion(id, refPrefixesOfTarget(target), target.deps);
  const ref = rec?.conversionRef ?? target.conversionRefPrefix + id;
  const what = `${kind === 'approve' ? 'Approve' : 'Reject'} ${ref} in Partnerize${rec ? ` (conversion ${rec.status})` : ' (the tracker has no conversion for this order: sent by reference)'}`;
  if (kind === 'reject' && !values.reason?.trim()) throw new UsageError('reject needs --reason "<why>"');
  if (!(await confirm(io, `${what}?`, values))) {
    say(io, 'Nothing recorded.');
    return 1;
  }
  const r = await operatorUpdate(id, refPrefixesOfTarget(target), kind, { reason: values.reason, force: values.force }, target.deps);
  const when =
    r.outcome === 'update_dry_run'
      ? 'recorded and held: the tracker runs a dry run, it is sent when it runs live'
      : r.outcome === 'update_not_applicable'
        ? `recorded, nothing to send: ${r.reason}`
        : r.outcome === 'update_held'
          ? 'recorded: sent once the conversion itself is delivered'
          : 'recorded: the retry function sends it on its next run (`pz lookup` follows it)';
  if (values.json) json(io, r);
  else say(io, `${kind === 'approve' ? 'Approval' : 'Rejection'} of ${r.conversionRef} ${when} (${r.outcome}).`);
  return 0;
}

async function replayCommand(id: string, values: Values, io: Io, target: Target): Promise<number> {
  const rec = await findConversion(id, refPrefixesOfTarget(target), target.deps);
  if (!rec) throw new OperationError(`no conversion for ${id} in ${target.label}`);
  if (!mayCall(target, values)) {
    throw new OperationError(
      `${target.label} runs a dry run: replay would send ${rec.conversionRef} to Partnerize for real. Pass --live if that is what you want; nothing was sent.`,
    );
  }
  if (!values.json) say(io, renderConversion(rec).split('\n').slice(0, 3).join('\n'));
  const what = values.clickref ? `with clickref ${values.clickref}` : rec.request ? `as ${rec.request.method} ${rec.request.url}` : '';
  if (!(await confirm(io, `Send ${rec.conversionRef} to Partnerize now ${what}?`, values))) {
    say(io, 'Nothing sent.');
    return 1;
  }
  const { report } = await replay(rec, { clickref: values.clickref, consentConfirmed: values['consent-confirmed'] }, target.deps);
  const a = report.outcome.attempt;
  if (values.json) {
    json(io, { conversionRef: rec.conversionRef, status: report.outcome.status, recorded: report.recorded, attempt: a });
  } else {
    say(io, `\n${table(['#', 'at', 'trigger', 'result', 'status', 'latency', 'answer'], [attemptRow(a, rec.attempts.length)])}`);
    say(
      io,
      `\n${rec.conversionRef} is now ${report.outcome.status}${report.recorded ? '' : ' (the attempt could not be recorded on the record!)'}.`,
    );
  }
  return report.outcome.status === 'sent' ? 0 : 1;
}

async function confirmCommand(id: string, values: Values, io: Io, target: Target): Promise<number> {
  const rec = await findConversion(id, refPrefixesOfTarget(target), target.deps);
  if (!rec) throw new OperationError(`no conversion for ${id} in ${target.label}`);
  if (!values.reason?.trim()) throw new UsageError('confirm needs --reason "<how you know Partnerize holds it>"');
  if (!(await confirm(io, `Record ${rec.conversionRef} (${rec.status}) as delivered to Partnerize, without a call?`, values))) {
    say(io, 'Nothing changed.');
    return 1;
  }
  const after = await confirmDelivered(rec, values.reason, target.deps);
  if (values.json) json(io, { conversionRef: after.conversionRef, status: after.status, attempt: after.attempts.at(-1) });
  else say(io, `${after.conversionRef} is now sent (confirmed by an operator: ${values.reason.trim()}); nothing was sent.`);
  return 0;
}

async function requeueCommand(values: Values, io: Io, target: Target): Promise<number> {
  const statuses: RequeueableStatus[] = [...(values.failed ? ['failed' as const] : []), ...(values.rejected ? ['rejected' as const] : [])];
  if (statuses.length === 0) throw new UsageError('say what to requeue: --failed (and/or --rejected)');
  const since = values.since ? parseSince(values.since, Date.now()) : undefined;
  const found = await findRequeueable(statuses, since, target.deps);
  if (found.length === 0) {
    if (values.json) json(io, { found: 0, requeued: 0, conversionRefs: [] });
    else say(io, `Nothing to requeue in ${target.label} (${statuses.join(', ')}${since ? ` since ${since}` : ''}).`);
    return 0;
  }
  if (!values.json) {
    const last = (r: ConversionRecord) => r.attempts.at(-1);
    say(
      io,
      table(
        ['conversionRef', 'status', 'last change', 'attempts', 'last answer'],
        found.map((r) => [
          r.conversionRef,
          r.status,
          r.updatedAt,
          String(r.attempts.length),
          String(last(r)?.status ?? last(r)?.error ?? '-'),
        ]),
      ),
    );
  }
  const landed = found.filter(mayHaveLandedBefore).length;
  if (landed > 0 && !values.json) {
    say(
      io,
      `${landed} of these may already be counted by Partnerize (an attempt timed out, was cut or was interrupted): requeuing sends them again. Check them first (\`pz lookup\`, \`pz reconcile\` for their days).`,
    );
  }
  if (!(await confirm(io, `Requeue these ${found.length} conversions?`, values))) {
    say(io, 'Nothing requeued.');
    return 1;
  }
  const bar = progressBar(io.stderr, 'requeue');
  const p = await requeue(found, statuses, target.deps, (x) => bar.update(x.done, x.total));
  bar.finish(p.done, p.total);
  const when =
    target.mode === 'live'
      ? 'the retry function sends them on its next run'
      : 'they are sent when the tracker runs live (a dry run sends nothing)';
  if (values.json) json(io, { found: found.length, requeued: p.requeued, conversionRefs: found.map((r) => r.conversionRef) });
  else
    say(
      io,
      `${p.requeued} of ${found.length} requeued; ${when}.${p.requeued < found.length ? ' The others changed status meanwhile.' : ''}`,
    );
  return 0;
}

async function sendTestCommand(values: Values, io: Io, target: Target): Promise<number> {
  const endpoint = (values.endpoint ?? target.apiUrl).replace(/\/+$/, '');
  const token = values.token ?? (await target.token());
  const suffix = randomBytes(6).toString('hex');
  const sessionId = `pz-send-test-${randomBytes(12).toString('hex')}`;
  const clickref = values.clickref ?? `PZTEST${suffix}`;
  const orderId = `SENDTEST-${new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}-${suffix}`;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${endpoint}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) pz-send-test', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  const click = await post('/clicks', { sessionId, clickref });
  const clickBody = click.status === 204 ? undefined : await click.text();
  const order = {
    event: 'purchase',
    orderId,
    sessionId,
    currency: 'GBP',
    consent: true,
    dryRun: !values.live,
    items: [{ sku: 'PZ-SEND-TEST', category: 'test', value: '1.00', quantity: 1 }],
    metadata: { pz_send_test: 'true' },
  };
  const postback = await post('/postbacks', order, { authorization: `Bearer ${token}` });
  const answer = (await postback.json().catch(() => undefined)) as { conversionRef?: string; outcome?: string } | undefined;
  const record = answer?.conversionRef ? await target.deps.conversions.get(answer.conversionRef).catch(() => undefined) : undefined;
  const expected = values.live ? ['sent', 'queued'] : ['dry_run'];
  const ok = click.status === 204 && postback.status === 202 && expected.includes(answer?.outcome ?? '') && record?.clickref === clickref;
  if (values.json) {
    json(io, {
      ok,
      endpoint,
      sessionId,
      clickref,
      click: { status: click.status, body: clickBody },
      postback: { status: postback.status, body: answer },
      record,
    });
  } else {
    say(io, `send-test against ${endpoint} (${values.live ? 'LIVE: the conversion is sent to Partnerize' : 'dry run: nothing is sent'})`);
    say(
      io,
      `  click     POST /clicks     → ${click.status}${click.status === 204 ? ' recorded' : ` ${clickBody ?? ''}`}   session ${sessionId}, clickref ${clickref}`,
    );
    say(io, `  order     POST /postbacks  → ${postback.status} ${JSON.stringify(answer)}`);
    if (record) say(io, `  call      ${record.request ? `${record.request.method} ${record.request.url}` : '—'}`);
    if (values.live && answer?.outcome === 'dry_run') {
      say(io, 'The tracker runs a dry run: it recorded the call and sent nothing, --live or not (partnerizeMode in cdk.json decides).');
    }
    say(io, ok ? 'OK: the click was found for the order and the call carries its clickref.' : 'NOT OK: see above.');
  }
  return ok ? 0 : 1;
}

/** What a command that acts on a target is handed; `id` is the order id, there for the commands that need one. */
interface Call {
  id: string | undefined;
  values: Values;
  io: Io;
  target: Target;
}

/** Updates are never sent by the CLI: the retry function sends them, in live mode only. */
function announceUpdates(io: Io, target: Target): void {
  io.stderr.write(
    `pz: ${target.label} — ${target.mode === 'live' ? 'live: the retry function sends updates to Partnerize' : 'not live: updates are recorded and held until the tracker runs live'}\n`,
  );
}

/** Confirming makes no call at all, whatever the mode. */
function announceConfirm(io: Io, target: Target): void {
  io.stderr.write(`pz: ${target.label} — confirm records a decision; no call is made to Partnerize\n`);
}

interface CommandSpec {
  needsId?: true;
  announce?: (io: Io, target: Target, values: Values) => void;
  run: (c: Call) => Promise<number>;
}

/**
 * The commands run against a target (all but token, which opens its own stacks): whether they
 * take an order id, what they say before acting, and how they run.
 */
const COMMANDS: Record<string, CommandSpec> = {
  lookup: { needsId: true, run: (c) => lookupCommand(c.id!, c.values, c.io, c.target) },
  replay: { needsId: true, announce: announceMode, run: (c) => replayCommand(c.id!, c.values, c.io, c.target) },
  confirm: { needsId: true, announce: announceConfirm, run: (c) => confirmCommand(c.id!, c.values, c.io, c.target) },
  requeue: { announce: announceMode, run: (c) => requeueCommand(c.values, c.io, c.target) },
  approve: { needsId: true, announce: announceUpdates, run: (c) => updateCommand('approve', c.id!, c.values, c.io, c.target) },
  reject: { needsId: true, announce: announceUpdates, run: (c) => updateCommand('reject', c.id!, c.values, c.io, c.target) },
  reconcile: {
    // Reading Partnerize's report is a call to Partnerize too: a dry run makes none unless --live.
    // Said unless a script reads plain JSON from a live tracker (then stderr stays empty).
    announce: (io, target, values) => {
      if (!values.json || values.fix || target.mode !== 'live') announceMode(io, target, values);
    },
    run: (c) => {
      if (!mayCall(c.target, c.values)) {
        throw new OperationError(
          `${c.target.label} does not run live: reconcile reads Partnerize's conversion report, a call to Partnerize. Pass --live to read it; nothing was called.`,
        );
      }
      return reconcileCommand(c.values, c.io, c.target, (question) => confirm(c.io, question, c.values));
    },
  },
  'send-test': { announce: announceMode, run: (c) => sendTestCommand(c.values, c.io, c.target) },
};

/** The command, its arguments and options; or, when there is nothing to run (help, a usage mistake), the exit code. */
function parseCommandLine(argv: readonly string[], io: Io): { command: string; rest: string[]; values: Values } | number {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n\n${HELP['main']}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (!command || command === 'help') {
    io.stdout.write(`${HELP[rest[0] ?? 'main'] ?? HELP['main']}\n`);
    return command || values.help ? 0 : 2;
  }
  // Not `HELP[command]`: HELP also holds `main`, and a plain object answers `constructor`.
  if (command !== 'token' && !Object.hasOwn(COMMANDS, command)) {
    io.stderr.write(`unknown command '${command}'\n\n${HELP['main']}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${HELP[command]}\n`);
    return 0;
  }
  return { command, rest, values };
}

/** A failed command's message and exit code: 2 for a usage mistake (with the command's help), else 1. */
function reportFailure(err: unknown, command: string, io: Io): number {
  if (err instanceof UsageError) {
    io.stderr.write(`${err.message}\n\n${HELP[command]}\n`);
    return 2;
  }
  // A reconcile without a window, with a bad one or an unknown campaign is a usage mistake (its own exit code).
  if (command === 'reconcile' && err instanceof InputError && ['from', 'to', 'grace', 'csv', 'campaign'].includes(err.field ?? '')) {
    io.stderr.write(`${err.message}\n\n${HELP[command]}\n`);
    return RECONCILE_EXIT.usage;
  }
  if (err instanceof TargetError || err instanceof OperationError || err instanceof InputError) {
    io.stderr.write(`${err.message}\n`);
    return 1;
  }
  io.stderr.write(`pz ${command} failed: ${(err as Error).message}\n`);
  return 1;
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parseCommandLine(argv, io);
  if (typeof parsed === 'number') return parsed;
  const { command, rest, values } = parsed;
  let target: Target | undefined;
  try {
    if (command === 'token') return await tokenCommand(rest, values, io, (question) => confirm(io, question, values));
    const spec = COMMANDS[command]!;
    const id = rest[0];
    if (spec.needsId && !id) throw new UsageError(`${command} needs an order id: pz ${command} <orderId>`);
    target = await openTarget(values, io);
    spec.announce?.(io, target, values);
    return await spec.run({ id, values, io, target });
  } catch (err) {
    return reportFailure(err, command, io);
  } finally {
    target?.close();
  }
}
