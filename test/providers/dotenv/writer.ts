/** A child process for the kill test: writes one key over and over until it is killed. */
import { createSecretResolver, MemoryBindingRepository } from 'secretbind';
import { dotenv } from '../../../providers/dotenv/index.js';

const [path, round] = process.argv.slice(2);
const repository = new MemoryBindingRepository().putStore({ name: 'env-file', type: 'dotenv', dotenv_path: path! });
const resolver = createSecretResolver({ repository, providers: [dotenv()], cryptographyKey: [] });
process.send?.('ready');
for (let index = 0; ; index++) {
  await resolver.writeEntry('env-file', 'COUNTER', `${round}-${index}-padding-${'x'.repeat(200)}`, { adopt: true });
  process.send?.('wrote');
}
