/**
 * The behaviours every provider shares. Each provider's test file calls describeProvider with a fixture over
 * its real backend or stand-in, then adds its own cases. Capabilities are flags, never a switch on the name.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { activeResources, expectEndedAtDeadline, expectNothingHeld, HANG_DEADLINE_MS, type HangingStoreSetup } from './hanging.js';
import {
  createSecretResolver,
  MemoryBindingRepository,
  parseReference,
  SecretbindError,
  type SecretEvent,
  type SecretProvider,
  type SecretStore,
} from 'secretbind';

export interface ProviderFixture {
  provider: SecretProvider;
  /** A working store of the provider's type. */
  store: SecretStore;
  /** An entry that exists, with its value as the default field. */
  known: { reference: string; value: string };
  /** The same or another entry read through an explicit field. */
  knownField: { reference: string; value: string };
  /** References that must fail with ENTRY_NOT_FOUND and FIELD_NOT_FOUND. */
  missingEntry: string;
  missingField: string;
  /** Stores that validateStore must reject with CONFIG_INVALID. */
  badStores: SecretStore[];
  /** An entry whose value is a unique canary string that must never show up outside a return value. */
  canary: { reference: string; value: string; missingFieldReference: string };
  /** Arranges for the next read of the returned reference to hang until aborted (capability `hang`). */
  hang?: () => Promise<string> | string;
  teardown?: () => Promise<void> | void;
}

export interface ProviderCapabilities {
  /** The provider implements resolveMany. */
  bulk: boolean;
  /** The provider implements check. */
  check: boolean;
  /** Reads can hang (network, processes, files); false only for providers that answer synchronously (envvar). */
  hang: boolean;
}

export function describeProvider(options: {
  name: string;
  setup: () => Promise<ProviderFixture> | ProviderFixture;
  capabilities: ProviderCapabilities;
  /**
   * For providers with a network or process backend: one that never answers (a silent TCP server, a stand-in that
   * holds its calls, a fake CLI that sleeps). Reads there must end with TIMEOUT at the deadline, and close() must leave
   * nothing that keeps the process alive.
   */
  hangingStore?: HangingStoreSetup;
}): void {
  const { name, capabilities } = options;

  describe(`Provider conformance: ${name}`, () => {
    let fixture: ProviderFixture;
    beforeAll(async () => {
      fixture = await options.setup();
    });
    afterAll(async () => {
      await fixture?.teardown?.();
    });

    function resolverFor(references: Record<string, string>, extra: { timeoutMs?: number; onEvent?: (event: SecretEvent) => void } = {}) {
      const repository = new MemoryBindingRepository().putStore(fixture.store);
      for (const [account, entry] of Object.entries(references)) repository.putBinding({ account, store: fixture.store.name, entry });
      return createSecretResolver({ repository, providers: [fixture.provider], cryptographyKey: [], ...extra });
    }

    async function failureOf(promise: Promise<unknown>): Promise<SecretbindError> {
      const outcome = await promise.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(SecretbindError);
      return outcome as SecretbindError;
    }

    it('resolves a known entry through the resolver', async () => {
      const resolver = resolverFor({ known: fixture.known.reference, field: fixture.knownField.reference });
      expect(await resolver.resolvePassword({ name: 'known' })).toBe(fixture.known.value);
      expect(await resolver.resolvePassword({ name: 'field' })).toBe(fixture.knownField.value);
    });

    it('fails a missing entry with ENTRY_NOT_FOUND naming the account and store', async () => {
      const resolver = resolverFor({ missing: fixture.missingEntry });
      const error = await failureOf(resolver.resolvePassword({ name: 'missing' }));
      expect(error.code).toBe('ENTRY_NOT_FOUND');
      expect(error).toMatchObject({ account: 'missing', store: fixture.store.name, storeType: fixture.store.type, retryable: false });
    });

    it('fails a missing field with FIELD_NOT_FOUND', async () => {
      const resolver = resolverFor({ field: fixture.missingField });
      expect((await failureOf(resolver.resolvePassword({ name: 'field' }))).code).toBe('FIELD_NOT_FOUND');
    });

    if (capabilities.hang) {
      it('ends a hanging read with TIMEOUT within 100 ms of the deadline', async () => {
        const reference = await fixture.hang!();
        const resolver = resolverFor({ hung: reference }, { timeoutMs: 300 });
        const started = performance.now();
        const error = await failureOf(resolver.resolvePassword({ name: 'hung' }));
        const elapsed = performance.now() - started;
        expect(error.code).toBe('TIMEOUT');
        expect(error.retryable).toBe(true);
        expect(elapsed).toBeGreaterThanOrEqual(295);
        expect(elapsed).toBeLessThan(400);
      });
    } else {
      it('answers without waiting, so there is no read to abort', async () => {
        const resolver = resolverFor({ known: fixture.known.reference }, { timeoutMs: 1 });
        expect(await resolver.resolvePassword({ name: 'known' })).toBe(fixture.known.value);
      });
    }

    it(capabilities.bulk ? 'gives the same results from resolveMany as from single reads' : 'has no resolveMany, so bulk reads go one by one', async () => {
      expect(typeof fixture.provider.resolveMany === 'function').toBe(capabilities.bulk);
      const references = [fixture.known.reference, fixture.knownField.reference, fixture.missingEntry, fixture.missingField];
      const resolver = resolverFor(Object.fromEntries(references.map((reference, index) => [`account-${index}`, reference])));
      const singles = await Promise.all(
        references.map((_, index) =>
          resolver.resolvePassword({ name: `account-${index}` }).then(
            (value) => ({ value }),
            (error: SecretbindError) => ({ code: error.code }),
          ),
        ),
      );
      const bulk = await resolver.resolvePasswords(references.map((_, index) => ({ name: `account-${index}` })));
      const fromBulk = references.map((_, index) => {
        const result = bulk.get(`account-${index}`)!;
        return result.ok ? { value: result.value } : { code: result.error.code };
      });
      expect(fromBulk).toEqual(singles);
      expect(singles.map((single) => ('code' in single ? single.code : 'value'))).toEqual(['value', 'value', 'ENTRY_NOT_FOUND', 'FIELD_NOT_FOUND']);
    });

    it('rejects bad stores with CONFIG_INVALID', () => {
      expect(fixture.badStores.length).toBeGreaterThan(0);
      for (const store of fixture.badStores) {
        let error: unknown;
        try {
          fixture.provider.validateStore!(store);
        } catch (thrown) {
          error = thrown;
        }
        expect(error, JSON.stringify(store)).toBeInstanceOf(SecretbindError);
        expect((error as SecretbindError).code).toBe('CONFIG_INVALID');
      }
      expect(() => fixture.provider.validateStore!(fixture.store)).not.toThrow();
    });

    if (capabilities.check) {
      it('reports on the store in check without any value', async () => {
        const resolver = resolverFor({ known: fixture.known.reference, canary: fixture.canary.reference });
        const report = await resolver.check({ resolveEntries: true });
        expect(report.stores[0]).toMatchObject({ store: fixture.store.name, ok: true });
        expect(report.ok).toBe(true);
        expect(JSON.stringify(report)).not.toContain(fixture.canary.value);
      });
    }

    it('never lets the canary value reach an event, error, stack, toJSON or the console', async () => {
      const events: SecretEvent[] = [];
      const consoleCalls = (['log', 'info', 'warn', 'error', 'debug'] as const).map((method) => vi.spyOn(console, method));
      const resolver = resolverFor(
        { canary: fixture.canary.reference, broken: fixture.canary.missingFieldReference, missing: fixture.missingEntry },
        { onEvent: (event) => events.push(event) },
      );
      try {
        expect(await resolver.resolvePassword({ name: 'canary' })).toBe(fixture.canary.value);
        const bulk = await resolver.resolvePasswords([{ name: 'canary' }, { name: 'broken' }, { name: 'missing' }]);
        expect(bulk.get('canary')).toEqual({ ok: true, value: fixture.canary.value, source: 'store' });
        const errors = [await failureOf(resolver.resolvePassword({ name: 'broken' })), ...[...bulk.values()].flatMap((result) => (result.ok ? [] : [result.error]))];
        const explanation = await resolver.explain('canary');
        const leaks = [
          ...events.map((event) => JSON.stringify(event)),
          ...errors.flatMap((error) => [error.message, String(error.stack), JSON.stringify(error), inspect(error, { depth: 5 })]),
          JSON.stringify(explanation),
          ...consoleCalls.flatMap((spy) => spy.mock.calls.map((call) => inspect(call))),
        ];
        expect(errors.length).toBeGreaterThanOrEqual(2);
        expect(events.length).toBeGreaterThanOrEqual(4);
        for (const text of leaks) expect(text).not.toContain(fixture.canary.value);
        expect(consoleCalls.every((spy) => spy.mock.calls.length === 0)).toBe(true);
        parseReference(fixture.canary.reference); // the reference itself is configuration and parses
      } finally {
        for (const spy of consoleCalls) spy.mockRestore();
      }
    });

    // Last: the `hang` case above slows its stand-in for a while, and this check's warm-up read must not meet that.
    if (options.hangingStore) {
      it('ends reads against a store that never answers with TIMEOUT at the deadline; close() then leaves no socket, timer or process', async () => {
        // The provider's library loaded first: a first import blocks the event loop, and with it the deadline's timer.
        await resolverFor({ known: fixture.known.reference }).resolvePassword({ name: 'known' });
        const hung = await options.hangingStore!();
        try {
          const before = activeResources();
          const repository = new MemoryBindingRepository().putStore(hung.store);
          for (const account of ['single', 'bulk-a', 'bulk-b']) repository.putBinding({ account, store: hung.store.name, entry: hung.reference });
          const resolver = createSecretResolver({ repository, providers: [hung.provider], cryptographyKey: [], timeoutMs: HANG_DEADLINE_MS });
          const ended: number[] = [];
          const started = performance.now();
          const timed = <T>(work: Promise<T>) => work.finally(() => void ended.push(performance.now() - started));
          const [single, bulk] = await Promise.all([timed(failureOf(resolver.resolvePassword({ name: 'single' }))), timed(resolver.resolvePasswords([{ name: 'bulk-a' }, { name: 'bulk-b' }]))]);
          expect(single).toMatchObject({ code: 'TIMEOUT', retryable: true });
          expect([...bulk.values()].map((result) => (result.ok ? 'value' : result.error.code))).toEqual(['TIMEOUT', 'TIMEOUT']);
          for (const elapsed of ended) expectEndedAtDeadline(elapsed);
          await resolver.close();
          await expectNothingHeld(before);
        } finally {
          await hung.stop();
        }
      });
    }
  });
}
