/**
 * Bundles for the budgets and the cold-init benchmark: the functions exactly as the stack bundles
 * them (a real CDK synth), and two baselines built with the same esbuild settings — an empty
 * handler, and one that only constructs the DynamoDB client (the floor any of these functions
 * stands on).
 */
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { BUNDLING, ESM_REQUIRE_BANNER } from '../../lib/constructs/tracking-function.js';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { synthesizeBundles } from '../support/bundles.js';

export interface Bundle {
  name: string;
  file: string;
  bytes: number;
  baseline: boolean;
}

const BASELINES: Record<string, string> = {
  'empty handler': 'export const handler = async () => ({ statusCode: 204 });\n',
  'DynamoDB client only':
    "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nconst client = new DynamoDBClient({});\nexport const handler = async () => ({ statusCode: 204, region: typeof client });\n",
};

/** The stack's esbuild settings (lib/constructs/tracking-function.ts), through esbuild's API. */
async function buildLikeTheStack(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: BUNDLING.target ?? 'node24',
    mainFields: [...(BUNDLING.mainFields ?? ['module', 'main'])],
    minify: BUNDLING.minify ?? true,
    banner: { js: ESM_REQUIRE_BANNER },
    charset: 'utf8',
    logLevel: 'warning',
    absWorkingDir: PROJECT_ROOT,
  });
}

export async function buildBaselines(dir = mkdtempSync(join(tmpdir(), 'pz-baselines-'))): Promise<Bundle[]> {
  const out: Bundle[] = [];
  for (const [name, source] of Object.entries(BASELINES)) {
    const slug = name.replace(/\W+/g, '-');
    const srcDir = join(PROJECT_ROOT, 'node_modules', '.cache', 'pz-bench');
    mkdirSync(srcDir, { recursive: true });
    const entry = join(srcDir, `${slug}.mjs`);
    writeFileSync(entry, source);
    const file = join(dir, `${slug}.mjs`);
    await buildLikeTheStack(entry, file);
    out.push({ name, file, bytes: statSync(file).size, baseline: true });
  }
  return out;
}

export async function allBundles(): Promise<Bundle[]> {
  const fns = synthesizeBundles().map((b) => ({
    name: b.name.replace('Function', '').toLowerCase(),
    file: b.file,
    bytes: b.bytes,
    baseline: false,
  }));
  return [...(await buildBaselines()), ...fns.sort((a, b) => a.name.localeCompare(b.name))];
}
