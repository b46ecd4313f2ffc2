/** The origin guard (http/origin-guard.ts): with the WAF, only requests CloudFront forwarded get through. */
import { describe, expect, it } from 'vitest';
import { Deadline } from '#lambdas/adapters/deadline.js';
import { staticTokens } from '#lambdas/adapters/token-source.js';
import { ORIGIN_VERIFY_HEADER, originGuard } from '#lambdas/http/origin-guard.js';
import { httpEvent } from '../support/events.js';

describe('originGuard', () => {
  it('is off without a source (no WAF, local mode)', () => {
    expect(originGuard(undefined)).toBeUndefined();
  });

  it('lets the value CloudFront adds through, refuses others with a 403 and counts the ones that carried none', async () => {
    let withoutHeader = 0;
    const guard = originGuard(staticTokens('cf-secret-value'), () => withoutHeader++)!;
    const deadline = Deadline.in(1000);
    const call = (headers: Record<string, string>) => guard(httpEvent({ path: '/postbacks', headers }), deadline);
    expect(await call({ [ORIGIN_VERIFY_HEADER]: 'cf-secret-value' })).toBeUndefined();
    const wrong = await call({ [ORIGIN_VERIFY_HEADER]: 'guess' });
    expect(wrong).toMatchObject({ statusCode: 403 });
    expect(JSON.parse(String(wrong!.body))).toMatchObject({ error: { code: 'forbidden' } });
    expect(withoutHeader).toBe(0);
    expect(await call({})).toMatchObject({ statusCode: 403 });
    expect(withoutHeader).toBe(1);
  });
});
