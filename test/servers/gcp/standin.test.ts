/** The Secret Manager stand-in checked against our copy of the reference notes (test/fixtures/reference/gcp-secret-manager.json), over plain grpc-js. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ID, PROJECT_NUMBER, start, type SecretManagerStandIn } from './index.js';

interface Row { grpc: number; name: string; wording: string }
const reference = JSON.parse(readFileSync(new URL('../../fixtures/reference/gcp-secret-manager.json', import.meta.url), 'utf8')) as { secretIdRule: string; maxPayloadBytes: number; errors: Row[] };
const EMAIL = 'checker@sync-project.iam.gserviceaccount.com';

type Unary = (request: Record<string, unknown>, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, value?: Record<string, unknown>) => void) => void;

describe('Secret Manager stand-in against the reference', () => {
  let server: SecretManagerStandIn;
  let client: Record<string, Unary>;
  let token = '';
  beforeAll(async () => {
    server = await start();
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    server.state.addKey(EMAIL, 'k1', publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${encode({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${encode({ iss: EMAIL, sub: EMAIL, aud: 'https://secretmanager.googleapis.com/', iat: now, exp: now + 600 })}`;
    token = `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url')}`;
    const require = createRequire(import.meta.url);
    const clientRoot = join(dirname(require.resolve('@google-cloud/secret-manager/package.json')), 'build', 'protos');
    const gaxRoot = join(dirname(require.resolve('google-gax', { paths: [clientRoot] })), '..', 'protos');
    const definition = protoLoader.loadSync('google/cloud/secretmanager/v1/service.proto', { includeDirs: [clientRoot, gaxRoot], longs: String, enums: String, oneofs: true });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as { google: { cloud: { secretmanager: { v1: { SecretManagerService: new (address: string, credentials: grpc.ChannelCredentials) => Record<string, Unary> } } } } };
    client = new loaded.google.cloud.secretmanager.v1.SecretManagerService(`localhost:${server.port}`, grpc.credentials.createSsl(readFileSync(process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH!)));
  });
  afterAll(() => server.stop());

  const call = (method: string, request: Record<string, unknown>, auth = true) =>
    new Promise<{ error?: grpc.ServiceError; value?: Record<string, unknown> }>((resolve) => {
      const metadata = new grpc.Metadata();
      if (auth) metadata.set('authorization', `Bearer ${token}`);
      client[method]!.call(client, request, metadata, (error, value) => resolve(error ? { error } : { value: value! }));
    });
  const expectRow = (answer: { error?: grpc.ServiceError }, name: string, fill: (wording: string) => string = (text) => text) => {
    const row = reference.errors.find((item) => item.name === name && (answer.error?.details ?? '').startsWith(fill(item.wording).split('[')[0]!))!;
    expect(answer.error?.code, name).toBe(row.grpc);
    expect(answer.error?.details).toContain(fill(row.wording).replace(/\.$/, ''));
  };
  const secretPath = (id: string) => `projects/${PROJECT_ID}/secrets/${id}`;
  const numbered = (wording: string, id: string, version?: string) => wording.replace('projects/N/secrets/S', `projects/${PROJECT_NUMBER}/secrets/${id}`).replace('/versions/V', `/versions/${version ?? ''}`);

  it('answers each error row of the reference with its gRPC code and wording, naming the project by number', async () => {
    expectRow(await call('AccessSecretVersion', { name: `${secretPath('nothing')}/versions/latest` }), 'NOT_FOUND', (text) => numbered(text, 'nothing'));
    server.state.put('off', 'x');
    server.state.get('off')!.versions[0]!.state = 'DISABLED';
    expectRow(await call('AccessSecretVersion', { name: `${secretPath('off')}/versions/latest` }), 'FAILED_PRECONDITION', (text) => numbered(text, 'off', '1'));
    server.state.get('off')!.versions[0]!.state = 'DESTROYED';
    const destroyed = await call('AccessSecretVersion', { name: `${secretPath('off')}/versions/1` });
    expect(destroyed.error?.details).toBe(numbered(reference.errors.find((row) => row.wording.includes('DESTROYED'))!.wording, 'off', '1'));
    expectRow(await call('CreateSecret', { parent: `projects/${PROJECT_ID}`, secretId: 'x.y', secret: { replication: { automatic: {} } } }), 'INVALID_ARGUMENT', (text) => text.replace('[x]', '[x.y]'));
    server.state.denied.set(EMAIL, new Set(['AccessSecretVersion']));
    expectRow(await call('AccessSecretVersion', { name: `${secretPath('off')}/versions/1` }), 'PERMISSION_DENIED');
    server.state.denied.clear();
    expectRow(await call('GetSecret', { name: secretPath('off') }, false), 'UNAUTHENTICATED');
    server.state.mode.exhausted = 1;
    expectRow(await call('GetSecret', { name: secretPath('off') }), 'RESOURCE_EXHAUSTED');
    expectRow(await call('CreateSecret', { parent: `projects/${PROJECT_ID}`, secretId: 'off', secret: { replication: { automatic: {} } } }), 'ALREADY_EXISTS', (text) => numbered(text, 'off'));
  });

  it('keeps ids to the reference rule, payloads to 64 KiB, and latest to the newest version whatever its state', async () => {
    const rule = new RegExp(reference.secretIdRule);
    for (const id of ['ok_id-1', 'a'.repeat(255)]) expect(rule.test(id) && !(await call('CreateSecret', { parent: `projects/${PROJECT_ID}`, secretId: id, secret: { replication: { automatic: {} } } })).error).toBe(true);
    expect((await call('CreateSecret', { parent: `projects/${PROJECT_ID}`, secretId: 'a'.repeat(256), secret: { replication: { automatic: {} } } })).error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await call('AddSecretVersion', { parent: secretPath('ok_id-1'), payload: { data: Buffer.alloc(reference.maxPayloadBytes + 1) } })).error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await call('AddSecretVersion', { parent: secretPath('ok_id-1'), payload: { data: Buffer.from('good') } })).value?.name).toBe(`projects/${PROJECT_NUMBER}/secrets/ok_id-1/versions/1`);
    await call('AddSecretVersion', { parent: secretPath('ok_id-1'), payload: { data: Buffer.from('newer') } });
    server.state.get('ok_id-1')!.versions[1]!.state = 'DISABLED';
    expect((await call('AccessSecretVersion', { name: `${secretPath('ok_id-1')}/versions/latest` })).error?.code).toBe(grpc.status.FAILED_PRECONDITION);
  });
});
