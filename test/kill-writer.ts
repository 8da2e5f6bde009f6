/** A child process for the kill tests of remote stores: writes one entry over and over until it is killed. */
import { createSecretResolver, MemoryBindingRepository, type SecretProvider, type SecretStore } from 'secretbind';

const { type, store, env, entry } = JSON.parse(process.argv[2]!) as { type: string; store: SecretStore; env: Record<string, string>; entry: string };
const providers: Record<string, () => Promise<SecretProvider>> = {
  vault: async () => (await import('../providers/vault/index.js')).vault({ env, retries: 0 }),
  aws_secrets: async () => (await import('../providers/aws_secrets/index.js')).awsSecrets({ credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! }, maxAttempts: 1 }),
  kubernetes: async () => (await import('../providers/kubernetes/index.js')).kubernetes(),
  azure_keyvault: async () => (await import('../providers/azure_keyvault/index.js')).azureKeyVault({ env, disableChallengeResourceVerification: true, credentialOptions: { disableInstanceDiscovery: true } }),
  gcp_secrets: async () => (await import('../providers/gcp_secrets/index.js')).gcpSecrets({ clientOptions: { apiEndpoint: 'localhost', port: Number(env.GCP_PORT) } }),
  os_keyring: async () => (await import('../providers/os_keyring/index.js')).osKeyring(),
  lastpass: async () => (await import('../providers/lastpass/index.js')).lastpass({ lpassPath: env.LPASS_PATH!, env: { LPASS_STANDIN_VAULT: env.LPASS_STANDIN_VAULT! } }),
};
const resolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(store), providers: [await providers[type]!()], cryptographyKey: [], timeoutMs: 30_000 });
process.send?.('ready');
for (let index = 0; ; index++) {
  // LastPass keeps the owner mark in the notes: changing them each time puts every notes edit in the kill window.
  await resolver.writeEntry(store.name, entry, { username: `user-${index}`, password: `password-${index}`, ...(type === 'lastpass' ? { notes: `notes-${index}` } : {}) });
  process.send?.('wrote');
}
