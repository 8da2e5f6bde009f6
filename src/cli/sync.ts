/**
 * `secretbind sync`: one pass of the configuration's sync definitions (or the plan with --dry-run), with the state
 * kept in a JSON file beside the configuration. Prints names, actions and statuses, never a value.
 */
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSyncEngine, SecretbindError, type SecretEvent, type SyncDefinition, type SyncStateRepository } from 'secretbind';
import { openState } from './sync-state.js';
import { watchOptionsFrom, watchSync } from './sync-watch.js';
import { loadConfig, providersFor } from './config.js';
import { CONFIG_OPTIONS, EXIT, table, type Command } from './shared.js';
import { logSink } from './shared-log.js';

export const sync: Command = async (args, io) => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      ...CONFIG_OPTIONS,
      'dry-run': { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      state: { type: 'string' },
      'log-file': { type: 'string' },
      watch: { type: 'boolean', default: false },
      interval: { type: 'string' },
      jitter: { type: 'string' },
      listen: { type: 'string' },
      'leader-elect': { type: 'boolean', default: false },
      lease: { type: 'string' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      'log-format': { type: 'string' },
      grace: { type: 'string' },
      'allow-deletes': { type: 'string' },
      owner: { type: 'string' },
    },
  });
  const config = await loadConfig(values.config);
  if (config.sync.length === 0) throw new SecretbindError('CONFIG_INVALID', `${config.path}: has no sync definitions (a "sync" list beside stores and bindings).`);
  const statePath = values.state ?? join(dirname(config.path), `${config.path.replace(/^.*[\\/]/, '').replace(/\.(json|ya?ml)$/i, '')}.sync-state.json`);
  const allowDeletes = values['allow-deletes'] === undefined ? undefined : Number(values['allow-deletes']);
  if (allowDeletes !== undefined && (!Number.isInteger(allowDeletes) || allowDeletes < 0)) throw new SecretbindError('CONFIG_INVALID', '--allow-deletes: expected the number of removals to confirm.');
  const sink = logSink(values['log-file']);
  // The HMAC key of the state's values: held by the operator, never written beside the state.
  const stateKey = io.env.SECRETBIND_STATE_KEY || io.env.CRYPTOGRAPHY_KEY || undefined;
  const identity = (loaded: typeof config) => ({ ...(stateKey ? { stateKey } : {}), ...((values.owner ?? loaded.owner) !== undefined ? { owner: values.owner ?? loaded.owner } : {}) });
  if (values.watch) {
    if (allowDeletes !== undefined) throw new SecretbindError('CONFIG_INVALID', '--allow-deletes confirms one pass: run it without --watch.');
    if (values['dry-run']) throw new SecretbindError('CONFIG_INVALID', '--watch and --dry-run exclude each other: a daemon that changes nothing has nothing to do.');
    const build = async (loaded: typeof config, state: SyncStateRepository, onEvent: (event: SecretEvent) => void) => {
      try {
        return createSyncEngine({ repository: loaded.repository, providers: await providersFor(loaded, io), definitions: loaded.sync as SyncDefinition[], state, onEvent, ...identity(loaded) });
      } catch (error) {
        throw error instanceof SecretbindError ? new SecretbindError(error.code, `${loaded.path}: ${error.message}`, { cause: error }) : error;
      }
    };
    return watchSync({ configPath: config.path, statePath, sink, build, ...watchOptionsFrom(values) }, io);
  }
  let engine;
  try {
    engine = createSyncEngine({ repository: config.repository, providers: await providersFor(config, io), definitions: config.sync as SyncDefinition[], state: await openState(statePath), ...(sink ? { onEvent: sink.record } : {}), ...identity(config) });
  } catch (error) {
    throw error instanceof SecretbindError ? new SecretbindError(error.code, `${config.path}: ${error.message}`, { cause: error }) : error;
  }
  const dryRun = values['dry-run'];
  if (io.stderrIsTerminal) io.stderr(`${dryRun ? 'planning' : 'running'} ${config.sync.length} sync definition(s)...\n`);
  let items;
  try {
    items = await engine.run({ dryRun, ...(values.only ? { only: values.only } : {}), ...(allowDeletes !== undefined ? { allowDeletes } : {}) });
  } finally {
    await engine.close();
    sink?.close();
  }
  if (values.json) {
    io.stdout(`${JSON.stringify({ dryRun, items }, null, 2)}\n`);
  } else {
    if (dryRun) io.stdout('dry run: nothing was changed\n');
    if (items.length === 0) io.stdout('nothing to sync\n');
    else io.stdout(table([['SYNC', 'ENTRY', 'ACTION', dryRun ? 'PLANNED' : 'STATUS', 'CODE'], ...items.map((item) => [item.sync, item.entry, item.action, dryRun ? 'yes' : (item.status ?? '-'), item.code ?? ''])]));
    // What stopped a definition's removals, once per definition, with the exact flag that confirms them.
    const guarded = new Map<string, number>();
    for (const item of items) if (item.code === 'DELETE_GUARD') guarded.set(item.sync, (guarded.get(item.sync) ?? 0) + 1);
    for (const [name, count] of guarded) {
      const why = items.find((item) => item.sync === name && item.code === 'DELETE_GUARD')!.reason.replace(/: nothing was removed.*$/, '');
      io.stdout(`\n${name}: nothing was removed (DELETE_GUARD): ${why}.\n  If that is meant, confirm with: secretbind sync ${['--config', config.path, '--only', name].join(' ')} --allow-deletes ${count}\n`);
    }
  }
  const failed = items.some((item) => item.outcome === 'failed' || (dryRun && item.action === 'error'));
  return failed ? EXIT.failed : EXIT.ok;
};
