/**
 * The operator CLI against the local mode (a real `npm start` process with a recording Partnerize)
 * and against a "deployed stack" whose CloudFormation outputs are mocked (no AWS here) and whose
 * tables are the local mode's dynalite.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalInfo } from '../../lib/local/server.js';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';
import { runPz } from '../support/pz.js';

const TOKEN = 'cli-token-123456';
let partnerize: FakePartnerize;
let local: LocalProcess;
let info: LocalInfo;

const pz = (...argv: string[]) => runPz(argv, { PZ_LOCAL_URL: local.url });

const post = async (path: string, body: unknown): Promise<{ json(): Promise<any> }> =>
  fetch(`${local.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const order = (orderId: string, extra: Record<string, unknown> = {}) => ({
  orderId,
  currency: 'GBP',
  consent: true,
  items: [{ sku: 'S', category: 'c', value: '2.50', quantity: 2 }],
  ...extra,
});
async function waitFor(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const statusOf = async (id: string) => (await pz('lookup', id, '--json')).json().status as string;

beforeAll(async () => {
  partnerize = await FakePartnerize.start();
  partnerize.setDefault((req) =>
    req.url.includes('conversionref:CLI-FAIL')
      ? { status: 500, body: 'down' }
      : req.url.includes('conversionref:CLI-REJ')
        ? { status: 400, body: 'bad' }
        : { status: 200, body: 'OK' },
  );
  local = await startLocalProcess({
    PARTNERIZE_MODE: 'live',
    PARTNERIZE_BASE_URL: partnerize.url,
    POSTBACK_TOKEN: TOKEN,
    RETRY_DELAYS_S: '0.1,0.1',
    SWEEP_INTERVAL_S: '0.2',
  });
  info = (await (await fetch(`${local.url}/_local/info`)).json()) as LocalInfo;
  await post('/clicks', { sessionId: 'cli-session-0001', clickref: 'CliClick1' });
  expect((await (await post('/postbacks', order('CLI-SENT', { sessionId: 'cli-session-0001' }))).json()).outcome).toBe('sent');
  expect((await (await post('/postbacks', order('CLI-FAIL', { clickref: 'Fail1' }))).json()).outcome).toBe('queued');
  expect((await (await post('/postbacks', order('CLI-REJ', { clickref: 'Rej1' }))).json()).outcome).toBe('rejected');
  expect((await (await post('/postbacks', order('CLI-UNATTR', { sessionId: 'nobody-session' }))).json()).outcome).toBe('unattributed');
  await waitFor(async () => (await statusOf('CLI-FAIL')) === 'failed', 'CLI-FAIL to fail');
});
afterAll(async () => {
  await local?.stop();
  await partnerize?.close();
});

describe('pz lookup', () => {
  it('tells the story of an order: status, clickref and its source, attempts, the exact call', async () => {
    const r = await pz('lookup', 'CLI-SENT');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Conversion CLI-SENT: SENT');
    expect(r.out).toMatch(/clickref\s+CliClick1\s+\(the session's latest click/);
    expect(r.out).toMatch(
      /call\s+GET http:\/\/127\.0\.0\.1:\d+\/conversion\/tracking_mode:api\/campaign:1011l0000\/clickref:CliClick1\/conversionref:CLI-SENT\//,
    );
    expect(r.out).toMatch(/1\s+\S+\s+inline\s+sent\s+200\s+\d+ ms\s+OK/);
  });

  it('--json gives the whole record', async () => {
    const rec = (await pz('lookup', 'CLI-FAIL', '--json')).json();
    expect(rec).toMatchObject({ conversionRef: 'CLI-FAIL', status: 'failed', clickrefSource: 'postback' });
    expect(rec.attempts.map((a: { status: number }) => a.status)).toEqual([500, 500, 500]);
    expect(rec.attempts[0].body).toBe('down');
  });

  it('an unknown order exits 1 and says what "not stored" means', async () => {
    const r = await pz('lookup', 'NOPE-404');
    expect(r.code).toBe(1);
    expect(r.out).toContain('No conversion for NOPE-404');
  });
});

describe('pz replay', () => {
  it('refuses to act without confirmation off a terminal', async () => {
    const before = partnerize.requestsFor('CLI-SENT').length;
    const r = await pz('replay', 'CLI-SENT');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--yes');
    expect(partnerize.requestsFor('CLI-SENT')).toHaveLength(before);
  });

  it('sends again, even when already sent, and records the attempt', async () => {
    const r = await pz('replay', 'CLI-SENT', '--yes', '--json');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({
      conversionRef: 'CLI-SENT',
      status: 'sent',
      recorded: true,
      attempt: { trigger: 'replay', status: 200 },
    });
    expect(partnerize.acceptedCounts().get('CLI-SENT')).toBe(2);
    const rec = (await pz('lookup', 'CLI-SENT', '--json')).json();
    expect(rec.attempts.map((a: { trigger: string }) => a.trigger)).toEqual(['inline', 'replay']);
  });

  it('--clickref attributes an unattributed conversion and sends it', async () => {
    expect((await pz('replay', 'CLI-UNATTR', '--yes')).code).toBe(1); // no clickref: refused
    const r = await pz('replay', 'CLI-UNATTR', '--clickref', 'Found_Later-1', '--yes');
    expect(r.code).toBe(0);
    const sent = partnerize.requestsFor('CLI-UNATTR');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toContain('/clickref:Found_Later-1/conversionref:CLI-UNATTR/currency:GBP/');
    expect(sent[0]!.url).toContain('/[category:c/sku:S/value:2.50/quantity:2]');
    expect((await pz('lookup', 'CLI-UNATTR', '--json')).json()).toMatchObject({
      status: 'sent',
      clickref: 'Found_Later-1',
      clickrefSource: 'operator',
    });
    expect((await pz('replay', 'CLI-UNATTR', '--clickref', 'bad ref', '--yes')).err).toContain('--clickref');
  });
});

describe('pz requeue', () => {
  it('needs --failed or --rejected', async () => {
    expect((await pz('requeue')).code).toBe(2);
  });

  it('--failed puts failed conversions back; the retry loop then delivers them', async () => {
    partnerize.setDefault((req) => (req.url.includes('conversionref:CLI-REJ') ? { status: 400 } : { status: 200, body: 'OK' }));
    const r = await pz('requeue', '--failed', '--yes');
    expect(r.code).toBe(0);
    expect(r.out).toContain('CLI-FAIL');
    expect(r.out).toMatch(/1 of 1 requeued/);
    expect(r.err).toContain('requeue: 1/1');
    await waitFor(async () => (await statusOf('CLI-FAIL')) === 'sent', 'CLI-FAIL to be sent');
    expect(partnerize.acceptedCounts().get('CLI-FAIL')).toBe(1);
    expect((await pz('requeue', '--failed', '--yes', '--json')).json()).toEqual({ found: 0, requeued: 0, conversionRefs: [] });
  });

  it('--since narrows by last change', async () => {
    const r = await pz('requeue', '--rejected', '--since', '2099-01-01T00:00:00Z', '--yes');
    expect(r.out).toContain('Nothing to requeue');
    expect((await pz('requeue', '--rejected', '--since', 'yesterday')).code).toBe(1);
  });
});

describe('pz send-test', () => {
  it('reports a synthetic click and order (dry run) and checks the call carries the clickref', async () => {
    const before = partnerize.requests.length;
    const r = await pz('send-test', '--json');
    expect(r.code).toBe(0);
    const j = r.json();
    expect(j).toMatchObject({ ok: true, click: { status: 204 }, postback: { status: 202, body: { outcome: 'dry_run' } } });
    expect(j.record.request.url).toContain(`/clickref:${j.clickref}/`);
    expect(partnerize.requests).toHaveLength(before);
  });

  it('--live sends it', async () => {
    const r = await pz('send-test', '--live', '--clickref', 'LiveTest1');
    expect(r.code).toBe(0);
    expect(r.out).toContain('LIVE');
    expect(partnerize.requests.at(-1)!.url).toContain('/clickref:LiveTest1/');
  });
});

describe('pz against a deployed stack', () => {
  it('finds the tables, API and token from the CloudFormation outputs', async () => {
    const cfn = mockClient(CloudFormationClient);
    const sm = mockClient(SecretsManagerClient);
    const oldEndpoint = process.env['AWS_ENDPOINT_URL_DYNAMODB'];
    try {
      cfn.on(DescribeStacksCommand, { StackName: 'PartnerizeS2S' }).resolves({
        Stacks: [
          {
            StackName: 'PartnerizeS2S',
            CreationTime: new Date(),
            StackStatus: 'CREATE_COMPLETE',
            Outputs: [
              { OutputKey: 'ApiUrl', OutputValue: local.url },
              { OutputKey: 'ClicksTableName', OutputValue: info.tables.clicks },
              { OutputKey: 'ConversionsTableName', OutputValue: info.tables.conversions },
              { OutputKey: 'PostbackTokenSecretArn', OutputValue: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:tok' },
            ],
          },
        ],
      });
      sm.on(GetSecretValueCommand).resolves({ SecretString: TOKEN });
      process.env['AWS_ENDPOINT_URL_DYNAMODB'] = info.dynamodbEndpoint; // the "AWS" DynamoDB is dynalite here
      const look = await pz('lookup', 'CLI-SENT', '--stack', 'PartnerizeS2S', '--region', 'eu-west-1');
      expect(look.code).toBe(0);
      expect(look.out).toContain('Conversion CLI-SENT');
      const test = await pz('send-test', '--stack', 'PartnerizeS2S', '--region', 'eu-west-1', '--json');
      expect(test.json().ok).toBe(true);
      expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input.SecretId).toContain(':secret:tok');
      cfn.on(DescribeStacksCommand, { StackName: 'Nope' }).rejects(new Error('Stack with id Nope does not exist'));
      const missing = await pz('lookup', 'X', '--stack', 'Nope');
      expect(missing.code).toBe(1);
      expect(missing.err).toContain('cannot read stack Nope');
    } finally {
      cfn.restore();
      sm.restore();
      if (oldEndpoint === undefined) delete process.env['AWS_ENDPOINT_URL_DYNAMODB'];
      else process.env['AWS_ENDPOINT_URL_DYNAMODB'] = oldEndpoint;
    }
  });
});

describe('pz --help', () => {
  it.each(['lookup', 'replay', 'requeue', 'send-test'])('%s --help explains the command', async (cmd) => {
    const r = await pz(cmd, '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`pz ${cmd}`);
    expect(r.out).toContain('--json');
  });

  it('no command prints the overview; an unknown one is a usage error', async () => {
    expect((await pz()).out).toContain('Commands:');
    expect((await pz('frobnicate')).code).toBe(2);
  });

  it.each(['main', 'constructor'])('%s, a name HELP answers to but no command, is a usage error that runs nothing', async (name) => {
    const r = await pz(name);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`unknown command '${name}'`);
    expect(r.out).toBe('');
  });
});
