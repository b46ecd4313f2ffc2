/** Lambda entry of the postbacks function: wiring from the environment; the logic is in core/. */
import { depsFromEnv } from './commons/deps.js';
import { maxBodyBytes } from './commons/limits.js';
import { originVerifyFromEnv } from './commons/origin-guard.js';
import { tokensFromEnv } from './commons/tokens.js';
import { createPostbacksHandler } from './handlers/postbacks.js';

export const handler = createPostbacksHandler({
  ...depsFromEnv(),
  tokens: tokensFromEnv(),
  maxBodyBytes: maxBodyBytes(),
  originVerify: originVerifyFromEnv(),
});
