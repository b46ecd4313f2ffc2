/**
 * The whole flow in a real browser: headless Chromium (Debian's package, driven by playwright-core;
 * nothing downloaded) on the local mode's demo shop, with Partnerize as a recording server.
 * Outside CI, a missing Chromium skips this file with a note; in CI it must run.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoClickStore } from '#lambdas/adapters/dynamodb-stores.js';
import { localDynamoClient } from '../../lib/local/embedded-dynamodb.js';
import type { LocalInfo } from '../../lib/local/server.js';
import { FakePartnerize } from '../support/fake-partnerize.js';
import { startLocalProcess, type LocalProcess } from '../support/local-process.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env['CI'])
  throw new Error(`Chromium is required in CI and missing at ${CHROMIUM}: .ci/run installs it with apt-get install chromium`);
if (!available)
  console.warn(
    `Skipping the browser tests: no Chromium at ${CHROMIUM}. Install it with: sudo apt-get install -y chromium (or set CHROMIUM_PATH).`,
  );

let browser: Browser;
let partnerize: FakePartnerize;
let local: LocalProcess;
let info: LocalInfo;

describe.skipIf(!available)('the demo shop in headless Chromium', () => {
  beforeAll(async () => {
    partnerize = await FakePartnerize.start();
    local = await startLocalProcess({ PARTNERIZE_MODE: 'live', PARTNERIZE_BASE_URL: partnerize.url, POSTBACK_TOKEN: 'browser-test-token' });
    info = (await (await fetch(`${local.url}/_local/info`)).json()) as LocalInfo;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await local?.stop();
    await partnerize?.close();
  });

  const clicksWith = async (clickref: string) => {
    const db = localDynamoClient(info.dynamodbEndpoint);
    try {
      const r = await db.send(
        new ScanCommand({
          TableName: info.tables.clicks,
          FilterExpression: 'clickref = :c',
          ExpressionAttributeValues: { ':c': { S: clickref } },
        }),
      );
      return r.Count ?? 0;
    } finally {
      db.destroy();
    }
  };

  const clickOf = async (sessionId: string) => {
    const db = localDynamoClient(info.dynamodbEndpoint);
    try {
      return await new DynamoClickStore(db, info.tables.clicks).get(sessionId);
    } finally {
      db.destroy();
    }
  };

  // Headless Chromium says "HeadlessChrome" (a bot, rightly); a shopper's browser does not.
  const SHOPPER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36';

  it('landing with ?clickref=AbC123xYz → cookie and click recorded → checkout → Partnerize receives clickref:AbC123xYz exactly', async () => {
    const context = await browser.newContext({ userAgent: SHOPPER_UA });
    const page = await context.newPage();
    await page.goto(`${local.url}/demo/?clickref=AbC123xYz`);
    await page.click('#consent-accept');
    await page.waitForSelector('body[data-capture="recorded"]');

    const cookies = Object.fromEntries((await context.cookies()).map((c) => [c.name, c]));
    expect(cookies['pz_clickref']).toMatchObject({ value: 'AbC123xYz', sameSite: 'Lax', path: '/' });
    expect(cookies['pz_clickref']!.expires - Date.now() / 1000).toBeGreaterThan(29 * 86400);
    const sessionId = cookies['pz_session']!.value;
    expect(sessionId).toMatch(/^[0-9a-f]{32}$/);
    await expect.poll(async () => (await clickOf(sessionId))?.clickref, { timeout: 5000 }).toBe('AbC123xYz');
    expect((await clickOf(sessionId))!.device).toBe('desktop');

    await page.click('#to-product');
    await page.click('#buy');
    await page.waitForSelector('#outcome');
    expect(await page.textContent('#outcome')).toBe('sent');
    const orderId = (await page.textContent('#order-id'))!;
    const sent = partnerize.requestsFor(orderId);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toContain('/clickref:AbC123xYz/');
    expect(sent[0]!.url).toMatch(
      new RegExp(`^/conversion/tracking_mode:api/campaign:[^/]+/clickref:AbC123xYz/conversionref:${orderId}/currency:GBP/`),
    );
    expect(sent[0]!.url).toContain('/device:desktop/');
    expect(await page.textContent('#call')).toContain('clickref:AbC123xYz');
    await context.close();
  });

  it('consent refused → no cookie, no click, and the order is no_consent (never sent)', async () => {
    const context = await browser.newContext({ userAgent: SHOPPER_UA });
    const page = await context.newPage();
    const callsBefore = partnerize.requests.length;
    await page.goto(`${local.url}/demo/?clickref=Refused42`);
    await page.click('#consent-refuse');
    await page.waitForSelector('body[data-capture="no-consent"]');
    const names = (await context.cookies()).map((c) => c.name);
    expect(names).not.toContain('pz_clickref');
    expect(names).not.toContain('pz_session');

    await page.click('#to-product');
    await page.click('#buy');
    await page.waitForSelector('#outcome');
    expect(await page.textContent('#outcome')).toBe('no_consent');
    expect(partnerize.requests).toHaveLength(callsBefore);
    expect(await clicksWith('Refused42')).toBe(0);
    expect(partnerize.requests.some((r) => r.url.includes('Refused42'))).toBe(false);
    await context.close();
  });
});
