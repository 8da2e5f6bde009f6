import { asProviderError, entryPointOf } from '../access/index.js';
import { SecretbindError, type SecretbindErrorCode } from '../core/index.js';
import type { Account, AccountBinding, SecretStore, StoreCheckDetails } from '../stores/index.js';
import { resolveBulk } from './bulk.js';
import { asResolutionError, type Resolution } from './lookup.js';

/** Why an account resolves the way it does. Holds names and flags, never a value. */
export interface Explanation {
  account: string;
  /** The source a resolution would use now: the store, the local password, or none (it would fail). */
  source: 'store' | 'local' | 'error';
  /** One sentence for people. */
  reason: string;
  binding: { found: false } | { found: true; store: string; entry: string; enabled: boolean };
  store?: { name: string; found: boolean; type?: string; enabled?: boolean };
  provider?: { type: string; registered: boolean; entryPoint?: string };
  reference?: { ok: true; segments: readonly string[]; field?: string } | { ok: false; code: SecretbindErrorCode; message: string };
  local: { hasPassword: boolean; keyConfigured: boolean };
  /** The error a resolution would throw, when `source` is `error`. */
  code?: SecretbindErrorCode;
}

export interface CheckOptions {
  /**
   * Also read every enabled binding's entry (values are discarded) so that a missing entry or field shows up
   * before a sync run. Costs one read per distinct entry. Default: false.
   */
  resolveEntries?: boolean;
}

export interface StoreReport {
  store: string;
  type: string;
  enabled: boolean;
  ok: boolean;
  code?: SecretbindErrorCode;
  message?: string;
  /** What the provider's `check` reported (format, reachability, token TTL...), never a value. */
  details?: StoreCheckDetails;
}

export interface BindingReport {
  account: string;
  store: string;
  storeType?: string;
  entry: string;
  /** `ok`, `disabled` (binding or store disabled: the local password is used) or `error`. */
  status: 'ok' | 'disabled' | 'error';
  code?: SecretbindErrorCode;
  message?: string;
}

export interface CheckReport {
  /** True when no store and no binding reported an error. */
  ok: boolean;
  stores: StoreReport[];
  bindings: BindingReport[];
}

/** @internal */
export async function explainAccount(resolution: Resolution, account: Account): Promise<Explanation> {
  const local = { hasPassword: typeof account.password === 'string' && account.password.length > 0, keyConfigured: resolution.local.hasKey };
  const localSource: Explanation['source'] = local.hasPassword && !local.keyConfigured ? 'error' : 'local';
  const localReason = local.hasPassword ? (local.keyConfigured ? 'its local password is used' : 'its local password would be used, but no Fernet key is configured') : 'it has no local password (resolves to null)';
  const binding = await resolution.access.repository.findBinding(account.name);
  if (!binding) {
    return { account: account.name, source: localSource, reason: `No binding: ${localReason}.`, binding: { found: false }, local, ...keyCode(local) };
  }
  const explanation: Explanation = {
    account: account.name,
    source: 'store',
    reason: '',
    binding: { found: true, store: binding.store, entry: binding.entry, enabled: binding.enabled !== false },
    local,
  };
  const store = await resolution.access.repository.findStore(binding.store);
  explanation.store = store ? { name: store.name, found: true, type: store.type, enabled: store.enabled !== false } : { name: binding.store, found: false };
  if (store) {
    const entryPoint = entryPointOf(store.type)?.module;
    explanation.provider = { type: store.type, registered: resolution.access.providers.has(store.type), ...(entryPoint ? { entryPoint } : {}) };
    try {
      const ref = resolution.access.reference(binding.entry, store, account.name);
      explanation.reference = { ok: true, segments: ref.segments, ...(ref.field === undefined ? {} : { field: ref.field }) };
    } catch (error) {
      const failure = error as SecretbindError;
      explanation.reference = { ok: false, code: failure.code, message: failure.message };
    }
  }
  if (binding.enabled === false) return { ...explanation, source: localSource, reason: `The binding is disabled: ${localReason}.`, ...keyCode(local) };
  if (!store) return { ...explanation, source: 'error', code: 'STORE_NOT_FOUND', reason: `Bound to store ${JSON.stringify(binding.store)}, which does not exist.` };
  if (store.enabled === false) return { ...explanation, source: localSource, reason: `Store ${JSON.stringify(store.name)} is disabled: ${localReason}.`, ...keyCode(local) };
  try {
    // Rule 2 as a lookup would meet it (provider, store fields, reference), without filling `_ref` fields.
    resolution.access.providerOf(store, account.name);
    resolution.access.reference(binding.entry, store, account.name);
  } catch (error) {
    const failure = asResolutionError(error, account);
    return { ...explanation, source: 'error', code: failure.code, reason: failure.message };
  }
  return { ...explanation, reason: `Bound to entry ${JSON.stringify(binding.entry)} of ${store.type} store ${JSON.stringify(store.name)}: the store is asked on every lookup and the local password is ignored.` };
}

function keyCode(local: Explanation['local']): Pick<Explanation, 'code'> {
  return local.hasPassword && !local.keyConfigured ? { code: 'LOCAL_KEY_MISSING' } : {};
}

/** @internal */
export async function checkBindings(resolution: Resolution, options: CheckOptions = {}, concurrency = 8): Promise<CheckReport> {
  const { repository } = resolution.access;
  if (typeof repository.listStores !== 'function' || typeof repository.listBindings !== 'function') {
    throw new SecretbindError('CONFIG_INVALID', 'check() needs a repository with listStores() and listBindings().');
  }
  const [stores, bindings] = await Promise.all([repository.listStores(), repository.listBindings()]);
  const storeReports = await Promise.all(stores.map((store) => checkStore(resolution, store)));
  const storeByName = new Map(stores.map((store) => [store.name, store]));
  const failedStores = new Map(storeReports.filter((report) => !report.ok).map((report) => [report.store, report]));

  const bindingReports: BindingReport[] = bindings.map((binding) => checkBinding(resolution, binding, storeByName.get(binding.store), failedStores.get(binding.store)));
  if (options.resolveEntries) {
    const toRead = bindingReports.filter((report) => report.status === 'ok').map((report) => ({ name: report.account }));
    const results = await resolveBulk(resolution, toRead, { concurrency });
    for (const report of bindingReports) {
      const result = results.get(report.account);
      if (result && !result.ok) Object.assign(report, { status: 'error', code: result.error.code, message: result.error.message });
    }
  }
  const ok = storeReports.every((report) => report.ok) && bindingReports.every((report) => report.status !== 'error');
  return { ok, stores: storeReports, bindings: bindingReports };
}

async function checkStore(resolution: Resolution, store: SecretStore): Promise<StoreReport> {
  const report: StoreReport = { store: store.name, type: store.type, enabled: store.enabled !== false, ok: true };
  const provider = resolution.access.providers.get(store.type);
  try {
    if (!provider) {
      const entry = entryPointOf(store.type);
      throw new SecretbindError('PROVIDER_NOT_REGISTERED', `No provider is registered for store type "${store.type}"${entry ? `: import { ${entry.factory} } from '${entry.module}'` : ''}.`);
    }
    provider.validateStore?.(store);
    if (provider.check && report.enabled) {
      const ready = await resolution.access.fillStore(store);
      report.details = await resolution.access.withDeadline(ready, undefined, (ctx) => provider.check!(ready, ctx));
    }
  } catch (error) {
    const failure = asProviderError(error, store, undefined);
    return { ...report, ok: false, code: failure.code, message: failure.message };
  }
  return report;
}

function checkBinding(resolution: Resolution, binding: AccountBinding, store: SecretStore | undefined, storeFailure: StoreReport | undefined): BindingReport {
  const report: BindingReport = { account: binding.account, store: binding.store, entry: binding.entry, status: 'ok' };
  if (store) report.storeType = store.type;
  const fail = (code: SecretbindErrorCode, message: string): BindingReport => ({ ...report, status: 'error', code, message });
  if (!store) return fail('STORE_NOT_FOUND', `Store ${JSON.stringify(binding.store)} does not exist.`);
  try {
    resolution.access.reference(binding.entry, store, binding.account);
  } catch (error) {
    return fail((error as SecretbindError).code, (error as SecretbindError).message);
  }
  if (binding.enabled === false || store.enabled === false) return { ...report, status: 'disabled' };
  if (storeFailure?.code) return fail(storeFailure.code, `Store ${JSON.stringify(store.name)} failed its check: ${storeFailure.message ?? ''}`.trim());
  return report;
}
