/** A child for the migration crash test: `secretbind migrate` as the command runs it, until killed or done. */
import { main } from '../../src/cli/main.js';

const argv = process.argv.slice(2);
process.send?.('ready');
const status = await main(argv, { stdout: () => {}, stderr: (text) => void process.stderr.write(text), readSecret: async () => '', env: process.env, stderrIsTerminal: false });
process.send?.(`done ${status}`);
