/** Runs the operator CLI in this process, capturing what it writes (never on a terminal). */
import { Readable } from 'node:stream';
import { main } from '../../lib/cli/main.js';

export interface PzRun {
  code: number;
  out: string;
  err: string;
  json: () => any;
}

export async function runPz(argv: readonly string[], env: Record<string, string | undefined>): Promise<PzRun> {
  let out = '';
  let err = '';
  const stdin = Object.assign(Readable.from([]), { isTTY: false });
  const code = await main([...argv], {
    stdout: { write: (s: string) => (out += s), isTTY: false },
    stderr: { write: (s: string) => (err += s), isTTY: false },
    stdin,
    env,
  });
  return { code, out, err, json: () => JSON.parse(out) };
}
