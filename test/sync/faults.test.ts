/**
 * Sync against the Secrets Manager stand-in while it fails: statuses go to EXTERNAL_SERVICE_ERROR, nothing is
 * deleted, and the first pass after it recovers writes every pending change exactly once.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSyncEngine, MemoryBindingRepository, MemorySyncState } from 'secretbind';
import { awsSecrets } from '../../providers/aws_secrets/index.js';
import { memory } from '../../providers/memory/index.js';
import { start, type SecretsManagerStandIn } from '../servers/secrets-manager/index.js';

const CREDENTIALS = { accessKeyId: 'AKIASYNCFAULTS', secretAccessKey: 'faults' };
let server: SecretsManagerStandIn;
beforeEach(async () => {
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  server = await start();
});
afterEach(async () => {
  await server.stop();
  vi.unstubAllEnvs();
});

function world() {
  const seed = Object.fromEntries(Array.from({ length: 20 }, (_, index) => [`apps/app-${index}`, { username: `svc-${index}`, password: `pw-${index}` }]));
  const source = memory({ entries: seed });
  const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'aws', type: 'aws_secrets', aws_region: 'eu-central-1', aws_endpoint: server.url });
  const engine = createSyncEngine({ repository, providers: [source, awsSecrets({ credentials: CREDENTIALS, maxAttempts: 1 })], definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'aws', name_template: 'sync/{{ .SecretBaseName }}' }], state: new MemorySyncState(), retries: 1, retryBaseMs: 1 });
  return { source, engine };
}

const writes = () => server.count('CreateSecret') + server.count('PutSecretValue');

describe('Sync: a destination that fails for a while', () => {
  it('reports EXTERNAL_SERVICE_ERROR while it answers 500, deletes nothing, and writes each change once after', async () => {
    const { source, engine } = world();
    await engine.run();
    expect(writes()).toBe(20);
    for (let index = 0; index < 5; index++) source.rotate(`apps/app-${index}#password`, `rotated-${index}`);
    server.state.mode.fail500 = 10_000;
    const during = await engine.run();
    expect(during.every((item) => item.status === 'EXTERNAL_SERVICE_ERROR')).toBe(true);
    expect(server.count('DeleteSecret')).toBe(0);
    expect(writes()).toBe(20);
    expect((await engine.status()).every((record) => record.status === 'EXTERNAL_SERVICE_ERROR')).toBe(true);
    server.state.mode.fail500 = 0;
    const after = await engine.run();
    expect(after.filter((item) => item.action === 'update').map((item) => item.entry).sort()).toEqual(['sync/app-0', 'sync/app-1', 'sync/app-2', 'sync/app-3', 'sync/app-4']);
    expect(writes()).toBe(25);
    for (let index = 0; index < 5; index++) expect(JSON.parse(server.state.secrets.get(`sync/app-${index}`)!.versions.at(-1)!.secretString!)).toMatchObject({ password: `rotated-${index}` });
    expect((await engine.status()).every((record) => record.status === 'SYNCED')).toBe(true);
    await engine.run();
    expect(writes()).toBe(25);
  });

  it('rides out throttling within a pass: every write lands, none twice', async () => {
    const { engine } = world();
    server.state.mode.throttle = 3;
    const items = await engine.run();
    expect(items.filter((item) => item.status === 'SYNCED')).toHaveLength(20 - items.filter((item) => item.status === 'EXTERNAL_SERVICE_ERROR').length);
    await engine.run();
    expect(server.state.secrets.size).toBe(20);
    expect(writes()).toBe(20);
    expect((await engine.status()).every((record) => record.status === 'SYNCED')).toBe(true);
  });
});
