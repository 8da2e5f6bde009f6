/** A child process for the kill test: writes one entry of a KeePass file over and over until it is killed. */
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { keepass } from '../../../providers/keepass/index.js';
import { MASTER } from './helpers.js';

const [path, round] = process.argv.slice(2);
const repository = new MemoryBindingRepository().putStore({ name: 'kp', type: 'keepass', kdbx_path: path!, master_password_env: 'KEEPASS_MASTER' });
const resolver = createSecretResolver({ repository, providers: [keepass({ env: { KEEPASS_MASTER: MASTER } })], cryptographyKey: [], timeoutMs: 30_000 });
process.send?.('ready');
for (let index = 0; ; index++) {
  await resolver.writeEntry('kp', 'counter', `${round}-${index}`, { adopt: true });
  process.send?.('wrote');
}
