/** A Secrets Manager stand-in arranged for the aws_secrets provider's tests and benchmark. */
import { readFileSync } from 'node:fs';
import type { SecretStore } from 'secretbind';
import { start, type SecretsManagerStandIn } from '../../servers/secrets-manager/index.js';

/** Static test credentials: the SDK never looks for others (no metadata service, no network). */
export const CREDENTIALS = { accessKeyId: 'AKIASTANDIN00000001', secretAccessKey: 'stand-in-secret-key' };
export const CANARY = 'canary-aws-7c2e51';

/** Our copy of the reference notes' examples and error table for Secrets Manager. */
export const AWS_REFERENCE = JSON.parse(readFileSync(new URL('../../fixtures/reference/aws-secrets-manager.json', import.meta.url), 'utf8')) as {
  getSecretValueExample: Record<string, unknown>;
  batchGetSecretValueExample: { SecretValues: Array<Record<string, unknown>>; Errors: Array<{ Message: string }> };
  errors: Array<{ types: string[]; status: string; when: string; code: string }>;
  messages: { notFound: string; markedForDeletion: string; markedDeletedOtherImplementation: string };
};

export interface AwsWorld {
  server: SecretsManagerStandIn;
  store: SecretStore;
  arn(name: string): string;
}

export async function awsWorld(): Promise<AwsWorld> {
  const server = await start();
  const state = server.state;
  state.put('prod/checkmk', JSON.stringify({ username: 'automation', password: 'Ch3ck-MK!prod#2026', port: 8443 }));
  state.put('prod/plain', 'plain-value');
  state.put('prod/canary', JSON.stringify({ password: CANARY }));
  state.put('prod/binary', Buffer.from('binary-text', 'utf8'));
  state.put('prod/binary-raw', Buffer.from([0xff, 0xfe, 0x00, 0x01]));
  state.put('prod/nopw', JSON.stringify({ token: 'x' }));
  state.put('prod/deleted', 'gone').deletedDate = 1_762_000_000;
  state.put('prod/kms', 'locked').kmsFailure = true;
  state.put('prod/rotated', JSON.stringify({ password: 'old' }));
  state.put('prod/rotated', JSON.stringify({ password: 'new' }));
  return {
    server,
    store: { name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: server.url },
    arn: (name) => state.secrets.get(name)!.arn,
  };
}
