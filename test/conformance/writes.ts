/**
 * The write section of the conformance suite: what every writable provider does, against its real files or its
 * stand-in. Each provider's test file calls describeWritableProvider with a fixture; capabilities are flags.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretResolver, formatEvent, MemoryBindingRepository, type SecretEvent, type SecretProvider, type SecretStore } from 'secretbind';
import { failure } from '../helpers.js';
import { activeResources, expectEndedAtDeadline, expectNothingHeld, HANG_DEADLINE_MS, type HangingStoreSetup } from './hanging.js';

export interface WritableFixture {
  provider: SecretProvider;
  /** A writable store of the provider's type. */
  store: SecretStore;
  /** Creates an entry out of band, without secretbind's owner mark (as a person or another tool would). */
  seedForeign(name: string, value: string): Promise<void> | void;
  /** Names the store can hold, including its awkward ones (spaces, `#`, `/`, non-ASCII, where it allows them). */
  names: string[];
  /** Names the store's rules refuse, each with a word of the rule the message must name. */
  invalidNames: Array<[name: string, rule: string]>;
  /** A prefix under which the test may create entries for the paging test. */
  prefix: string;
  /** What joins words in the entry names the suite makes: `_` (default) or `-` where names are DNS labels. */
  separator?: string;
  teardown?: () => Promise<void> | void;
}

export interface WritableCapabilities {
  /** The store's listing pages (entries per page); the paging test writes more than one page. 0: no paging. */
  pageSize: number;
  /** Object values are stored as fields (true) or as JSON text of the object (false). */
  objectFields: boolean;
  /** Versions tell writes apart and `ifVersion` is honoured (false: OPERATION_UNSUPPORTED, e.g. LastPass). */
  guarded: boolean;
}

const CANARY = 'canary-write-6f1d93';

export function describeWritableProvider(options: {
  name: string;
  setup: () => Promise<WritableFixture> | WritableFixture;
  capabilities: WritableCapabilities;
  /** As for describeProvider: a backend that never answers, where writes, listings and removals must end at the deadline. */
  hangingStore?: HangingStoreSetup;
}): void {
  const { name, capabilities } = options;

  describe(`Provider conformance, writes: ${name}`, () => {
    let fixture: WritableFixture;
    let counter = 0;
    const events: SecretEvent[] = [];
    beforeAll(async () => {
      fixture = await options.setup();
    });
    afterAll(async () => {
      await fixture?.teardown?.();
    });

    const fresh = (): string => `${fixture.prefix}entry${fixture.separator ?? '_'}${++counter}`;

    function resolver(bindings: Record<string, string> = {}) {
      const repository = new MemoryBindingRepository().putStore(fixture.store);
      for (const [account, entry] of Object.entries(bindings)) repository.putBinding({ account, store: fixture.store.name, entry });
      return createSecretResolver({ repository, providers: [fixture.provider], cryptographyKey: [], onEvent: (event) => events.push(event), timeoutMs: 20_000 });
    }

    async function read(entry: string): Promise<string | null> {
      return resolver({ reader: entry }).resolvePassword({ name: 'reader' });
    }

    it('creates an entry with the owner mark, reads it back and lists it as owned, never with its value', async () => {
      const entry = fresh();
      const result = await resolver().writeEntry(fixture.store.name, entry, 'first-value');
      expect(result.created).toBe(true);
      expect(typeof result.version).toBe('string');
      expect(await read(entry)).toBe('first-value');
      const listed = await resolver().listEntries(fixture.store.name, { prefix: fixture.prefix, metadata: true });
      const found = listed.find((info) => info.name === entry);
      expect(found).toMatchObject({ owned: true, owner: 'secretbind' });
      expect(JSON.stringify(listed)).not.toContain('first-value');
    });

    it('updates an owned entry, with a new version', async () => {
      const entry = fresh();
      const first = await resolver().writeEntry(fixture.store.name, entry, 'v1');
      const second = await resolver().writeEntry(fixture.store.name, entry, 'v2');
      expect(second.created).toBe(false);
      // A store without reliable versions (guarded: false) may report the same one twice (LastPass: seconds).
      if (capabilities.guarded) expect(second.version).not.toBe(first.version);
      else expect(typeof second.version).toBe('string');
      expect(await read(entry)).toBe('v2');
    });

    if (capabilities.guarded) {
      it('writes with ifVersion while the version holds, and refuses a stale one with CONFLICT (retryable), changing nothing', async () => {
        const entry = fresh();
        const first = await resolver().writeEntry(fixture.store.name, entry, 'v1');
        const second = await resolver().writeEntry(fixture.store.name, entry, 'v2', { ifVersion: first.version });
        const error = await failure(resolver().writeEntry(fixture.store.name, entry, 'v3', { ifVersion: first.version }));
        expect(error).toMatchObject({ code: 'CONFLICT', retryable: true, store: fixture.store.name });
        expect(await read(entry)).toBe('v2');
        expect((await failure(resolver().writeEntry(fixture.store.name, entry, 'v4', { ifVersion: 'absent' }))).code).toBe('CONFLICT');
        await resolver().writeEntry(fixture.store.name, entry, 'v5', { ifVersion: second.version });
        expect(await read(entry)).toBe('v5');
        const created = await resolver().writeEntry(fixture.store.name, fresh(), 'new', { ifVersion: 'absent' });
        expect(created.created).toBe(true);
      });
    } else {
      it('refuses ifVersion with OPERATION_UNSUPPORTED', async () => {
        const entry = fresh();
        const error = await failure(resolver().writeEntry(fixture.store.name, entry, 'v1', { ifVersion: '1' }));
        expect(error.code).toBe('OPERATION_UNSUPPORTED');
      });
    }

    it('never overwrites or removes an entry without the owner mark (ENTRY_NOT_OWNED), and adopt takes it over', async () => {
      const entry = fresh();
      await fixture.seedForeign(entry, 'theirs');
      const refused = await failure(resolver().writeEntry(fixture.store.name, entry, 'ours'));
      expect(refused.code).toBe('ENTRY_NOT_OWNED');
      expect(refused.message).toMatch(/adopt/);
      expect((await failure(resolver().removeEntry(fixture.store.name, entry))).code).toBe('ENTRY_NOT_OWNED');
      expect(await read(entry)).toBe('theirs');
      const listed = await resolver().listEntries(fixture.store.name, { prefix: fixture.prefix, metadata: true });
      expect(listed.find((info) => info.name === entry)?.owned).toBe(false);
      const adopted = await resolver().writeEntry(fixture.store.name, entry, 'ours', { adopt: true });
      expect(adopted.created).toBe(false);
      expect(await read(entry)).toBe('ours');
      await resolver().writeEntry(fixture.store.name, entry, 'ours again');
      expect(await read(entry)).toBe('ours again');
    });

    it("refuses another owner's entry", async () => {
      const entry = fresh();
      await resolver().writeEntry(fixture.store.name, entry, 'team-a', { owner: 'team-a' });
      expect((await failure(resolver().writeEntry(fixture.store.name, entry, 'team-b', { owner: 'team-b' }))).code).toBe('ENTRY_NOT_OWNED');
      expect(await read(entry)).toBe('team-a');
    });

    it('removes an owned entry; reading or removing it again is ENTRY_NOT_FOUND', async () => {
      const entry = fresh();
      await resolver().writeEntry(fixture.store.name, entry, 'doomed');
      await resolver().removeEntry(fixture.store.name, entry, { force: true });
      expect((await failure(read(entry))).code).toBe('ENTRY_NOT_FOUND');
      expect((await failure(resolver().removeEntry(fixture.store.name, entry, { force: true }))).code).toBe('ENTRY_NOT_FOUND');
    });

    it(`lists past one page (${capabilities.pageSize || 'no'} entries a page)`, async () => {
      const count = (capabilities.pageSize || 10) + 3;
      const written: string[] = [];
      const paged = `${fixture.prefix}paged${fixture.separator ?? '_'}`;
      for (let index = 0; index < count; index++) {
        const entry = `${paged}${String(index).padStart(4, '0')}`;
        written.push(entry);
        await resolver().writeEntry(fixture.store.name, entry, `value-${index}`);
      }
      const listed = (await resolver().listEntries(fixture.store.name, { prefix: paged })).map((info) => info.name).sort();
      expect(listed).toEqual(written.sort());
    });

    it('writes and reads back awkward names: spaces, #, / and non-ASCII where the store allows them', async () => {
      for (const entry of fixture.names) {
        await resolver().writeEntry(fixture.store.name, entry, `value of ${entry}`);
        expect(await read(entry), entry).toBe(`value of ${entry}`);
      }
      const listed = (await resolver().listEntries(fixture.store.name)).map((info) => info.name);
      for (const entry of fixture.names) expect(listed, entry).toContain(entry);
    });

    it("refuses names outside the store's rules with REFERENCE_INVALID naming the rule, before any call", async () => {
      for (const [entry, rule] of fixture.invalidNames) {
        const error = await failure(resolver().writeEntry(fixture.store.name, entry, 'x'));
        expect(error.code, entry).toBe('REFERENCE_INVALID');
        expect(error.message, entry).toContain(rule);
      }
    });

    it(capabilities.objectFields ? 'writes an object value as fields, each readable by #field' : 'writes an object value as JSON text', async () => {
      const entry = fresh();
      await resolver().writeEntry(fixture.store.name, entry, { username: 'svc-sync', password: 'multi-pass' });
      if (capabilities.objectFields) {
        expect(await read(`${entry}#username`)).toBe('svc-sync');
        expect(await read(entry)).toBe('multi-pass');
      } else {
        expect(JSON.parse((await read(entry))!)).toEqual({ username: 'svc-sync', password: 'multi-pass' });
      }
    });

    if (options.hangingStore) {
      it('ends writes, listings and removals against a store that never answers with TIMEOUT at the deadline; close() then leaves nothing', async () => {
        // The provider's library loaded first: a first import blocks the event loop, and with it the deadline's timer.
        await resolver().listEntries(fixture.store.name, { prefix: fixture.prefix });
        const hung = await options.hangingStore!();
        try {
          const before = activeResources();
          const hungResolver = createSecretResolver({ repository: new MemoryBindingRepository().putStore(hung.store), providers: [hung.provider], cryptographyKey: [], timeoutMs: HANG_DEADLINE_MS });
          const started = performance.now();
          const outcome = (work: Promise<unknown>) =>
            failure(work).then((error) => ({ code: error.code, retryable: error.retryable, elapsed: performance.now() - started }));
          const outcomes = await Promise.all([
            outcome(hungResolver.writeEntry(hung.store.name, hung.reference, 'never-stored')),
            outcome(hungResolver.listEntries(hung.store.name)),
            outcome(hungResolver.removeEntry(hung.store.name, hung.reference, { force: true })),
          ]);
          expect(outcomes.map(({ code, retryable }) => ({ code, retryable }))).toEqual(Array(3).fill({ code: 'TIMEOUT', retryable: true }));
          for (const { elapsed } of outcomes) expectEndedAtDeadline(elapsed);
          await hungResolver.close();
          await expectNothingHeld(before);
        } finally {
          await hung.stop();
        }
      });
    }

    it('never lets a written value reach an event, an error or a listing (canary)', async () => {
      const entry = fresh();
      const before = events.length;
      await resolver().writeEntry(fixture.store.name, entry, CANARY);
      const errors = [
        await failure(resolver().writeEntry(fixture.store.name, entry, CANARY, { owner: 'someone-else' })),
        await failure(resolver().writeEntry(fixture.store.name, `${entry}#field`, CANARY)),
        await failure(resolver().writeEntry(fixture.store.name, entry, { password: CANARY, port: 8443 } as unknown as Record<string, string>)),
      ];
      const listed = await resolver().listEntries(fixture.store.name);
      const texts = [
        ...events.slice(before).flatMap((event) => [JSON.stringify(event), formatEvent(event)]),
        ...errors.flatMap((error) => [error.message, String(error.stack), JSON.stringify(error), inspect(error, { depth: 5 })]),
        JSON.stringify(listed),
      ];
      expect(events.slice(before).some((event) => event.kind === 'entry' && event.operation === 'write' && event.outcome === 'ok')).toBe(true);
      for (const text of texts) expect(text).not.toContain(CANARY);
    });
  });
}
