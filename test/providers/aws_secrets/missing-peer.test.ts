import { describe, expect, it, vi } from 'vitest';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { awsSecrets } from '../../../providers/aws_secrets/index.js';

vi.mock('@aws-sdk/client-secrets-manager', () => {
  throw Object.assign(new Error("Cannot find package '@aws-sdk/client-secrets-manager'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

describe('Provider: aws_secrets without the AWS SDK', () => {
  it('fails with DEPENDENCY_MISSING and the install line', async () => {
    const repository = new MemoryBindingRepository().putStore({ name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1' }).putBinding({ account: 'a', store: 'aws', entry: 'prod/x' });
    const resolver = createSecretResolver({ repository, providers: [awsSecrets()], cryptographyKey: [] });
    await expect(resolver.resolvePassword({ name: 'a' })).rejects.toMatchObject({
      code: 'DEPENDENCY_MISSING',
      message: '@aws-sdk/client-secrets-manager is required for aws_secrets stores: npm install @aws-sdk/client-secrets-manager @aws-sdk/credential-providers',
    });
  });
});
