/**
 * Vault benchmark over the stand-in: KV reads for 1,000 accounts on 100 paths in one resolvePasswords, logins for
 * 1,000 concurrent lookups on a cold AppRole store, and time per lookup against a direct node-vault read.
 */
import nodeVault from 'node-vault';
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { vault } from '../../providers/vault/index.js';
import { world } from '../providers/vault/world.js';
import { compare, line } from './harness.js';

export async function benchVault(): Promise<void> {
  process.stdout.write('\n== vault\n');
  const current = await world({ auth: 'approle' });
  try {
    const { server, store, env } = current;
    const repository = new MemoryBindingRepository().putStore(store);
    const fields = ['password', 'username', 'url', 'port', 'owner'];
    for (let path = 0; path < 100; path++) {
      server.state.putSecret('secret', `bench/app-${path}`, { password: `pw-${path}`, username: 'svc', url: 'https://x', port: '443', owner: 'ops' });
      for (let account = 0; account < 10; account++) repository.putBinding({ account: `a-${path}-${account}`, store: 'vault', entry: `bench/app-${path}#${fields[account % fields.length]}` });
    }
    const accounts = repository.listBindings().map((binding) => ({ name: binding.account }));

    const cold = createSecretResolver({ repository, providers: [vault({ env })], cryptographyKey: [], timeoutMs: 30_000 });
    const loginsBefore = server.state.logins.approle;
    await Promise.all(Array.from({ length: 1000 }, (_, index) => cold.resolvePassword({ name: `a-${index % 100}-0` })));
    line('logins for 1,000 concurrent lookups on a cold AppRole store', `${server.state.logins.approle - loginsBefore} (must be 1)`);

    const readsBefore = server.count('/v1/secret/data/bench/');
    let started = performance.now();
    const results = await cold.resolvePasswords(accounts);
    const bulkMs = performance.now() - started;
    const failures = [...results.values()].filter((result) => !result.ok).length;
    line(`resolvePasswords: ${accounts.length} accounts on 100 paths`, `${server.count('/v1/secret/data/bench/') - readsBefore} KV reads (must be 100), ${bulkMs.toFixed(0)} ms, ${failures} failures`);

    // Time per lookup: ours (one bound account) against node-vault reading the same path with the same token.
    const token = server.state.createToken({ policies: ['reader'] });
    const direct = nodeVault({ apiVersion: 'v1', endpoint: server.url, token });
    const tokenStore = { name: 'vault-token', type: 'vault', vault_url: server.url, vault_token_env: 'BENCH_TOKEN' };
    const single = createSecretResolver({
      repository: new MemoryBindingRepository().putStore(tokenStore).putBinding({ account: 'one', store: 'vault-token', entry: 'bench/app-1' }),
      providers: [vault({ env: { BENCH_TOKEN: token } })],
      cryptographyKey: [],
    });
    started = performance.now();
    const timing = await compare(
      () => direct.read('secret/data/bench/app-1'),
      () => single.resolvePassword({ name: 'one' }),
      { iterations: 300, rounds: 7, warmup: 200 },
    );
    line('node-vault read, default transport (median)', `${(timing.baselineNs / 1e6).toFixed(3)} ms/lookup`);
    line('resolvePassword through the vault provider (median)', `${(timing.candidateNs / 1e6).toFixed(3)} ms/lookup`);
    line('secretbind / node-vault', timing.ratio.toFixed(3));
    await cold.close();
    await single.close();
  } finally {
    await current.server.stop();
  }
}
