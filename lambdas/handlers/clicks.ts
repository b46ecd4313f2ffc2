import { bindDeadline } from '../adapters/deadline.js';
import { recordClick } from '../core/clicks.js';
import type { Deps } from '../core/model.js';
import { httpFunction, type HttpFunctionDeps } from '../http/http-function.js';
import { header, noContent, readInput } from '../http/http.js';

export interface ClicksHandlerDeps extends Pick<Deps, 'config' | 'clicks' | 'clock' | 'log' | 'metrics'>, HttpFunctionDeps {
  maxBodyBytes: number;
}

/** `POST /clicks` and `GET /clicks?sessionId=…&clickref=…`: 204 when recorded or deliberately not. */
export function createClicksHandler(deps: ClicksHandlerDeps) {
  return httpFunction(deps, async (event, deadline) => {
    const input = readInput(event, deps.maxBodyBytes);
    await recordClick(input, header(event, 'user-agent'), { ...deps, clicks: bindDeadline(deps.clicks, deadline) });
    return noContent();
  });
}
