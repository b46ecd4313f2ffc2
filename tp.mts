import { localThroughput } from './test/bench/measure.ts';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const r = await localThroughput({ seconds: 4, rounds: 3, concurrency: 16 });
console.log(process.env.LOCAL_DYNAMO_TRANSPORT ?? 'port', r.map((x) => `${x.name}: ${x.serverRps.toFixed(0)}/${x.floorRps.toFixed(0)} = ${(x.serverRps / x.floorRps).toFixed(2)}`).join(' | '));
