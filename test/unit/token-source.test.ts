import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretsManagerTokens, tokenOf } from '../../lambdas/adapters/token-source.js';

const sm = mockClient(SecretsManagerClient);
afterEach(() => sm.reset());

describe('SecretsManagerTokens', () => {
  it('serves AWSCURRENT and AWSPREVIOUS (rotation) and caches them', async () => {
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'new' });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).resolves({ SecretString: 'old' });
    let t = 0;
    const tokens = new SecretsManagerTokens(new SecretsManagerClient({}), 'arn:secret', 60_000, () => t);
    expect(await tokens.tokens()).toEqual(['new', 'old']);
    expect(await tokens.tokens()).toEqual(['new', 'old']);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    t = 61_000;
    await tokens.tokens();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(4);
  });

  it('works before any rotation (no AWSPREVIOUS)', async () => {
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'only' });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).rejects(new ResourceNotFoundException({ message: 'none', $metadata: {} }));
    expect(await new SecretsManagerTokens(new SecretsManagerClient({}), 'arn').tokens()).toEqual(['only']);
  });

  it('keeps serving the cached tokens when a refresh fails', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: 'tok' });
    let t = 0;
    const tokens = new SecretsManagerTokens(new SecretsManagerClient({}), 'arn', 1000, () => t);
    await tokens.tokens();
    sm.reset();
    sm.on(GetSecretValueCommand).rejects(new Error('throttled'));
    t = 5000;
    expect(await tokens.tokens()).toEqual(['tok']);
  });

  it('reads a plain secret or JSON {"token": …}', () => {
    expect(tokenOf(' abc ')).toBe('abc');
    expect(tokenOf('{"token":"xyz"}')).toBe('xyz');
    expect(tokenOf('{not json')).toBe('{not json');
  });
});

describe('rotation without downtime', () => {
  it('an unknown token makes the source re-read at once, but at most every 30 s', async () => {
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'v1' });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).rejects(new ResourceNotFoundException({ message: 'none', $metadata: {} }));
    let t = 0;
    const tokens = new SecretsManagerTokens(new SecretsManagerClient({}), 'arn', 300_000, () => t);
    expect(await tokens.tokens()).toEqual(['v1']);
    // The secret is rotated: v2 current, v1 previous.
    sm.reset();
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'v2' });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).resolves({ SecretString: 'v1' });
    t = 10_000;
    expect(await tokens.refresh()).toEqual(['v1']); // just read: served from cache
    t = 40_000;
    expect(await tokens.refresh()).toEqual(['v2', 'v1']);
    const reads = sm.commandCalls(GetSecretValueCommand).length;
    t = 50_000;
    await tokens.refresh();
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(reads);
  });
});
