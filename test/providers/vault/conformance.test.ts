/** The conformance suite for vault over the stand-in: KV v1 and v2, each auth method, with and without a namespace, HTTP and HTTPS. */
import { vault } from '../../../providers/vault/index.js';
import { startSilentServer } from '../../conformance/hanging.js';
import { describeProvider } from '../../conformance/provider.js';
import { world, type AuthMethod, type World } from './world.js';

async function hungVault(current: World, tls: boolean) {
  const silent = await startSilentServer(tls ? 'https' : 'http');
  return { provider: vault({ env: current.env, now: () => current.clock.now }), store: { ...current.store, vault_url: silent.url }, reference: 'kv/prod/checkmk', stop: silent.stop };
}

for (const kv of [1, 2] as const) {
  for (const auth of ['token', 'approle', 'kubernetes'] as AuthMethod[]) {
    for (const namespace of [undefined, 'team-a']) {
      for (const tls of [false, true]) {
        let current: World;
        describeProvider({
          name: `vault KV v${kv}, ${auth}${namespace ? `, namespace ${namespace}` : ''}, ${tls ? 'HTTPS' : 'HTTP'}`,
          capabilities: { bulk: true, check: true, hang: true },
          // A Vault that takes the connection and never answers: the login (approle, kubernetes) or the read hangs. Once
          // per auth method and transport; the KV version and the namespace change nothing on the way there.
          ...(kv === 2 && !namespace ? { hangingStore: () => hungVault(current, tls) } : {}),
          setup: async () => {
            current = await world({ kv, auth, ...(namespace ? { namespace } : {}), tls });
            return {
              provider: vault({ env: current.env, now: () => current.clock.now }),
              store: current.store,
              known: { reference: 'kv/prod/checkmk', value: 'Ch3ck-MK!prod#2026' },
              knownField: { reference: 'kv/prod/checkmk#username', value: 'automation' },
              missingEntry: 'kv/prod/nothing',
              missingField: 'kv/prod/checkmk#api_key',
              badStores: [
                { name: 'vault', type: 'vault', vault_url: 'ftp://vault' },
                { name: 'vault', type: 'vault', vault_url: current.server.url, vault_kv_version: 3 },
                { name: 'vault', type: 'vault', vault_url: current.server.url, vault_auth_method: 'approle' },
                { name: 'vault', type: 'vault', vault_url: current.server.url, vault_auth_method: 'kubernetes' },
                { name: 'vault', type: 'vault', vault_url: current.server.url, vault_token_env: 'not a name' },
              ],
              canary: { reference: 'kv/prod/canary', value: 'canary-vault-3b9d', missingFieldReference: 'kv/prod/canary#nope' },
              hang: () => {
                current.server.state.mode.hang = 1;
                return 'kv/prod/checkmk';
              },
              teardown: () => current.server.stop(),
            };
          },
        });
      }
    }
  }
}
