/**
 * `secretbind migrate`: moves the configuration's local passwords into a store, journaled, resumable and reversible;
 * the bindings and cleared passwords are written back into the configuration file. Prints names, never a password.
 */
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileMigrationJournal, migrateAccounts, SecretbindError } from 'secretbind';
import { loadConfig, providersFor } from './config.js';
import { ConfigFileRepository } from './config-file.js';
import { CONFIG_OPTIONS, EXIT, table, type Command } from './shared.js';
import { logSink } from './shared-log.js';

export const migrate: Command = async (args, io) => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...CONFIG_OPTIONS,
      to: { type: 'string' },
      entry: { type: 'string' },
      field: { type: 'string' },
      only: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      'clear-local': { type: 'boolean', default: false },
      journal: { type: 'string' },
      resume: { type: 'boolean', default: false },
      rollback: { type: 'boolean', default: false },
      'log-file': { type: 'string' },
    },
  });
  const config = await loadConfig(values.config);
  // Resume takes the store from its journal; --to may repeat it.
  if (!values.to && !values.resume) throw new SecretbindError('CONFIG_INVALID', '--to STORE is required: the store the passwords move into.');
  if (values.resume && values.rollback) throw new SecretbindError('CONFIG_INVALID', '--resume and --rollback exclude each other.');
  const journalPath = values.journal ?? join(dirname(config.path), `${config.path.replace(/^.*[\\/]/, '').replace(/\.(json|ya?ml)$/i, '')}.migrate-journal.jsonl`);
  const dryRun = values['dry-run'];
  const mode = values.rollback ? 'rollback' : values.resume ? 'resume' : 'migrate';
  if (io.stderrIsTerminal) io.stderr(`${dryRun ? 'planning' : mode === 'rollback' ? 'rolling back' : 'migrating'} into ${values.to ?? 'the journal\'s store'} (journal ${journalPath})...\n`);
  const sink = logSink(values['log-file']);
  const items = await migrateAccounts({
    ...(sink ? { onEvent: sink.record } : {}),
    repository: new ConfigFileRepository(config),
    providers: await providersFor(config, io),
    cryptographyKey: io.env.CRYPTOGRAPHY_KEY ?? [],
    ...(values.to !== undefined ? { to: values.to } : {}),
    ...(values.entry !== undefined ? { entry: values.entry } : {}),
    ...(values.field !== undefined ? { field: values.field } : {}),
    ...(values.only !== undefined ? { only: values.only.split(',').map((name) => name.trim()).filter(Boolean) } : {}),
    dryRun,
    clearLocal: values['clear-local'],
    journal: new FileMigrationJournal(journalPath),
    mode,
  }).finally(() => sink?.close());
  if (values.json) io.stdout(`${JSON.stringify({ dryRun, mode, journal: journalPath, items }, null, 2)}\n`);
  else {
    if (dryRun) io.stdout('dry run: nothing was changed\n');
    if (items.length === 0) io.stdout('no account to migrate\n');
    else {
      const state = (item: (typeof items)[number]): string => (dryRun ? (item.exists === undefined ? '?' : item.exists ? (item.owned ? 'exists, ours' : 'exists, not ours') : 'new') : item.outcome);
      io.stdout(table([['ACCOUNT', 'ENTRY', 'ACTION', dryRun ? 'ENTRY NOW' : 'OUTCOME', 'CODE'], ...items.map((item) => [item.account, item.entry, item.action, state(item), item.code ?? ''])]));
    }
  }
  return items.some((item) => item.outcome === 'failed') ? EXIT.failed : EXIT.ok;
};
