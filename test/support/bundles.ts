import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildStack, resourcesOf } from './stack.js';

const run = promisify(execFile);

export interface SynthesizedBundle {
  /** ClicksFunction, PostbacksFunction, RetryFunction */
  name: string;
  file: string;
  bytes: number;
}

/** Synthesizes the stack with real esbuild bundling and returns each function's bundle file. */
export function synthesizeBundles(): SynthesizedBundle[] {
  const outdir = mkdtempSync(join(tmpdir(), 'pz-synth-'));
  const { app, template } = buildStack({}, { bundle: true, outdir });
  app.synth();
  return Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).map(([id, fn]) => {
    const key = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    const file = join(outdir, `asset.${key}`, 'index.mjs');
    if (!existsSync(file)) throw new Error(`bundle of ${id} not found at ${file}`);
    return { name: id.replace(/[0-9A-F]{8}$/, ''), file, bytes: statSync(file).size };
  });
}

/** Loads (and invokes, if an event is given) a bundle in a fresh Node process. */
export async function invokeBundle(
  file: string,
  env: Record<string, string>,
  event?: unknown,
): Promise<{ ok: boolean; loadMs?: number; result?: any; error?: string }> {
  const args = [join(import.meta.dirname, 'invoke-bundle.mjs'), file, ...(event === undefined ? [] : [JSON.stringify(event)])];
  try {
    const { stdout } = await run(process.execPath, args, { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 30_000 });
    return JSON.parse(stdout.trim().split('\n').pop()!);
  } catch (err) {
    const stdout = (err as { stdout?: string }).stdout ?? '';
    const line = stdout.trim().split('\n').pop();
    return line ? JSON.parse(line) : { ok: false, error: String(err) };
  }
}
