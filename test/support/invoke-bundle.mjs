// Loads a synthesized Lambda bundle in this fresh process, like the Lambda runtime does, and
// optionally invokes its handler with an event given as JSON on argv. Prints one JSON line.
const [, , bundlePath, eventJson] = process.argv;
const started = performance.now();
try {
  const mod = await import(bundlePath);
  const loadMs = performance.now() - started;
  if (typeof mod.handler !== 'function') throw new Error('no handler export');
  let result;
  if (eventJson) {
    const context = { functionName: 'bundle-test', awsRequestId: 'req', getRemainingTimeInMillis: () => 10_000 };
    result = await mod.handler(JSON.parse(eventJson), context);
  }
  console.log(JSON.stringify({ ok: true, loadMs, result }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err?.stack || err) }));
  process.exitCode = 1;
}
