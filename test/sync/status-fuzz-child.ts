/** A child for the status-server fuzz test: a sync loop passing every 50 ms behind serveSyncStatus on port 0. */
import { createSyncEngine, MemoryBindingRepository, serveSyncStatus } from 'secretbind';
import { memory, type MemoryProvider } from '../../providers/memory/index.js';

const source = memory({ entries: { 'apps/a': 'canary-fuzz-a' } });
const destination = { ...memory(), type: 'memtwo' } as MemoryProvider;
const repository = new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' });
const engine = createSyncEngine({ repository, providers: [source, destination], definitions: [{ name: 'apps', source: 'src', prefix: 'apps/', destination: 'dst' }] });
let passes = 0;
await engine.start({ intervalMs: 50, jitter: 0, watch: false, onPass: () => void passes++ });
const server = await serveSyncStatus({ engine, port: 0 });
process.send?.({ url: server.url });
process.on('message', (message) => {
  if (message === 'passes') process.send?.({ passes });
});
