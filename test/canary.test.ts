/**
 * A canary value, a canary Fernet key and a canary token go through every public function; none may show up
 * in an event, an error (message, stack, toJSON, inspection), an explanation, a report or the console.
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as secretbind from 'secretbind';
import {
  abortableDelay,
  checkBinding,
  createSecretResolver,
  decryptLocalPassword,
  decryptLocalPasswordBytes,
  encryptLocalPassword,
  formatEvent,
  forEachLimit,
  formatReference,
  generateFernetKey,
  isSecretbindError,
  MemoryBindingRepository,
  missingPeer,
  parseReference,
  peerLoader,
  referencePath,
  runWithTimeout,
  SecretbindError,
  settle,
  readEachOnce,
  jsonSecretEntry,
  jsonSecretField,
  jsonSecretText,
  untilAborted,
  validateStoreFields,
  WithheldError,
  checkDefinitions,
  guardWrite,
  createJsonLinesSink,
  createSyncEngine,
  JsonFileSyncState,
  MemorySyncState,
  parseTemplate,
  createSecretLog,
  fileVersion,
  readJsonLines,
  withFileLock,
  writeFileAtomic,
  wrapAccountLookup,
  type SecretEvent,
  credentialFingerprint,
  createSyncMetrics,
  serveSyncStatus,
  rateBudget,
  RateBudget,
  setBudgetClock,
  FileMigrationJournal,
  MemoryMigrationJournal,
  migrateAccounts,
} from 'secretbind';
import { envvar } from '../providers/envvar/index.js';
import { memory } from '../providers/memory/index.js';

const CANARY = 'canary-9d41c7e2-value';
const CANARY_KEY = generateFernetKey();
const CANARY_TOKEN = encryptLocalPassword(CANARY, CANARY_KEY);
const SECRETS = [CANARY, CANARY_KEY, CANARY_TOKEN];

describe('Canary: no value, key or token leaves through a side channel', () => {
  const outputs: string[] = [];
  const events: SecretEvent[] = [];
  let consoleSpies: Array<ReturnType<typeof vi.spyOn>>;

  beforeEach(() => {
    consoleSpies = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((method) => vi.spyOn(console, method));
    vi.stubEnv('CANARY_ENV', CANARY);
  });
  afterEach(() => {
    for (const text of [...outputs, ...events.map((event) => JSON.stringify(event)), ...events.map(formatEvent)]) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    }
    for (const spy of consoleSpies) {
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
    }
    vi.unstubAllEnvs();
  });

  function record(error: unknown): SecretbindError {
    expect(isSecretbindError(error)).toBe(true);
    const failure = error as SecretbindError;
    outputs.push(failure.message, String(failure.stack), JSON.stringify(failure), JSON.stringify(failure.toJSON()), inspect(failure, { depth: 10 }), String(failure));
    return failure;
  }
  async function failing(run: () => unknown): Promise<SecretbindError> {
    try {
      await run();
    } catch (error) {
      return record(error);
    }
    throw new Error('expected a failure');
  }

  function world() {
    const repository = MemoryBindingRepository.fromConfig({
      stores: [
        { name: 'env', type: 'envvar' },
        { name: 'mem', type: 'memory' },
      ],
      bindings: [
        { account: 'env-bound', store: 'env', entry: 'CANARY_ENV' },
        { account: 'env-field', store: 'env', entry: 'CANARY_ENV#nope' },
        { account: 'mem-bound', store: 'mem', entry: 'canary/entry' },
        { account: 'mem-field', store: 'mem', entry: 'canary/entry#nope' },
        { account: 'mem-failing', store: 'mem', entry: 'canary/failing' },
      ],
    });
    const store = memory({ entries: { 'canary/entry': { password: CANARY }, 'canary/failing': CANARY } });
    store.failNext('canary/failing', 'AUTH_FAILED', { times: 100 });
    const resolver = createSecretResolver({ repository, providers: [envvar(), store], cryptographyKey: CANARY_KEY, onEvent: (event) => events.push(event) });
    return { repository, resolver };
  }

  it('resolvePassword, resolvePasswords, explain, check and close, over both providers and the local password', async () => {
    const { resolver } = world();
    const accounts = ['env-bound', 'env-field', 'mem-bound', 'mem-field', 'mem-failing', 'local'].map((name) => ({ name, password: CANARY_TOKEN }));
    expect(await resolver.resolvePassword(accounts[0]!)).toBe(CANARY);
    expect(await resolver.resolvePassword(accounts[2]!)).toBe(CANARY);
    expect(await resolver.resolvePassword(accounts[5]!)).toBe(CANARY);
    for (const account of [accounts[1]!, accounts[3]!, accounts[4]!]) await failing(() => resolver.resolvePassword(account));
    const bulk = await resolver.resolvePasswords(accounts);
    for (const result of bulk.values()) if (!result.ok) record(result.error);
    expect([...bulk.values()].filter((result) => result.ok)).toHaveLength(3);
    for (const account of accounts) outputs.push(JSON.stringify(await resolver.explain(account)));
    outputs.push(JSON.stringify(await resolver.check({ resolveEntries: true })));
    await resolver.close();
    expect(events.length).toBeGreaterThanOrEqual(12);
  });

  it('the fallback path and a failing local password', async () => {
    const { repository } = world();
    const resolver = createSecretResolver({ repository, providers: [envvar(), memory()], cryptographyKey: CANARY_KEY, onProviderError: 'use-local', onEvent: (event) => events.push(event) });
    expect(await resolver.resolvePassword({ name: 'mem-bound', password: CANARY_TOKEN })).toBe(CANARY);
    const wrongKey = createSecretResolver({ repository, providers: [], cryptographyKey: generateFernetKey(), onEvent: (event) => events.push(event) });
    await failing(() => wrongKey.resolvePassword({ name: 'unbound', password: CANARY_TOKEN }));
    await failing(() => createSecretResolver({ repository, cryptographyKey: [] }).resolvePassword({ name: 'unbound', password: CANARY_TOKEN }));
  });

  it('wrapAccountLookup', async () => {
    const { resolver } = world();
    const getAccount = wrapAccountLookup((name: string) => ({ name, password: CANARY_TOKEN }), resolver);
    const account = await getAccount('mem-bound');
    expect(account.password).toBe(CANARY);
    outputs.push(JSON.stringify(account), inspect(account));
  });

  it('the Fernet functions', async () => {
    expect(decryptLocalPassword(CANARY_TOKEN, CANARY_KEY)).toBe(CANARY);
    expect(Buffer.from(decryptLocalPasswordBytes(CANARY_TOKEN, CANARY_KEY)).toString()).toBe(CANARY);
    await failing(() => decryptLocalPassword(CANARY_TOKEN, generateFernetKey()));
    await failing(() => decryptLocalPassword(CANARY_TOKEN, [generateFernetKey(), CANARY_KEY.slice(0, 20)]));
    await failing(() => decryptLocalPassword(CANARY_TOKEN, CANARY_KEY, { ttlSeconds: 1, now: () => Date.now() / 1000 + 3600 }));
    await failing(() => decryptLocalPassword(CANARY_TOKEN.slice(0, -4), CANARY_KEY));
    await failing(() => encryptLocalPassword(CANARY, CANARY_KEY.slice(3)));
    await failing(() => decryptLocalPassword(CANARY, CANARY_KEY));
  });

  it('the repository, reference, validation and error helpers', async () => {
    const repository = new MemoryBindingRepository().putStore({ name: 's', type: 'memory' });
    await failing(() => repository.putBinding({ account: 'a', store: 'nope', entry: CANARY }));
    await failing(() => MemoryBindingRepository.fromConfig({ stores: [{ name: 's', type: 'vault', vault_url: CANARY }] }));
    await failing(() => validateStoreFields({ name: 's', type: 'keepass', kdbx_path: '/x', master_password_env: CANARY }));
    await failing(() => checkBinding({ account: 'a', store: 's', entry: 7 }, 'binding'));
    repository.putBinding({ account: 'a', store: 's', entry: 'x' });
    await failing(() => repository.removeStore('s'));
    outputs.push(JSON.stringify(repository.listBindings()), JSON.stringify(repository.listStores()));
    expect(referencePath(parseReference(formatReference(['a', 'b'])))).toBe('a/b');
    await failing(() => formatReference([]));
    await failing(() => peerLoader('keepass', 'no-such-package-secretbind', undefined, () => import('no-such-package-secretbind' as string))());
    record(missingPeer('vault', 'node-vault', 'npm install node-vault'));
    const controller = new AbortController();
    const waiting = untilAborted(abortableDelay(10_000, controller.signal), controller.signal);
    controller.abort(new SecretbindError('TIMEOUT', 'deadline'));
    await failing(() => waiting);
    await failing(() => runWithTimeout(5, 'shared work took too long', () => new Promise(() => {}), 'memory'));
    const dir = mkdtempSync(join(tmpdir(), 'secretbind-canary-'));
    await withFileLock(join(dir, 'file'), () => writeFileAtomic(join(dir, 'file'), CANARY));
    outputs.push(fileVersion(statSync(join(dir, 'file'), { bigint: true })));
    const log = createSecretLog({ capacity: 10 });
    const sink = createJsonLinesSink({ path: join(dir, 'events.jsonl') });
    for (const event of events) {
      log.record(event);
      sink.record(event);
    }
    sink.close();
    outputs.push(JSON.stringify(log.query()), JSON.stringify(log.stats()), JSON.stringify(readJsonLines(join(dir, 'events.jsonl'))));
    await failing(() => createSecretLog({ capacity: -1 }));
    await failing(() => parseTemplate("{{ .SecretKey }}").render({ SecretPath: CANARY }));
    await failing(() => checkDefinitions([{ name: 'a', destination: 'b' }]));
    await failing(() => guardWrite({ what: 'Entry x', exists: true, owner: undefined, version: '1', mark: 'mark', storeType: 'memory' }, { owner: 'secretbind' }));
    const syncSource = memory({ entries: { 'apps/canary': CANARY } });
    const syncState = new JsonFileSyncState(join(dir, 'sync-state.json'));
    const engine = createSyncEngine({
      repository: new MemoryBindingRepository().putStore({ name: 'src', type: 'memory' }).putStore({ name: 'dst', type: 'memtwo' }),
      providers: [syncSource, { ...memory(), type: 'memtwo' }],
      definitions: [{ name: 'canary', source: 'src', entries: ['apps/canary'], destination: 'dst' }],
      state: syncState,
      onEvent: (event) => events.push(event),
    });
    outputs.push(JSON.stringify(await engine.plan()), JSON.stringify(await engine.run()), JSON.stringify(await engine.status()), readFileSync(join(dir, 'sync-state.json'), 'utf8'), JSON.stringify(new MemorySyncState().list()));
    // The stale cache: served values reach no event, error or inspection of the resolver.
    const staleStore = memory({ entries: { 'apps/canary': CANARY } });
    const staleResolver = createSecretResolver({
      repository: new MemoryBindingRepository().putStore({ name: 'm', type: 'memory' }).putBinding({ account: 'stale', store: 'm', entry: 'apps/canary' }),
      providers: [staleStore],
      cryptographyKey: [],
      staleIfError: { maxAgeMs: 60_000 },
      onEvent: (event) => events.push(event),
    });
    await staleResolver.resolvePassword({ name: 'stale' });
    staleStore.failNext('apps/canary', 'BACKEND_UNAVAILABLE');
    await staleResolver.resolvePassword({ name: 'stale' });
    staleStore.failNext('apps/canary', 'PERMISSION_DENIED');
    await failing(() => staleResolver.resolvePassword({ name: 'stale' }));
    outputs.push(inspect(staleResolver, { depth: 10, showHidden: true }), JSON.stringify(await staleResolver.resolvePasswords([{ name: 'stale' }])).replace(CANARY, 'value-returned-to-caller'));
    await staleResolver.close();
    // Rate budgets see kinds and counts only.
    setBudgetClock(undefined);
    const budget = rateBudget({ name: 'budgeted', type: 'aws_secrets', aws_access_key_id: CANARY }, { read: 1000 });
    await budget.take('read');
    budget.slow(1);
    outputs.push(JSON.stringify([...budget.stats.calls]), JSON.stringify(new RateBudget({ read: 1 }).stats), inspect(budget, { depth: 5 }));
    // The daemon's metrics, health and status endpoints.
    const metrics = await createSyncMetrics();
    for (const event of events) metrics.record(event);
    metrics.observePass({ trigger: 'interval', syncs: ['canary'], startedAt: Date.now(), durationMs: 1, items: await engine.run() });
    const statusServer = await serveSyncStatus({ engine, metrics, port: 0 });
    for (const path of ['/metrics', '/status', '/readyz', '/healthz']) outputs.push(await (await fetch(`${statusServer.url}${path}`)).text());
    await statusServer.close();
    outputs.push(JSON.stringify(engine.loopState()));
    await failing(() => withFileLock(join(dir, 'missing-folder', 'file'), async () => CANARY));
    await failing(() => writeFileAtomic(join(dir, 'missing-folder', 'file'), CANARY).catch((error: unknown) => {
      throw new SecretbindError('CONFIG_INVALID', 'write failed', { cause: new WithheldError(error) });
    }));
    await forEachLimit([1, 2, 3], 2, async () => {});
    outputs.push(credentialFingerprint(CANARY), credentialFingerprint(CANARY.slice(0, 4)));
    // Migration: its items, its journal (memory and file), its events and its refusals.
    const migrationRepository = new MemoryBindingRepository().putStore({ name: 'into', type: 'memory' }).putAccount({ name: 'moved', password: CANARY_TOKEN }).putAccount({ name: 'undecryptable', password: encryptLocalPassword(CANARY, generateFernetKey()) });
    const migrationJournal = new FileMigrationJournal(join(dir, 'migrate.journal'));
    const migration = await migrateAccounts({ repository: migrationRepository, providers: [memory()], cryptographyKey: CANARY_KEY, to: 'into', journal: migrationJournal, clearLocal: true, onEvent: (event) => events.push(event) });
    outputs.push(JSON.stringify(migration), readFileSync(join(dir, 'migrate.journal'), 'utf8'), JSON.stringify(await migrateAccounts({ repository: migrationRepository, providers: [memory()], cryptographyKey: CANARY_KEY, to: 'into', dryRun: true, journal: new MemoryMigrationJournal() })));
    await failing(() => migrateAccounts({ repository: migrationRepository, providers: [memory()], cryptographyKey: CANARY_KEY.slice(1), to: 'into' }));
    const settled = await settle(() => {
      throw new SyntaxError(`Unexpected token, "${CANARY}" is not valid JSON`);
    });
    expect(settled.ok).toBe(false);
    if (!settled.ok) record(settled.error);
    // A bulk read whose store throws a foreign error quoting the value: the settled error withholds it.
    const bulk = await readEachOnce([parseReference('a'), parseReference('a#x'), parseReference('b')], (ref) => ref.segments.join('/'), async (ref) => {
      if (ref.segments[0] === 'b') throw new Error(`cannot parse "${CANARY}"`);
      return JSON.stringify({ x: 'ok' });
    }, (text, ref) => jsonSecretField(text, ref.field, 'Secret a', 'memory'), 2);
    for (const settledRead of bulk.values()) if (!settledRead.ok) record(settledRead.error);
    expect([...bulk.values()].map((result) => result.ok)).toEqual([false, true, false]);
    // JSON-valued secrets: a plain-string canary asked for a key, a missing key, a value that is not JSON at all.
    for (const [text, key] of [[CANARY, 'password'], [JSON.stringify({ password: CANARY }), 'nope'], [`{"password": "${CANARY}"`, 'password']] as const) {
      await failing(async () => jsonSecretField(text, key, 'Secret canary', 'memory'));
    }
    outputs.push(JSON.stringify(jsonSecretEntry(`{not json ${CANARY}`)) === JSON.stringify(`{not json ${CANARY}`) ? 'whole text kept' : 'changed');
    expect(jsonSecretText({ password: 'new' }, `{"password": "${CANARY}", "user": "u"}`)).toBe('{"password":"new","user":"u"}');
    // toJSON names the cause's class only: a cause's message is not ours to vouch for.
    outputs.push(JSON.stringify(new SecretbindError('BACKEND_UNAVAILABLE', 'x', { cause: new Error(CANARY) })));
  });

  it('covers every exported function of the core', () => {
    const covered = new Set([
      'createSecretResolver', 'wrapAccountLookup', 'MemoryBindingRepository', 'checkBinding', 'parseReference', 'formatReference',
      'referencePath', 'SecretbindError', 'isSecretbindError', 'formatEvent', 'encryptLocalPassword', 'decryptLocalPassword',
      'decryptLocalPasswordBytes', 'generateFernetKey', 'validateStoreFields', 'peerLoader', 'missingPeer', 'abortableDelay', 'runWithTimeout', 'untilAborted', 'forEachLimit', 'writeFileAtomic', 'withFileLock', 'fileVersion', 'createSecretLog', 'createJsonLinesSink', 'readJsonLines', 'createSyncEngine', 'checkDefinitions', 'MemorySyncState', 'JsonFileSyncState', 'parseTemplate', 'guardWrite', 'settle', 'WithheldError', 'credentialFingerprint', 'migrateAccounts', 'FileMigrationJournal', 'MemoryMigrationJournal', 'createSyncMetrics', 'serveSyncStatus', 'rateBudget', 'RateBudget', 'setBudgetClock', 'jsonSecretField', 'jsonSecretEntry', 'jsonSecretText', 'readEachOnce',
      // Names only: an owner mark is made from a deployment's and a definition's name, never from a value.
      'syncOwnerMark',
      // Holds associations (names, versions, HMACs): exercised against the Kubernetes stand-in in test/sync/shared-state.test.ts.
      'StoreSyncState',
    ]);
    const functions = Object.entries(secretbind).filter(([, value]) => typeof value === 'function').map(([name]) => name);
    expect(functions.filter((name) => !covered.has(name))).toEqual([]);
  });
});
