import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository, type SecretStore } from 'secretbind';
import { awsSecrets, type AwsSecretsOptions } from '../../../providers/aws_secrets/index.js';
import { MESSAGES } from '../../servers/secrets-manager/index.js';
import { startSilentServer } from '../../conformance/hanging.js';
import { describeProvider } from '../../conformance/provider.js';
import { AWS_REFERENCE, awsWorld, CANARY, CREDENTIALS, type AwsWorld } from './world.js';
import { failure } from '../../helpers.js';

// Whatever a test forgets, the SDK must never go looking for an instance metadata service.
beforeEach(() => {
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
});

for (const byArn of [false, true]) {
  let current: AwsWorld;
  describeProvider({
    name: `aws_secrets, references by ${byArn ? 'ARN' : 'name'}`,
    capabilities: { bulk: true, check: true, hang: true },
    hangingStore: async () => {
      const silent = await startSilentServer();
      return { provider: awsSecrets({ credentials: CREDENTIALS }), store: { ...current.store, aws_endpoint: silent.url }, reference: 'prod/plain', stop: silent.stop };
    },
    setup: async () => {
      current = await awsWorld();
      const id = (name: string) => (byArn ? current.arn(name) : name);
      return {
        provider: awsSecrets({ credentials: CREDENTIALS }),
        store: current.store,
        known: byArn ? { reference: id('prod/checkmk'), value: 'Ch3ck-MK!prod#2026' } : { reference: 'prod/plain', value: 'plain-value' },
        knownField: { reference: `${byArn ? current.arn('prod/checkmk').slice(0, -7) : 'prod/checkmk'}#username`, value: 'automation' },
        missingEntry: byArn ? 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:prod/nothing-abcdef' : 'prod/nothing',
        missingField: `${id('prod/checkmk')}#api_key`,
        badStores: [
          { name: 'aws', type: 'aws_secrets', aws_endpoint: 'not a url' },
          { name: 'aws', type: 'aws_secrets', aws_role_arn: 'admin' },
          { name: 'aws', type: 'aws_secrets', aws_region: '' },
        ],
        canary: { reference: id('prod/canary'), value: CANARY, missingFieldReference: `${id('prod/canary')}#nope` },
        hang: () => {
          current.server.state.mode.hang = 1;
          return 'prod/plain';
        },
        teardown: () => current.server.stop(),
      };
    },
  });
}

const worlds: AwsWorld[] = [];
afterEach(async () => {
  await Promise.all(worlds.splice(0).map((current) => current.server.stop()));
});

async function setup(options: AwsSecretsOptions = { credentials: CREDENTIALS }, storeChanges: Partial<SecretStore> = {}) {
  const current = await awsWorld();
  worlds.push(current);
  const store = { ...current.store, ...storeChanges };
  const repository = new MemoryBindingRepository().putStore(store);
  const bind = (account: string, entry: string) => repository.putBinding({ account, store: store.name, entry });
  const resolver = createSecretResolver({ repository, providers: [awsSecrets(options)], cryptographyKey: [] });
  return { ...current, repository, bind, resolver, read: (entry: string) => (bind('reader', entry), resolver.resolvePassword({ name: 'reader' })) };
}


describe('Provider: aws_secrets error table', () => {
  it('maps ResourceNotFoundException to ENTRY_NOT_FOUND', async () => {
    const { read } = await setup();
    expect((await failure(read('prod/nothing'))).code).toBe('ENTRY_NOT_FOUND');
  });

  describe.each([
    ['AWS', MESSAGES.deleted],
    ['another implementation', MESSAGES.deletedOther],
  ])('a secret scheduled for deletion, worded as %s does', (_wording, message) => {
    it('is ENTRY_NOT_FOUND saying it can be restored, for single and bulk reads', async () => {
      const { read, server, bind, resolver } = await setup();
      server.state.deletedMessage = message;
      const error = await failure(read('prod/deleted'));
      expect(error).toMatchObject({ code: 'ENTRY_NOT_FOUND', message: expect.stringContaining('scheduled for deletion (deletion scheduled on 2025-11-01T') });
      expect(error.message).toContain('RestoreSecret');
      expect(server.count('DescribeSecret')).toBe(1);
      bind('bulk-deleted', 'prod/deleted');
      bind('bulk-fine', 'prod/plain');
      const results = await resolver.resolvePasswords([{ name: 'bulk-deleted' }, { name: 'bulk-fine' }]);
      expect(results.get('bulk-deleted')).toMatchObject({ ok: false, error: { code: 'ENTRY_NOT_FOUND', message: expect.stringContaining('RestoreSecret') } });
      expect(results.get('bulk-fine')).toMatchObject({ ok: true, value: 'plain-value' });
    });

    it('is still ENTRY_NOT_FOUND when DescribeSecret is denied', async () => {
      const { read, server } = await setup();
      server.state.deletedMessage = message;
      server.state.deny(CREDENTIALS.accessKeyId, 'DescribeSecret');
      expect(await failure(read('prod/deleted'))).toMatchObject({ code: 'ENTRY_NOT_FOUND', message: expect.stringContaining('scheduled for deletion') });
    });
  });

  it('keeps an InvalidRequestException for a secret not scheduled for deletion CONFIG_INVALID, and asks nothing on healthy reads', async () => {
    const { read, server } = await setup({ credentials: CREDENTIALS, maxAttempts: 1 });
    expect(await read('prod/plain')).toBe('plain-value');
    expect(server.count('DescribeSecret')).toBe(0);
    server.state.mode.respond = { times: 1, status: 400, type: 'InvalidRequestException', message: 'You can\'t perform this operation on the secret because it is disabled.' };
    expect((await failure(read('prod/plain'))).code).toBe('CONFIG_INVALID');
    expect(server.count('DescribeSecret')).toBe(1);
  });

  it('maps every row of the reference error table', async () => {
    const { read, server } = await setup({ credentials: CREDENTIALS, maxAttempts: 1 });
    for (const row of AWS_REFERENCE.errors) {
      for (const type of row.types) {
        if (type === 'InvalidRequestException') continue; // the deleted-secret cases above, with DescribeSecret
        server.state.mode.respond = { times: 1, status: Number(row.status.split('/')[0]), type, message: row.when };
        const error = await failure(read('prod/plain'));
        expect(error.code, type).toBe(row.code);
      }
    }
  });

  it('maps InvalidParameterException to REFERENCE_INVALID', async () => {
    const { read } = await setup();
    expect((await failure(read('not a valid name'))).code).toBe('REFERENCE_INVALID');
  });

  it('maps AccessDeniedException to PERMISSION_DENIED', async () => {
    const { read, server } = await setup();
    server.state.deny(CREDENTIALS.accessKeyId, 'GetSecretValue:prod/checkmk');
    expect((await failure(read('prod/checkmk'))).code).toBe('PERMISSION_DENIED');
  });

  it('maps DecryptionFailure to PERMISSION_DENIED naming the KMS key problem', async () => {
    const { read } = await setup();
    expect(await failure(read('prod/kms'))).toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringContaining('KMS key') });
  });

  it.each(['UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'IncompleteSignature'])('maps %s to AUTH_FAILED', async (type) => {
    const { read, server } = await setup({ credentials: CREDENTIALS, maxAttempts: 1 });
    server.state.mode.respond = { times: 1, status: type === 'ExpiredTokenException' ? 400 : 403, type, message: MESSAGES.badToken };
    expect((await failure(read('prod/plain'))).code).toBe('AUTH_FAILED');
  });

  it('says "Unable to locate AWS credentials" when no credentials are found', async () => {
    const missing = async () => {
      throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    };
    const { read } = await setup({ credentials: missing });
    expect(await failure(read('prod/plain'))).toMatchObject({ code: 'AUTH_FAILED', message: 'Unable to locate AWS credentials: attach an IAM role, set AWS_PROFILE, or set aws_profile on the store' });
  });

  it('maps ThrottlingException to RATE_LIMITED once the SDK has retried, and answers when a retry succeeds', async () => {
    const { read, server } = await setup({ credentials: CREDENTIALS, maxAttempts: 3 });
    server.state.mode.throttle = 1;
    expect(await read('prod/plain')).toBe('plain-value');
    expect(server.count('GetSecretValue')).toBe(2);
    server.state.mode.throttle = 3;
    expect(await failure(read('prod/plain'))).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
  });

  it('maps InternalServiceError to BACKEND_UNAVAILABLE after the SDK’s retries', async () => {
    const { read, server } = await setup({ credentials: CREDENTIALS, maxAttempts: 2 });
    server.state.mode.fail500 = 2;
    expect(await failure(read('prod/plain'))).toMatchObject({ code: 'BACKEND_UNAVAILABLE', retryable: true });
  });
});

describe('Provider: aws_secrets values', () => {
  it('follows the documented rule for JSON and plain secrets', async () => {
    const { read } = await setup();
    expect(await read('prod/checkmk')).toBe('Ch3ck-MK!prod#2026'); // JSON without #key: its password key
    expect(await read('prod/checkmk#port')).toBe('8443'); // non-strings as JSON text
    expect(await read('prod/plain')).toBe('plain-value'); // plain without #key: the whole string
    expect(await failure(read('prod/plain#password'))).toMatchObject({ code: 'FIELD_NOT_FOUND', message: expect.stringContaining('plain string') });
    expect(await failure(read('prod/nopw'))).toMatchObject({ code: 'FIELD_NOT_FOUND', message: expect.stringContaining('(keys: token)') });
  });

  it('decodes binary secrets as UTF-8 and refuses bytes that are not text', async () => {
    const { read } = await setup();
    expect(await read('prod/binary')).toBe('binary-text');
    expect((await failure(read('prod/binary-raw'))).code).toBe('CONFIG_INVALID');
  });

  it('reads AWSCURRENT unless the reference names a stage', async () => {
    const { read } = await setup();
    expect(await read('prod/rotated')).toBe('new');
    expect(await read('prod/rotated?stage=AWSPREVIOUS')).toBe('old');
    expect(await failure(read('prod/rotated?label=x'))).toMatchObject({ code: 'REFERENCE_INVALID' });
  });
});

describe('Provider: aws_secrets bulk lookups', () => {
  it('reads 45 distinct secrets in 3 BatchGetSecretValue calls and settles per-secret errors', async () => {
    const { server, bind, resolver } = await setup();
    const names: string[] = [];
    for (let index = 0; index < 45; index++) {
      server.state.put(`bulk/app-${index}`, JSON.stringify({ password: `pw-${index}` }));
      bind(`a-${index}`, `bulk/app-${index}`);
      names.push(`a-${index}`);
    }
    bind('deleted', 'prod/deleted');
    bind('missing', 'prod/nothing');
    bind('previous', 'prod/rotated?stage=AWSPREVIOUS');
    const results = await resolver.resolvePasswords([...names, 'deleted', 'missing', 'previous'].map((name) => ({ name })));
    expect(results.get('a-44')).toEqual({ ok: true, value: 'pw-44', source: 'store' });
    expect(results.get('deleted')).toMatchObject({ ok: false, error: { code: 'ENTRY_NOT_FOUND', message: expect.stringContaining('scheduled for deletion') } });
    expect(results.get('missing')).toMatchObject({ ok: false, error: { code: 'ENTRY_NOT_FOUND' } });
    expect(results.get('previous')).toEqual({ ok: true, value: 'old', source: 'store' });
    expect(server.count('BatchGetSecretValue')).toBe(3);
    expect(server.count('GetSecretValue')).toBe(1); // the staged version only
  });

  it('falls back to single reads when the batch call is denied, and remembers it for the store', async () => {
    const { server, bind, resolver } = await setup();
    server.state.deny(CREDENTIALS.accessKeyId, 'BatchGetSecretValue');
    bind('a', 'prod/checkmk');
    bind('b', 'prod/plain');
    const first = await resolver.resolvePasswords([{ name: 'a' }, { name: 'b' }]);
    expect([...first.values()].map((result) => result.ok && result.value)).toEqual(['Ch3ck-MK!prod#2026', 'plain-value']);
    await resolver.resolvePasswords([{ name: 'a' }, { name: 'b' }]);
    expect(server.count('BatchGetSecretValue')).toBe(1);
    expect(server.count('GetSecretValue')).toBe(4);
  });
});

describe('Provider: aws_secrets credentials', () => {
  function profileFiles(): void {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-aws-'));
    writeFileSync(join(dir, 'credentials'), '[ops]\naws_access_key_id = AKIAPROFILE000000001\naws_secret_access_key = profile-secret\n');
    writeFileSync(join(dir, 'config'), '');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(dir, 'credentials'));
    vi.stubEnv('AWS_CONFIG_FILE', join(dir, 'config'));
  }

  it('signs with the keys of aws_profile from the shared credentials file', async () => {
    profileFiles();
    const { read, server } = await setup({}, { aws_profile: 'ops' });
    expect(await read('prod/plain')).toBe('plain-value');
    expect(server.requests.at(-1)?.accessKeyId).toBe('AKIAPROFILE000000001');
  });

  it('assumes aws_role_arn and signs with the temporary keys', async () => {
    profileFiles();
    const current = await awsWorld();
    worlds.push(current);
    const store = { ...current.store, aws_profile: 'ops', aws_role_arn: 'arn:aws:iam::123456789012:role/sync-reader' };
    const repository = new MemoryBindingRepository().putStore(store).putBinding({ account: 'a', store: 'aws', entry: 'prod/plain' });
    const resolver = createSecretResolver({ repository, providers: [awsSecrets({ stsEndpoint: current.server.url })], cryptographyKey: [] });
    expect(await resolver.resolvePassword({ name: 'a' })).toBe('plain-value');
    expect(current.server.state.assumedRoles).toEqual(['arn:aws:iam::123456789012:role/sync-reader']);
    expect(current.server.requests.at(-1)?.accessKeyId).toMatch(/^ASIA/);
    expect((await resolver.check()).stores[0]).toMatchObject({ ok: true, details: { credentials: 'role' } });
  });

  it('makes one SDK client per store configuration and reuses it', async () => {
    const real = await import('@aws-sdk/client-secrets-manager');
    let made = 0;
    class CountingClient extends real.SecretsManagerClient {
      constructor(config: import('@aws-sdk/client-secrets-manager').SecretsManagerClientConfig) {
        super(config);
        made++;
      }
    }
    const { bind, resolver } = await setup({ credentials: CREDENTIALS, lib: { clientSecretsManager: { ...real, SecretsManagerClient: CountingClient } } });
    bind('a', 'prod/plain');
    bind('b', 'prod/checkmk');
    await Promise.all([resolver.resolvePassword({ name: 'a' }), resolver.resolvePassword({ name: 'b' })]);
    await resolver.resolvePasswords([{ name: 'a' }, { name: 'b' }]);
    await resolver.check();
    expect(made).toBe(1);
  });
});

describe('Secrets Manager stand-in against the reference', () => {
  // Our own copy of the reference notes' examples and error table (test/fixtures/reference/aws-secrets-manager.json).
  const reference = AWS_REFERENCE;
  const call = async (url: string, operation: string, body: unknown) => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `secretsmanager.${operation}`, authorization: `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/20261122/eu-central-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0` }, body: JSON.stringify(body) });
    return { status: response.status, requestId: response.headers.get('x-amzn-requestid'), body: (await response.json()) as Record<string, unknown> };
  };

  it('answers GetSecretValue and BatchGetSecretValue with the keys of the reference examples', async () => {
    const { server } = await setup();
    const single = await call(server.url, 'GetSecretValue', { SecretId: 'prod/checkmk', VersionStage: 'AWSCURRENT' });
    expect(single.status).toBe(200);
    expect(single.requestId).toBeTruthy();
    expect(Object.keys(single.body).sort()).toEqual(Object.keys(reference.getSecretValueExample).sort());
    const batch = await call(server.url, 'BatchGetSecretValue', { SecretIdList: ['prod/checkmk', 'prod/nothing'] });
    const expected = reference.batchGetSecretValueExample;
    expect(Object.keys(batch.body).sort()).toEqual(Object.keys(expected).sort());
    expect(Object.keys((batch.body.SecretValues as object[])[0]!).sort()).toEqual(Object.keys(expected.SecretValues[0]!).sort());
    expect((batch.body.Errors as object[])[0]).toEqual({ SecretId: 'prod/nothing', ErrorCode: 'ResourceNotFoundException', Message: expected.Errors[0]!.Message });
  });

  it('answers errors as {"__type", "Message"} with the reference status, and refuses more than 20 ids', async () => {
    const { server } = await setup();
    expect(await call(server.url, 'GetSecretValue', { SecretId: 'prod/nothing' })).toMatchObject({ status: 400, body: { __type: 'ResourceNotFoundException', Message: MESSAGES.notFound } });
    expect(await call(server.url, 'GetSecretValue', { SecretId: 'prod/deleted' })).toMatchObject({ status: 400, body: { __type: 'InvalidRequestException', Message: MESSAGES.deleted } });
    expect(MESSAGES.deleted).toBe(reference.messages.markedForDeletion);
    expect(MESSAGES.notFound).toBe(reference.messages.notFound);
    expect((await call(server.url, 'BatchGetSecretValue', { SecretIdList: Array.from({ length: 21 }, (_, index) => `x${index}`) })).status).toBe(400);
    server.state.mode.fail500 = 1;
    expect(await call(server.url, 'GetSecretValue', { SecretId: 'prod/plain' })).toMatchObject({ status: 500, body: { __type: 'InternalServiceError' } });
  });
});
