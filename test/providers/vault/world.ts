/** A Vault stand-in arranged for the vault provider's tests and benchmark. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretStore } from 'secretbind';
import { start, type VaultStandIn } from '../../servers/vault/index.js';

export type AuthMethod = 'token' | 'approle' | 'kubernetes';

export interface World {
  server: VaultStandIn;
  store: SecretStore;
  env: Record<string, string>;
  /** The provider's clock, in ms; tests move it together with the stand-in's. */
  clock: { now: number };
  advance(seconds: number): void;
  caPath: string | undefined;
  dir: string;
}

let certificate: { key: string; cert: string; caPath: string } | undefined;

/** A self-signed certificate for 127.0.0.1, made with openssl once per test file. */
export function testCertificate(): { key: string; cert: string; caPath: string } {
  if (!certificate) {
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    certificate = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), caPath: join(dir, 'cert.pem') };
  }
  return certificate;
}

export async function world(options: { kv?: 1 | 2; auth?: AuthMethod; namespace?: string; tls?: boolean; ttl?: number } = {}): Promise<World> {
  const kv = options.kv ?? 2;
  const auth = options.auth ?? 'token';
  const tls = options.tls ? testCertificate() : undefined;
  const server = await start(tls ? { tls } : {});
  const state = server.state;
  const mount = kv === 2 ? 'secret' : 'kv1';
  state.addMount(mount, kv, options.namespace);
  state.putSecret(mount, 'kv/prod/checkmk', { username: 'automation', password: 'Ch3ck-MK!prod#2026', port: 8443, tags: ['a', 'b'] }, options.namespace);
  state.putSecret(mount, 'kv/prod/canary', { password: 'canary-vault-3b9d' }, options.namespace);
  state.putSecret(mount, 'kv/prod/no-password', { token: 'x' }, options.namespace);
  state.policies.set('reader', [`${mount}/*`]);
  state.policies.set('nothing', ['other/*']);
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-vault-'));
  const env: Record<string, string> = {};
  const store: SecretStore = { name: 'vault', type: 'vault', vault_url: server.url, vault_mount_point: mount, vault_kv_version: kv };
  if (options.namespace) store.vault_namespace = options.namespace;
  if (tls) store.vault_ca_path = tls.caPath;
  const ttl = options.ttl ?? 3600;
  if (auth === 'token') {
    env.VAULT_TOKEN = state.createToken({ policies: ['reader'], ttl, renewable: true });
  } else if (auth === 'approle') {
    state.addAppRole('approle', 'role-123', 'secret-456', ['reader'], ttl);
    Object.assign(env, { ROLE_ID: 'role-123', SECRET_ID: 'secret-456' });
    Object.assign(store, { vault_auth_method: 'approle', vault_role_id_env: 'ROLE_ID', vault_secret_id_env: 'SECRET_ID' });
  } else {
    state.addKubernetesRole('kubernetes', 'sync-app', 'service-account-jwt', ['reader'], ttl);
    writeFileSync(join(dir, 'token'), 'service-account-jwt\n');
    Object.assign(store, { vault_auth_method: 'kubernetes', vault_role: 'sync-app', vault_jwt_path: join(dir, 'token') });
  }
  const clock = { now: state.now * 1000 };
  return {
    server,
    store,
    env,
    clock,
    caPath: tls?.caPath,
    dir,
    advance(seconds) {
      state.now += seconds;
      clock.now += seconds * 1000;
    },
  };
}
