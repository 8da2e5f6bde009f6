import { asProviderError, valueOf } from '../access/index.js';
import { forEachLimit } from '../core/index.js';
import { SecretbindError } from '../core/index.js';
import { emitTo } from '../core/index.js';
import type { EntryReference } from '../core/index.js';
import type { Account, ProviderSettled, SecretProvider, SecretStore } from '../stores/index.js';
import { asResolutionError, event, fallsBack, planAccount, type Plan, type Resolution } from './lookup.js';

export interface BulkOptions {
  /** Provider calls (and repository lookups) running at once, for providers without `resolveMany`. Default: the resolver's `concurrency`. */
  concurrency?: number;
}

/** One account's outcome in `resolvePasswords`. `value` is null for an account with neither binding nor local password. */
export type BulkResult = { ok: true; value: string | null; source: 'store' | 'local' | 'stale' } | { ok: false; error: SecretbindError };

type StorePlan = Extract<Plan, { kind: 'store' }>;

/** The accounts of one store, and the distinct references they need. */
interface StoreGroup {
  store: SecretStore;
  provider: SecretProvider;
  refs: Map<string, StorePlan>;
  accounts: Array<{ account: Account; plan: StorePlan }>;
}

/**
 * Resolves many accounts: plans each, groups the bound ones by store, reads each distinct reference once
 * (`resolveMany` where the provider has it, single reads with bounded concurrency otherwise), then settles
 * every account on its own, fallback included.
 * @internal
 */
export async function resolveBulk(resolution: Resolution, accounts: Iterable<Account>, options: Required<BulkOptions>): Promise<Map<string, BulkResult>> {
  const started = performance.now();
  const unique = new Map<string, Account>();
  const settled = new Map<string, BulkResult>();
  // Keyed by the name as text, so an account without a string name gets its own error instead of failing the call.
  const malformed = new Map<string, BulkResult>();
  for (const account of accounts) {
    const name = (account as Account | null | undefined)?.name;
    if (typeof name !== 'string') {
      const key = String(name);
      if (!unique.has(key)) malformed.set(key, { ok: false, error: new SecretbindError('CONFIG_INVALID', `resolvePasswords got an account whose name is ${name === undefined ? 'missing' : `a ${typeof name}, not a string`}; it was skipped.`) });
      continue;
    }
    if (!unique.has(name)) unique.set(name, account);
    malformed.delete(name);
  }
  const groups = new Map<string, StoreGroup>();

  await forEachLimit([...unique.values()], options.concurrency, async (account) => {
    let plan: Plan;
    try {
      plan = await planAccount(resolution.access, account);
    } catch (thrown) {
      const error = asResolutionError(thrown, account);
      emitTo(resolution.access.onEvent, event(account, undefined, 'error', started, { code: error.code, bulk: true }, error));
      settled.set(account.name, { ok: false, error });
      return;
    }
    if (plan.kind === 'local') {
      settled.set(account.name, settleLocal(resolution, account, plan, started, { reason: plan.reason }));
      return;
    }
    let group = groups.get(plan.store.name);
    if (!group) groups.set(plan.store.name, (group = { store: plan.store, provider: plan.provider, refs: new Map(), accounts: [] }));
    if (!group.refs.has(plan.ref.raw)) group.refs.set(plan.ref.raw, plan);
    group.accounts.push({ account, plan });
  });

  await Promise.all(
    [...groups.values()].map(async (group) => {
      const answers = await readGroup(resolution, group, options.concurrency);
      for (const { account, plan } of group.accounts) {
        const answer = answers.get(plan.ref.raw) ?? { ok: false, error: noAnswer(group.store, plan.ref) };
        settled.set(account.name, settleStore(resolution, account, plan, answer, started));
      }
    }),
  );

  // Keep the caller's order; malformed accounts come last.
  const results = new Map<string, BulkResult>();
  for (const name of unique.keys()) results.set(name, settled.get(name) as BulkResult);
  for (const [key, result] of malformed) results.set(key, result);
  return results;
}

async function readGroup(resolution: Resolution, group: StoreGroup, concurrency: number): Promise<ReadonlyMap<string, ProviderSettled>> {
  const plans = [...group.refs.values()];
  if (group.provider.resolveMany) {
    try {
      return normalised(await resolution.access.resolveEntries(group.provider, group.store, plans.map((plan) => plan.ref)), group.store);
    } catch (error) {
      // The whole call failed (credentials, reachability): every reference of the store shares the failure.
      return new Map(plans.map((plan) => [plan.ref.raw, { ok: false, error: error as SecretbindError }]));
    }
  }
  const answers = new Map<string, ProviderSettled>();
  await forEachLimit(plans, concurrency, async (plan) => {
    try {
      answers.set(plan.ref.raw, { ok: true, ...valueOf(await resolution.access.readOnce(plan, undefined)) });
    } catch (error) {
      answers.set(plan.ref.raw, { ok: false, error: error as SecretbindError });
    }
  });
  return answers;
}

/**
 * A third-party provider's bulk answer made safe: a settled error that is not a SecretbindError is wrapped (never
 * echoed), and an answer that is not `{ ok, value | error }` counts as no answer.
 */
function normalised(answers: ReadonlyMap<string, ProviderSettled>, store: SecretStore): ReadonlyMap<string, ProviderSettled> {
  if (!(answers instanceof Map)) throw new SecretbindError('BACKEND_UNAVAILABLE', `The ${store.type} provider's resolveMany did not return a Map.`, { store: store.name, storeType: store.type });
  const safe = new Map<string, ProviderSettled>();
  for (const [raw, answer] of answers as Map<string, unknown>) {
    const settledAnswer = answer as { ok?: unknown; value?: unknown; error?: unknown } | null;
    if (settledAnswer?.ok === true && typeof settledAnswer.value === 'string') safe.set(raw, answer as ProviderSettled);
    else if (settledAnswer?.ok === false) safe.set(raw, { ok: false, error: asProviderError(settledAnswer.error, store, undefined) });
  }
  return safe;
}

function settleStore(resolution: Resolution, account: Account, plan: StorePlan, answer: ProviderSettled, started: number): BulkResult {
  if (answer.ok) {
    resolution.stale?.remember(plan.store.name, plan.ref.raw, answer.value);
    if (resolution.access.onEvent) emitTo(resolution.access.onEvent, event(account, plan, 'store', started, answer.cache ? { cache: answer.cache, bulk: true } : { bulk: true }));
    return { ok: true, value: answer.value, source: 'store' };
  }
  // One read serves several accounts (and may have joined a single lookup's flight): name this account.
  const error = answer.error.forAccount(account.name).withContext({ store: plan.store.name, storeType: plan.store.type });
  const stale = resolution.stale?.recall(plan.store.name, plan.ref.raw, error);
  if (stale) {
    emitTo(resolution.access.onEvent, event(account, plan, 'stale', started, { code: error.code, ageMs: stale.ageMs, bulk: true }));
    return { ok: true, value: stale.value, source: 'stale' };
  }
  if (fallsBack(resolution.policy, error, account)) {
    const local = settleLocal(resolution, account, plan, started, { code: error.code, fallback: true, reason: 'provider failed' });
    if (local.ok) return local;
  }
  emitTo(resolution.access.onEvent, event(account, plan, 'error', started, { code: error.code, bulk: true }));
  return { ok: false, error };
}

function settleLocal(resolution: Resolution, account: Account, plan: Plan, started: number, extra: { reason: string; code?: SecretbindError['code']; fallback?: boolean }): BulkResult {
  try {
    const value = resolution.local.decrypt(account);
    emitTo(resolution.access.onEvent, event(account, plan, 'local', started, { ...extra, bulk: true }));
    return { ok: true, value, source: 'local' };
  } catch (thrown) {
    const error = thrown as SecretbindError;
    // A failed fallback reports the provider's failure (the caller's settleStore does that).
    if (!extra.fallback) emitTo(resolution.access.onEvent, event(account, plan, 'error', started, { code: error.code, bulk: true }));
    return { ok: false, error };
  }
}

function noAnswer(store: SecretStore, ref: EntryReference): SecretbindError {
  return new SecretbindError('BACKEND_UNAVAILABLE', `The ${store.type} provider gave no answer for reference ${JSON.stringify(ref.raw)} in a bulk read.`, {
    store: store.name,
    storeType: store.type,
  });
}
