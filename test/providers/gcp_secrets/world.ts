/** A Secret Manager stand-in with a service account whose key file the real client signs its JWTs with. */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecretStore } from 'secretbind';
import { gcpSecrets, type GcpSecretsOptions } from '../../../providers/gcp_secrets/index.js';
import { PROJECT_ID, start, type SecretManagerStandIn } from '../../servers/gcp/index.js';

export const SERVICE_ACCOUNT = 'secretbind-sync@sync-project.iam.gserviceaccount.com';

/** A service-account key file as the console makes it; `known: false` makes one the service does not know. */
export function keyFile(server: SecretManagerStandIn, options: { known?: boolean; email?: string; keyId?: string } = {}): { path: string; privateKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const email = options.email ?? SERVICE_ACCOUNT;
  const keyId = options.keyId ?? `key-${Math.random().toString(16).slice(2)}`;
  if (options.known !== false) server.state.addKey(email, keyId, publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const path = join(mkdtempSync(join(tmpdir(), 'secretbind-gcp-')), 'key.json');
  // token_uri points nowhere: with a key file the client signs its own JWT and never asks it.
  writeFileSync(path, JSON.stringify({ type: 'service_account', project_id: PROJECT_ID, private_key_id: keyId, private_key: pem, client_email: email, client_id: '104729', auth_uri: 'https://127.0.0.1:9/auth', token_uri: 'https://127.0.0.1:9/token', universe_domain: 'googleapis.com' }));
  return { path, privateKey: pem };
}

export async function secretManager(): Promise<{ server: SecretManagerStandIn; store: SecretStore; key: { path: string; privateKey: string } }> {
  const server = await start();
  const key = keyFile(server);
  return { server, key, store: { name: 'gsm', type: 'gcp_secrets', gcp_project: PROJECT_ID, gcp_credentials_file: key.path } };
}

/** The provider pointed at the stand-in ("localhost" matches the test certificate's name). */
export const providerFor = (server: SecretManagerStandIn, extra: GcpSecretsOptions = {}) => gcpSecrets({ ...extra, clientOptions: { apiEndpoint: 'localhost', port: server.port, ...extra.clientOptions } });
