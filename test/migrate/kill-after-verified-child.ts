/** A child for the resume tests: `secretbind migrate`, killed by itself right after the journal records `verified`. */
import { FileMigrationJournal } from 'secretbind';
import { main } from '../../src/cli/main.js';

const append = FileMigrationJournal.prototype.append;
FileMigrationJournal.prototype.append = async function (records) {
  await append.call(this, records);
  if (records.some((record) => record.step === 'verified')) process.kill(process.pid, 'SIGKILL');
};
await main(process.argv.slice(2), { stdout: () => {}, stderr: (text) => void process.stderr.write(text), readSecret: async () => '', env: process.env, stderrIsTerminal: false });
