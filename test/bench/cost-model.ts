/**
 * Dollars per million clicks and per million conversions, from what the run measured (DynamoDB
 * units, index writes, log bytes, handler CPU) and list prices (us-east-1), next to the floor of the
 * bare services.
 */
import type { Consumption } from './measure.js';

/** List prices, us-east-1, as published for these services in 2026. */
export const PRICES = {
  httpApiPerMillion: 1.0,
  lambdaRequestsPerMillion: 0.2,
  lambdaArmGbSecond: 0.0000133334,
  dynamoWruPerMillion: 0.625,
  dynamoRruPerMillion: 0.125,
  logsIngestStandardPerGb: 0.5,
  logsIngestInfrequentPerGb: 0.25,
  secretsApiPer10k: 0.05,
} as const;

/** What the run cannot measure here, stated so anyone can change it. */
export const ASSUMPTIONS = {
  /** DynamoDB answers in-region in a few milliseconds. */
  dynamoLatencyMs: 6,
  /** Partnerize's S2S endpoint (the inline attempt the postback waits for). */
  partnerizeLatencyMs: 150,
  /** Lambda gives a full vCPU at 1,769 MB and a share in proportion below. */
  fullCpuMb: 1769,
  /**
   * A warm instance checks the token's secret once per cache period of 300 s with one DescribeSecret
   * (lambdas/adapters/token-source.ts; a cold start reads 3 values, taken as one more call per period
   * to stay on the safe side), at 1 M conversions a month.
   */
  secretReadsPerMillionConversions: ((30 * 24 * 3600) / 300) * 2,
} as const;

export interface CostLine {
  item: string;
  dollars: number;
}

export interface CostResult {
  lines: CostLine[];
  total: number;
  floor: number;
  billedMs: number;
}

const perMillion = (bytes: number, perGb: number) => ((bytes * 1e6) / 1024 ** 3) * perGb;

export function costPerMillion(kind: 'click' | 'conversion', c: Consumption, cpuUs: number, memoryMb: number): CostResult {
  const cpuMs = (cpuUs / 1000) * Math.max(1, ASSUMPTIONS.fullCpuMb / memoryMb);
  const ioMs =
    Object.values(c.ops).reduce((s, n) => s + n, 0) * ASSUMPTIONS.dynamoLatencyMs + c.partnerizeCalls * ASSUMPTIONS.partnerizeLatencyMs;
  const billedMs = Math.ceil(cpuMs + ioMs);
  const lines: CostLine[] = [
    { item: 'HTTP API request', dollars: PRICES.httpApiPerMillion },
    { item: 'Lambda request', dollars: PRICES.lambdaRequestsPerMillion },
    {
      item: `Lambda duration (${billedMs} ms at ${memoryMb} MB arm64)`,
      dollars: (memoryMb / 1024) * (billedMs / 1000) * PRICES.lambdaArmGbSecond * 1e6,
    },
    {
      item: `DynamoDB writes (${(c.wru + c.indexWrites).toFixed(2)} WRU incl. ${c.indexWrites.toFixed(2)} index)`,
      dollars: (c.wru + c.indexWrites) * PRICES.dynamoWruPerMillion,
    },
    { item: `DynamoDB reads (${c.rru.toFixed(2)} RRU)`, dollars: c.rru * PRICES.dynamoRruPerMillion },
    {
      item: `Function logs and EMF (${c.logBytes.toFixed(0)} B, standard class)`,
      dollars: perMillion(c.logBytes, PRICES.logsIngestStandardPerGb),
    },
    {
      item: `API access log (${c.accessLogBytes} B, infrequent-access class)`,
      dollars: perMillion(c.accessLogBytes, PRICES.logsIngestInfrequentPerGb),
    },
  ];
  if (kind === 'conversion') {
    lines.push({
      item: 'Secrets Manager reads (token cache, 1 M/month)',
      dollars: (ASSUMPTIONS.secretReadsPerMillionConversions / 1e4) * PRICES.secretsApiPer10k,
    });
  }
  const total = lines.reduce((s, l) => s + l.dollars, 0);
  // The bare services: one HTTP API request, one Lambda request, one DynamoDB write unit.
  const floor = PRICES.httpApiPerMillion + PRICES.lambdaRequestsPerMillion + PRICES.dynamoWruPerMillion;
  return { lines, total, floor, billedMs };
}
