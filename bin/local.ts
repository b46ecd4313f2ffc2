/**
 * `npm start`: the local endpoint. See README "Local mode" for the environment variables.
 */
import { startLocal } from '../lib/local/server.js';

async function main(): Promise<void> {
  // The SDK warns that its 2027 releases need Node 22; Lambda runs 22+, this notice is noise here.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  let local;
  try {
    local = await startLocal();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') console.error(`Port ${process.env['PORT'] ?? 3000} is in use: stop what holds it or set PORT=<another port>.`);
    else console.error(`Could not start the local endpoint: ${e.message}`);
    process.exit(1);
  }
  const s = local.settings;
  const lines = [
    'Partnerize S2S tracker — local mode',
    `  mode:       ${s.mode}${s.mode === 'dryrun' ? '  (calls are recorded, not sent; PARTNERIZE_MODE=live sends them)' : ''}`,
    `  partnerize: ${s.baseUrl}  campaign ${s.campaignId}`,
    `  clicks:     POST ${local.url}/clicks   GET ${local.url}/clicks?sessionId=…&clickref=…`,
    `  postbacks:  POST ${local.url}/postbacks   GET ${local.url}/postbacks?data=<url-encoded JSON>`,
    `  token:      ${s.token}${s.tokenGenerated ? '  (generated; set POSTBACK_TOKEN to choose one)' : ''}`,
    `  auth:       Authorization: Bearer ${s.token}`,
    `  storage:    ${s.dataDir ? `embedded DynamoDB persisted in ${s.dataDir}` : 'embedded DynamoDB in memory (set DATA_DIR to keep data)'}`,
    `  retries:    sweep every ${s.sweepIntervalS}s, delays ${s.retryDelaysS.join(',')}s`,
    `  demo shop:  ${local.url}/demo/?clickref=AbC123xYz  (landing page with the capture snippet → product → checkout)`,
    `Ready: listening on ${local.url} — local endpoint ready`,
  ];
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    local
      .close()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
