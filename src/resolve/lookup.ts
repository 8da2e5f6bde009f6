import { isPromise, type ReadyRead, type StoreAccess } from '../access/index.js';
import { isSecretbindError, safeCause, SecretbindError } from '../core/index.js';
import { emitTo, type ResolutionEvent } from '../core/index.js';
import type { Account, AccountBinding, SecretStore } from '../stores/index.js';
import type { LocalPasswords } from './local.js';
import type { StaleCache } from './stale.js';

/**
 * One lookup, top to bottom: find the binding, plan (local or which store entry), read under the deadline, settle
 * (remember the value), or on failure: one fresh login, a stale value, the local password, or the error; then the
 * one event. Bulk lookups and explain share the planning and the event.
 * @internal
 */

/** What to do when a bound store fails: throw (default) or answer with the account's local password. */
export type ProviderErrorPolicy = 'throw' | 'use-local' | ((error: SecretbindError, account: Account) => 'throw' | 'use-local');

/** How an account will be resolved. */
export type Plan = { kind: 'local'; reason: string; binding?: AccountBinding; store?: SecretStore } | ({ kind: 'store'; binding: AccountBinding } & ReadyRead);

/** What a lookup works with. */
export interface Resolution {
  access: StoreAccess;
  local: LocalPasswords;
  policy: ProviderErrorPolicy;
  /** The last good values, when the resolver serves them while a store fails (`staleIfError`). */
  stale: StaleCache | undefined;
}

/** The account's password; see `SecretResolver.resolvePassword`. */
export function resolvePassword(resolution: Resolution, account: Account): Promise<string | null> {
  if (!account || typeof account.name !== 'string') return Promise.reject(new SecretbindError('CONFIG_INVALID', 'resolvePassword needs an account with a name.'));
  // Written with explicit promises rather than async/await: this is the hot path, and each await is a hop.
  const started = resolution.access.onEvent ? performance.now() : 0;
  let plan: Plan | Promise<Plan>;
  try {
    plan = planAccount(resolution.access, account);
  } catch (error) {
    return Promise.reject(failed(resolution, account, undefined, error, started));
  }
  if (isPromise(plan)) {
    return plan.then(
      (ready) => resolvePlanned(resolution, account, ready, started),
      (error: unknown) => Promise.reject(failed(resolution, account, undefined, error, started)),
    );
  }
  return resolvePlanned(resolution, account, plan, started);
}

/**
 * 1. The binding and the plan. Throws for rule 2 (missing store, unregistered provider) and bad references. Stays
 * synchronous while the repository answers synchronously: a promise hop per step is measurable here.
 */
export function planAccount(access: StoreAccess, account: Account): Plan | Promise<Plan> {
  const binding = access.repository.findBinding(account.name);
  return isPromise(binding) ? binding.then((found) => planBinding(access, account, found)) : planBinding(access, account, binding);
}

function planBinding(access: StoreAccess, account: Account, binding: AccountBinding | undefined): Plan | Promise<Plan> {
  if (!binding) return { kind: 'local', reason: 'no binding' };
  if (binding.enabled === false) return { kind: 'local', reason: 'binding disabled', binding };
  const store = access.repository.findStore(binding.store);
  return isPromise(store) ? store.then((found) => planStore(access, account, binding, found)) : planStore(access, account, binding, store);
}

function planStore(access: StoreAccess, account: Account, binding: AccountBinding, store: SecretStore | undefined): Plan | Promise<Plan> {
  if (!store) {
    throw new SecretbindError('STORE_NOT_FOUND', `Account ${JSON.stringify(account.name)} is bound to store ${JSON.stringify(binding.store)}, which does not exist: add the store or fix the binding.`, {
      account: account.name,
      store: binding.store,
    });
  }
  if (store.enabled === false) return { kind: 'local', reason: 'store disabled', binding, store };
  return access.prepare({ kind: 'store' as const, binding }, store, binding.entry, account.name);
}

/** 2. The read, and what its outcome settles into. */
function resolvePlanned(resolution: Resolution, account: Account, plan: Plan, started: number, reauthenticated = false): Promise<string | null> {
  const { access, stale } = resolution;
  if (plan.kind === 'local') {
    try {
      const value = resolution.local.decrypt(account);
      if (access.onEvent) emitTo(access.onEvent, event(account, plan, 'local', started, { reason: plan.reason }));
      return Promise.resolve(value);
    } catch (error) {
      return Promise.reject(failed(resolution, account, plan, error, started));
    }
  }
  return new Promise((resolve, reject) =>
    access.reads.read(plan, account.name, {
      value(answer) {
        const value = typeof answer === 'string' ? answer : answer.value;
        stale?.remember(plan.store.name, plan.ref.raw, value);
        if (access.onEvent) emitTo(access.onEvent, event(account, plan, 'store', started, typeof answer !== 'string' && answer.cache ? { cache: answer.cache } : {}));
        resolve(value);
      },
      error(failure) {
        // A joined read's error names the first caller's account: address it to this one.
        const error = failure.forAccount(account.name);
        if (stale) {
          // Rejected credentials get one fresh login and one more try before anything is served stale.
          const reauthenticate = plan.provider.reauthenticate;
          if (error.code === 'AUTH_FAILED' && reauthenticate && !reauthenticated) {
            Promise.resolve()
              .then(() => reauthenticate.call(plan.provider, plan.store))
              .then(
                () => resolvePlanned(resolution, account, plan, started, true),
                () => Promise.reject(failed(resolution, account, plan, error, started)),
              )
              .then(resolve, reject);
            return;
          }
          const kept = stale.recall(plan.store.name, plan.ref.raw, error);
          if (kept) {
            emitTo(access.onEvent, event(account, plan, 'stale', started, { code: error.code, ageMs: kept.ageMs }));
            return resolve(kept.value);
          }
        }
        const settled = fallBack(resolution, account, plan, error, started);
        if ('error' in settled) reject(settled.error);
        else resolve(settled.value);
      },
    }),
  );
}

/** 3. A failed read answered with the local password, where the policy says so; otherwise the error to throw. */
function fallBack(resolution: Resolution, account: Account, plan: Plan, error: SecretbindError, started: number): { value: string | null } | { error: SecretbindError } {
  if (!fallsBack(resolution.policy, error, account)) return { error: failed(resolution, account, plan, error, started) };
  let value: string | null;
  try {
    value = resolution.local.decrypt(account);
  } catch {
    // The local copy cannot stand in: the provider's failure is the one to report.
    return { error: failed(resolution, account, plan, error, started) };
  }
  emitTo(resolution.access.onEvent, event(account, plan, 'local', started, { code: error.code, fallback: true, reason: 'provider failed' }));
  return { value };
}

/** Whether a provider failure for this account is answered with the local password. */
export function fallsBack(policy: ProviderErrorPolicy, error: SecretbindError, account: Account): boolean {
  if (typeof policy !== 'function') return policy === 'use-local';
  try {
    return policy(error, account) === 'use-local';
  } catch {
    // A policy that throws decides nothing: the provider's failure stands, as with 'throw'.
    return false;
  }
}

/** Emits the error event and returns the error to throw. */
function failed(resolution: Resolution, account: Account, plan: Plan | undefined, thrown: unknown, started: number): SecretbindError {
  const error = asResolutionError(thrown, account);
  if (resolution.access.onEvent) emitTo(resolution.access.onEvent, event(account, plan, 'error', started, { code: error.code }, error));
  return error;
}

/** A failure as a SecretbindError about this account; only the repository can throw anything else here. */
export function asResolutionError(thrown: unknown, account: Account): SecretbindError {
  if (isSecretbindError(thrown)) return thrown.withContext({ account: account.name });
  const name = thrown instanceof Error ? thrown.name : typeof thrown;
  return new SecretbindError('BACKEND_UNAVAILABLE', `The binding repository failed (${name}) while looking up account ${JSON.stringify(account.name)}; see error.cause.`, {
    account: account.name,
    cause: safeCause(thrown),
  });
}

/** Builds the one event a resolution emits. */
export function event(
  account: Account,
  plan: Plan | undefined,
  outcome: ResolutionEvent['outcome'],
  started: number,
  extra: Partial<Pick<ResolutionEvent, 'cache' | 'code' | 'fallback' | 'reason' | 'bulk' | 'ageMs'>>,
  error?: SecretbindError,
): ResolutionEvent {
  const resolution: ResolutionEvent = { source: 'Secrets', kind: 'resolution', account: account.name, outcome, durationMs: performance.now() - started, ...extra };
  const store = plan?.store?.name ?? error?.store;
  const storeType = plan?.store?.type ?? error?.storeType;
  if (store !== undefined) resolution.store = store;
  if (storeType !== undefined) resolution.storeType = storeType;
  if (plan?.kind === 'store') resolution.reference = plan.ref.raw;
  else if (plan?.binding) resolution.reference = plan.binding.entry;
  return resolution;
}
