import middy from '@middy/core';
import { recordClick } from '../core/clicks.js';
import type { Deps } from '../core/model.js';
import { header, noContent, readInput, type HttpEvent, type HttpResult } from '../commons/http.js';
import { flushMetrics } from '../commons/metrics.js';
import { httpErrors } from '../commons/middleware.js';
import { originGuard } from '../commons/origin-guard.js';
import type { TokenSource } from '../adapters/token-source.js';
import { bindDeadline, Deadline, REQUEST_BUDGET_MS } from '../adapters/deadline.js';

export interface ClicksHandlerDeps extends Pick<Deps, 'config' | 'clicks' | 'clock' | 'log' | 'metrics'> {
  maxBodyBytes: number;
  /** The CloudFront origin-verify value, with the optional WAF. */
  originVerify?: TokenSource | undefined;
}

/** `POST /clicks` and `GET /clicks?sessionId=…&clickref=…`: 204 when recorded or deliberately not. */
export function createClicksHandler(deps: ClicksHandlerDeps) {
  return middy<HttpEvent, HttpResult>()
    .use(flushMetrics(deps.metrics))
    .use(httpErrors(deps.log))
    .use(originGuard(deps.originVerify))
    .handler(async (event) => {
      const deadline = Deadline.in(REQUEST_BUDGET_MS);
      try {
        const input = readInput(event, deps.maxBodyBytes);
        await recordClick(input, header(event, 'user-agent'), { ...deps, clicks: bindDeadline(deps.clicks, deadline) });
        return noContent();
      } finally {
        deadline.dispose();
      }
    });
}
