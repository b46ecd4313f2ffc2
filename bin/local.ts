/**
 * `npm start`: the local endpoint. See README "Local mode" for the environment variables.
 */
import { readFileSync } from 'node:fs';
import { pzCommand, DEFAULT_LOCAL_URL } from '../lib/local/cli-hint.js';
import { isRunning } from '../lib/local/data-dir.js';
import { startLocal, type LocalServer, type TokenOrigin } from '../lib/local/server.js';

/** Linux: the parent of `pid` when `pid` is the shell npm runs our script in (`sh -c "<script>"`). */
function npmAboveScriptShell(pid: number): number | undefined {
  const script = process.env['npm_lifecycle_script'];
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!script || !args.some((a) => a.startsWith(script))) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]); // field 4
    return ppid > 1 ? ppid : undefined;
  } catch {
    return undefined; // no /proc (macOS, Windows): the parent alone is watched
  }
}

/**
 * `npm start & kill $!` kills npm, not this process: npm passes SIGTERM on to the shell running the
 * script, which dies without passing it further, and SIGKILL reaches nobody. The server would go on
 * holding its port and DATA_DIR with no job left to stop it. So, when npm started us, we stop when
 * npm is gone: our parent changed (we were re-parented) or died, or npm above the script shell died.
 * Outside npm (`node --import tsx bin/local.ts &`, nohup, a supervisor) outliving the parent is
 * what the user asked for.
 */
function stopWithNpm(stop: (why: string) => void): void {
  if (!process.env['npm_lifecycle_event']) return;
  const parent = process.ppid;
  const npm = npmAboveScriptShell(parent);
  const watched = npm === undefined ? [parent] : [parent, npm];
  const timer = setInterval(() => {
    if (process.ppid === parent && watched.every(isRunning)) return;
    clearInterval(timer);
    stop(`npm (pid ${npm ?? parent}) is gone`);
  }, 500);
  timer.unref();
}

function tokenNote(origin: TokenOrigin): string {
  switch (origin.kind) {
    case 'env':
      return origin.keptIn ? `  (POSTBACK_TOKEN, kept in ${origin.keptIn}: a restart without it keeps using it)` : '';
    case 'generated':
      return '  (generated; set POSTBACK_TOKEN to choose one, or DATA_DIR to keep it)';
    case 'kept':
      return origin.created
        ? `  (generated and kept in ${origin.path} for the next start; POSTBACK_TOKEN overrides it)`
        : `  (kept in ${origin.path} from an earlier start; POSTBACK_TOKEN overrides it)`;
  }
}

function banner(local: LocalServer): string {
  const s = local.settings;
  const f = s.functions;
  const cli =
    local.url === DEFAULT_LOCAL_URL
      ? pzCommand(local.url, 'lookup <orderId>')
      : `${pzCommand(local.url, 'lookup <orderId>')}   (or export PZ_LOCAL_URL=${local.url})`;
  return [
    'Partnerize S2S tracker — local mode',
    `  mode:       ${f.partnerizeMode}${f.partnerizeMode === 'dryrun' ? '  (calls are recorded, not sent; PARTNERIZE_MODE=live sends them)' : ''}`,
    `  partnerize: ${f.partnerizeBaseUrl}  campaign ${f.partnerizeCampaignId}${f.conversionRefPrefix ? ` (prefix ${f.conversionRefPrefix})` : ''}`,
    ...f.campaigns.map(
      (r) =>
        `  campaign:   ${r.name} → ${r.campaignId}${r.conversionRefPrefix ? ` (prefix ${r.conversionRefPrefix})` : ''} when ${Object.entries(
          r.match,
        )
          .map(([k, v]) => `${k} ${v.join('|')}`)
          .join(' and ')}`,
    ),
    `  clicks:     POST ${local.url}/clicks   GET ${local.url}/clicks?sessionId=…&clickref=…`,
    `  postbacks:  POST ${local.url}/postbacks   GET ${local.url}/postbacks?data=<url-encoded JSON>`,
    `  token:      ${local.token}${tokenNote(local.tokenOrigin)}`,
    `  auth:       Authorization: Bearer ${local.token}`,
    `  storage:    ${s.dataDir ? `embedded DynamoDB persisted in ${s.dataDir}` : 'embedded DynamoDB in memory (set DATA_DIR to keep data)'}`,
    `  retries:    sweep every ${s.sweepIntervalS}s, delays ${f.retryDelaysS.join(',')}s`,
    `  updates:    cancellations, returns, approvals → ${f.partnerizeApiBaseUrl}${s.apiKeys ? '' : '  (PARTNERIZE_APPLICATION_KEY and PARTNERIZE_USER_API_KEY not set: updates are kept and wait)'}`,
    `  demo shop:  ${local.url}/demo/?clickref=AbC123xYz  (landing page with the capture snippet → product → checkout)`,
    `  operator:   ${cli}`,
    `  process:    pid ${process.pid}  (Ctrl-C, or kill ${process.pid}, stops it)`,
    `Ready: listening on ${local.url} — local endpoint ready`,
  ].join('\n');
}

async function main(): Promise<void> {
  // The SDK warns that its 2027 releases need Node 22; Lambda runs 22+, this notice is noise here.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  let local: LocalServer;
  try {
    local = await startLocal(process.env);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number };
    // The port that was asked for is on the error: listen() failed on it.
    if (e.code === 'EADDRINUSE') console.error(`Port ${e.port} is in use: stop what holds it or set PORT=<another port>.`);
    else console.error(`Could not start the local endpoint: ${e.message}`);
    process.exit(1);
  }
  console.log(banner(local));

  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${why}: stopping`);
    local
      .close()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(signal));
  // The output is for people: a terminal or pipe that went away with npm must not crash the shutdown.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  stopWithNpm(stop);
}

void main();
