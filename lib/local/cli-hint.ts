/**
 * The operator CLI commands the local mode prints, for the URL it really listens on.
 */

/** Where the CLI looks for the local mode when given neither --local nor PZ_LOCAL_URL. */
export const DEFAULT_LOCAL_URL = 'http://127.0.0.1:3000';

/** `npm run pz -- <args>`, with `--local <url>` unless the CLI finds this server by default. */
export const pzCommand = (url: string, args: string): string =>
  `npm run pz -- ${args}${url === DEFAULT_LOCAL_URL ? '' : ` --local ${url}`}`;
