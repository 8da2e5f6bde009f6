/** A child process for the sync crash test: one pass over .env files, until it is killed or done. */
import { createSyncEngine, JsonFileSyncState, MemoryBindingRepository } from 'secretbind';
import { dotenv } from '../../providers/dotenv/index.js';

const [source, destination, statePath] = process.argv.slice(2) as [string, string, string];
const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'dotenv', dotenv_path: source }).putStore({ name: 'dst', type: 'dotenv', dotenv_path: destination });
const keys = Array.from({ length: 20 }, (_, index) => `KEY_${index}`);
const engine = createSyncEngine({ repository, providers: [dotenv()], definitions: [{ name: 'copy', source: 'src', entries: keys, destination: 'dst', name_template: 'COPY_{{ .SecretPath }}' }], state: new JsonFileSyncState(statePath) });
process.send?.('ready');
await engine.run();
process.send?.('done');
