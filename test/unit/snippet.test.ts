import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capture, cookie, newSessionId, readCookie, type CaptureEnv } from '../../lib/snippet/capture.js';
import { buildSnippet, sizes } from '../../lib/snippet/build.js';

function fakeEnv(href: string, opts: { cookies?: string; beacon?: boolean | 'missing' } = {}) {
  const set: string[] = [];
  const beacons: Array<{ url: string; body: Blob }> = [];
  const fetches: Array<{ url: string; init: RequestInit }> = [];
  let jar = opts.cookies ?? '';
  let draw = 0;
  const env: CaptureEnv = {
    href,
    getCookie: () => jar,
    setCookie: (c) => {
      set.push(c);
      const [pair] = c.split(';');
      jar = jar ? `${jar}; ${pair}` : pair!;
    },
    // A different draw each time (a session id and a session key must never be the same bytes).
    random: (b) => b.map(() => (draw = (draw * 73 + 41) % 256)),
    beacon:
      opts.beacon === 'missing'
        ? undefined
        : (url, body) => {
            beacons.push({ url, body });
            return opts.beacon !== false;
          },
    fetch: async (url, init) => void fetches.push({ url, init }),
  };
  return { env, set, beacons, fetches };
}

describe('capture', () => {
  it('reads the clickref exactly as the URL has it, keeps it in a cookie, and beacons {sessionId, clickref, sessionKey} as text/plain', async () => {
    const f = fakeEnv('https://shop.example/landing?utm_source=pz&clickref=AbC123xYz');
    const r = await capture({ endpoint: 'https://api.example/clicks', consent: () => true, env: f.env });
    expect(r).toMatchObject({ clickref: 'AbC123xYz', sent: 'beacon' });
    expect(r.sessionId).toMatch(/^[0-9a-f]{32}$/); // 128 random bits
    const key = readCookie(f.env.getCookie(), 'pz_key')!;
    expect(key).toMatch(/^[0-9a-f]{32}$/); // 128 more, a secret of its own
    expect(key).not.toBe(r.sessionId);
    expect(f.set).toEqual([
      `pz_session=${r.sessionId}; Max-Age=2592000; Path=/; SameSite=Lax; Secure`,
      `pz_key=${key}; Max-Age=2592000; Path=/; SameSite=Lax; Secure`,
      'pz_clickref=AbC123xYz; Max-Age=2592000; Path=/; SameSite=Lax; Secure',
    ]);
    expect(f.beacons).toHaveLength(1);
    expect(f.beacons[0]!.url).toBe('https://api.example/clicks');
    expect(f.beacons[0]!.body.type).toBe('text/plain;charset=utf-8');
    expect(JSON.parse(await f.beacons[0]!.body.text())).toEqual({ sessionId: r.sessionId, clickref: 'AbC123xYz', sessionKey: key });
  });

  it('uses a provided session id (or function) and keeps no session cookie then', async () => {
    const f = fakeEnv('http://shop.example/?clickref=Ref1');
    const r = await capture({ endpoint: '/clicks', consent: () => true, sessionId: () => 'tealium-visitor-0123456789abcdef', env: f.env });
    expect(r.sessionId).toBe('tealium-visitor-0123456789abcdef');
    const key = readCookie(f.env.getCookie(), 'pz_key');
    expect(f.set).toEqual([
      `pz_key=${key}; Max-Age=2592000; Path=/; SameSite=Lax`,
      'pz_clickref=Ref1; Max-Age=2592000; Path=/; SameSite=Lax',
    ]); // no Secure on http
  });

  it('keeps the session id and key it made before (so its next click may replace the last), and the latest clickref wins', async () => {
    const f = fakeEnv('https://shop.example/?clickref=Second', {
      cookies: 'pz_session=abcdef0123456789abcdef0123456789; pz_key=5f0c9a1e7b3d4c2a8e6f1b0d9c7a5e3f; pz_clickref=First',
    });
    const r = await capture({ endpoint: '/clicks', consent: () => true, env: f.env });
    expect(r.sessionId).toBe('abcdef0123456789abcdef0123456789');
    expect(JSON.parse(await f.beacons[0]!.body.text())).toMatchObject({ sessionKey: '5f0c9a1e7b3d4c2a8e6f1b0d9c7a5e3f' });
    expect(f.set.at(-1)).toContain('pz_clickref=Second;');
  });

  it('asks consent first: refused (or failing) means no cookie and no request', async () => {
    for (const consent of [
      () => false,
      async () => false,
      () => Promise.reject(new Error('cmp down')),
      () => 'yes' as unknown as boolean,
    ]) {
      const f = fakeEnv('https://shop.example/?clickref=AbC');
      const r = await capture({ endpoint: '/clicks', consent, env: f.env });
      expect(r).toEqual({ clickref: 'AbC', skipped: 'no-consent' });
      expect(f.set).toEqual([]);
      expect(f.beacons).toEqual([]);
      expect(f.fetches).toEqual([]);
    }
    const ok = fakeEnv('https://shop.example/?clickref=AbC');
    expect((await capture({ endpoint: '/clicks', consent: async () => true, env: ok.env })).sent).toBe('beacon');
  });

  it('without a consent callback, nothing is stored or sent (default deny)', async () => {
    const f = fakeEnv('https://shop.example/?clickref=AbC');
    const r = await capture({ endpoint: '/clicks', env: f.env } as unknown as Parameters<typeof capture>[0]);
    expect(r.skipped).toBe('no-consent');
    expect(f.set).toEqual([]);
    expect(f.beacons).toEqual([]);
  });

  it('a failing fetch fallback is reported, not thrown at the page', async () => {
    const f = fakeEnv('https://shop.example/?clickref=AbC', { beacon: 'missing' });
    f.env.fetch = async () => {
      throw new TypeError('network down');
    };
    expect((await capture({ endpoint: '/clicks', consent: () => true, env: f.env })).skipped).toBe('send-failed');
  });

  it('tells an iPad asking for desktop sites (a Mac user agent with touch points) by a device hint', async () => {
    const f = fakeEnv('https://shop.example/?clickref=Pad1');
    f.env.touchMac = true;
    await capture({ endpoint: '/clicks', consent: () => true, env: f.env });
    expect(JSON.parse(await f.beacons[0]!.body.text())).toMatchObject({ clickref: 'Pad1', device: 'tablet' });
  });

  it('falls back to fetch with keepalive when there is no beacon or it is refused', async () => {
    for (const beacon of [false, 'missing'] as const) {
      const f = fakeEnv('https://shop.example/?clickref=AbC', { beacon });
      const r = await capture({ endpoint: 'https://api.example/clicks', consent: () => true, env: f.env });
      expect(r.sent).toBe('fetch');
      expect(f.fetches[0]).toMatchObject({
        url: 'https://api.example/clicks',
        init: { method: 'POST', keepalive: true, credentials: 'omit' },
      });
    }
  });

  it('does nothing without a clickref, or with one Partnerize would refuse', async () => {
    for (const [href, skipped] of [
      ['https://shop.example/', 'no-clickref'],
      ['https://shop.example/?clickref=', 'no-clickref'],
      ['https://shop.example/?clickref=a%20b', 'invalid-clickref'],
      ['https://shop.example/?CLICKREF=Abc', 'no-clickref'],
    ] as const) {
      const f = fakeEnv(href);
      expect((await capture({ endpoint: '/clicks', consent: () => true, env: f.env })).skipped).toBe(skipped);
      expect(f.set).toEqual([]);
    }
  });

  it('honours the cookie name, lifetime, domain and parameter options', async () => {
    const f = fakeEnv('https://www.shop.example/?pzref=Xy_Z-9');
    await capture({
      endpoint: '/clicks',
      consent: () => true,
      param: 'pzref',
      cookieName: 'aff',
      days: 7,
      cookieDomain: '.shop.example',
      sessionId: 's-0123456789',
      env: f.env,
    });
    expect(f.set).toEqual([
      `pz_key=${readCookie(f.env.getCookie(), 'pz_key')}; Max-Age=604800; Path=/; SameSite=Lax; Domain=.shop.example; Secure`,
      'aff=Xy_Z-9; Max-Age=604800; Path=/; SameSite=Lax; Domain=.shop.example; Secure',
    ]);
  });
});

describe('cookies and ids', () => {
  it('property: a cookie written is read back exactly', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((s) => s.isWellFormed()),
        (value) => {
          const c = cookie('pz_clickref', value, 30, true).split(';')[0]!;
          expect(readCookie(`other=1; ${c}; x=y`, 'pz_clickref')).toBe(value);
        },
      ),
    );
  });

  it('session ids are 128 bits of the random source', () => {
    expect(newSessionId((b) => b.fill(255))).toBe('f'.repeat(32));
  });
});

describe('builds', () => {
  it('the ESM and classic builds are each under 2 KB minified', async () => {
    const b = await buildSnippet();
    for (const code of [b.esm, b.classic]) expect(sizes(code).bytes).toBeLessThan(2048);
    expect(b.classic).toContain('PzCapture');
    expect(b.classic).not.toContain('globalThis'); // ES2020: breaks 2019 browsers
    expect(b.esm).toMatch(/export\s*\{/);
  });
});
