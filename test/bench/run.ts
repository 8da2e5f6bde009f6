/**
 * `npm run bench` bundles this file with esbuild and runs it under plain Node: a TypeScript loader
 * (tsx) rewrites functions in ways that change what a microsecond benchmark measures.
 */
import { benchAws } from './aws.js';
import { benchCli } from './cli.js';
import { benchCore } from './core.js';
import { benchDaemon } from './daemon.js';
import { benchKeepass } from './keepass.js';
import { benchLastpass } from './lastpass.js';
import { benchMigrate } from './migrate.js';
import { benchResilience } from './resilience.js';
import { benchVault } from './vault.js';
import { benchStores } from './stores.js';
import { benchSync } from './sync.js';
import { benchWrites } from './writes.js';

const only = process.argv[2];
const benches: Record<string, () => Promise<void>> = { core: benchCore, keepass: benchKeepass, lastpass: benchLastpass, vault: benchVault, aws: benchAws, writes: benchWrites, sync: benchSync, daemon: benchDaemon, migrate: benchMigrate, resilience: benchResilience, cli: benchCli, stores: benchStores };
for (const [name, bench] of Object.entries(benches)) {
  if (!only || only === name) await bench();
}
