/** The operator CLI: `npm run pz -- <command>` or `npx pz <command>`. See `pz --help`. */
import { main } from '../lib/cli/main.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
process.exitCode = code;
