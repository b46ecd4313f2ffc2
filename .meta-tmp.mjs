import { build } from 'esbuild';
const r = await build({
  entryPoints: ['lambdas/postbacks.ts'],
  outfile: '/tmp/sources-pb.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  mainFields: ['module', 'main'],
  minify: true,
  metafile: true,
  charset: 'utf8',
  logLevel: 'warning',
});
const out = Object.values(r.metafile.outputs)[0];
for (const [k, v] of Object.entries(out.inputs))
  if (/source-mapping|ga4|segment|tealium|order-events/.test(k)) console.log(v.bytesInOutput, k);
console.log('bundle', out.bytes);
