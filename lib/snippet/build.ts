/**
 * Builds the snippet: ESM and classic script, minified, for browsers from 2019 on (ES2018).
 * `npm run build:snippet` writes them to dist/snippet/; the local mode serves them from memory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { PROJECT_ROOT } from '../paths.js';

export interface SnippetBuild {
  esm: string;
  classic: string;
}

export async function buildSnippet(): Promise<SnippetBuild> {
  const common = {
    bundle: true,
    minify: true,
    write: false,
    target: 'es2018',
    platform: 'browser' as const,
    legalComments: 'none' as const,
  };
  const [esm, classic] = await Promise.all([
    build({ ...common, entryPoints: [join(PROJECT_ROOT, 'lib', 'snippet', 'capture.ts')], format: 'esm' }),
    build({ ...common, entryPoints: [join(PROJECT_ROOT, 'lib', 'snippet', 'classic.ts')], format: 'iife' }),
  ]);
  const text = (r: { outputFiles?: Array<{ text: string }> }) => {
    const f = r.outputFiles?.[0];
    if (!f) throw new Error('esbuild wrote no snippet');
    return f.text;
  };
  return { esm: text(esm), classic: text(classic) };
}

export const sizes = (code: string) => ({ bytes: Buffer.byteLength(code), gzip: gzipSync(code).length });

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = join(PROJECT_ROOT, 'dist', 'snippet');
  mkdirSync(out, { recursive: true });
  const s = await buildSnippet();
  writeFileSync(join(out, 'pz-capture.mjs'), s.esm);
  writeFileSync(join(out, 'pz-capture.js'), s.classic);
  for (const [name, code] of Object.entries({ 'pz-capture.mjs': s.esm, 'pz-capture.js': s.classic })) {
    const z = sizes(code);
    console.log(`${name}: ${z.bytes} B minified, ${z.gzip} B gzip`);
  }
}
