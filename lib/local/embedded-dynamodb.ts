/**
 * An embedded DynamoDB for the local mode and the tests: dynalite (a DynamoDB-compatible server
 * written in Node) on 127.0.0.1, in memory or persisted under a directory, with the stack's tables.
 */
import { createServer as createNetServer } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { dynamoClient } from '#lambdas/runtime/dynamodb.js';
import { CLICKS, CAMPAIGN_TIME_INDEX, CONVERSIONS } from '#lambdas/adapters/tables.js';

export interface EmbeddedDynamo {
  endpoint: string;
  client: DynamoDBClient;
  tables: { clicks: string; conversions: string };
  close(): Promise<void>;
}

export interface EmbeddedDynamoOptions {
  /** Persist here (LevelDB files); in memory when absent. */
  dataDir?: string | undefined;
  /** 0 picks a free port. */
  port?: number;
  tables?: { clicks: string; conversions: string };
  /** Run dynalite on a worker thread (the local mode does: its handlers keep their own event loop). */
  thread?: boolean;
}

/** Fake credentials: dynalite does not check them, the SDK insists on having some. */
export const LOCAL_AWS_ENV = {
  AWS_REGION: 'local',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
} as const;

/** A client of a local DynamoDB: the functions' own (bounded, fake credentials). */
export const localDynamoClient = (endpoint: string): DynamoDBClient => dynamoClient(endpoint);

async function exists(client: DynamoDBClient, name: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: name }));
    return true;
  } catch (err) {
    if (err instanceof ResourceNotFoundException || (err as { name?: string }).name === 'ResourceNotFoundException') return false;
    throw err;
  }
}

/** Creates the clicks and conversions tables (same keys and index as the stack) if missing. */
export async function ensureTables(client: DynamoDBClient, tables: { clicks: string; conversions: string }): Promise<void> {
  if (!(await exists(client, tables.clicks))) {
    await client.send(
      new CreateTableCommand({
        TableName: tables.clicks,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: CLICKS.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: CLICKS.partitionKey, KeyType: 'HASH' }],
      }),
    );
  }
  if (!(await exists(client, tables.conversions))) {
    await client.send(
      new CreateTableCommand({
        TableName: tables.conversions,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: CONVERSIONS.partitionKey, AttributeType: 'S' },
          { AttributeName: CONVERSIONS.dueIndexPartitionKey, AttributeType: 'S' },
          { AttributeName: CONVERSIONS.dueIndexSortKey, AttributeType: 'N' },
          { AttributeName: CAMPAIGN_TIME_INDEX.partitionKey, AttributeType: 'S' },
          { AttributeName: CAMPAIGN_TIME_INDEX.sortKey, AttributeType: 'N' },
        ],
        KeySchema: [{ AttributeName: CONVERSIONS.partitionKey, KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: CONVERSIONS.dueIndex,
            KeySchema: [
              { AttributeName: CONVERSIONS.dueIndexPartitionKey, KeyType: 'HASH' },
              { AttributeName: CONVERSIONS.dueIndexSortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
          {
            IndexName: CAMPAIGN_TIME_INDEX.name,
            KeySchema: [
              { AttributeName: CAMPAIGN_TIME_INDEX.partitionKey, KeyType: 'HASH' },
              { AttributeName: CAMPAIGN_TIME_INDEX.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
      }),
    );
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** dynalite on a worker thread; resolves with its port and a way to stop it. */
async function startOnThread(opts: EmbeddedDynamoOptions): Promise<{ port: number; worker: Worker; close: () => Promise<void> }> {
  const worker = new Worker(new URL('./dynalite-worker.mjs', import.meta.url), {
    workerData: { path: opts.dataDir, port: opts.port ?? 0 },
  });
  const port = await new Promise<number>((resolve, reject) => {
    const failed = (err: Error) => reject(err);
    worker.once('error', failed);
    worker.once('message', (m: { port?: number }) => {
      worker.off('error', failed);
      if (m.port) resolve(m.port);
      else reject(new Error('dynalite worker did not start'));
    });
  });
  // A crash later is loud (the local mode's calls then fail with connection errors, never hang).
  worker.on('error', (err) => console.error('embedded DynamoDB (dynalite) thread failed:', err));
  return {
    port,
    worker,
    close: async () => {
      const closed = new Promise<void>((resolve) => worker.on('message', (m: { closed?: boolean }) => m.closed && resolve()));
      worker.postMessage('close');
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
      await worker.terminate();
    },
  };
}

/** dynalite in this thread; resolves with its port and a way to stop it. */
async function startHere(opts: EmbeddedDynamoOptions): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = dynalite({
    ...(opts.dataDir ? { path: opts.dataDir } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('dynalite did not bind');
  return {
    port: addr.port,
    close: async () => {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function startEmbeddedDynamo(opts: EmbeddedDynamoOptions = {}): Promise<EmbeddedDynamo> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const running = opts.thread ? await startOnThread(opts) : await startHere(opts);
  const endpoint = `http://127.0.0.1:${running.port}`;
  const client = localDynamoClient(endpoint);
  const tables = opts.tables ?? { clicks: 'Clicks', conversions: 'Conversions' };
  await ensureTables(client, tables);
  return {
    endpoint,
    client,
    tables,
    close: async () => {
      client.destroy();
      await running.close();
    },
  };
}
