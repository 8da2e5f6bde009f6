import { timingSafeEqual } from 'node:crypto';
import { valueOf } from '../access/index.js';
import { encryptLocalPassword, isSecretbindError, parseReference, SecretbindError } from '../core/index.js';
import { entryBase, type MigrationContext, type MigrationItem, type Work } from './common.js';
import type { JournalRecord } from './journal.js';

/**
 * Puts local passwords back from the store, verified, and removes the bindings the journal says migration made.
 * @internal
 */
export async function rollback(context: MigrationContext): Promise<MigrationItem[]> {
  const { repository, options } = context;
  if (typeof repository.saveAccountPassword !== 'function' || typeof repository.removeBinding !== 'function') {
    throw new SecretbindError('OPERATION_UNSUPPORTED', 'Rollback needs a repository with saveAccountPassword and removeBinding.');
  }
  const items: MigrationItem[] = [];
  for (const record of context.last.values()) {
    if (record.step === 'rolled-back' || (options.only && !options.only.includes(record.account))) continue;
    const item: MigrationItem = { account: record.account, store: record.store, entry: record.entry, action: 'rollback', outcome: options.dryRun ? 'planned' : 'done', reason: 'local password restored from the store; binding removed', step: record.step };
    items.push(item);
    const one: Work = { item, name: entryBase(record.entry), field: parseReference(record.entry).field, absent: false, account: { name: record.account }, hmac: record.hmac!, last: record.step, clearLocal: false };
    if (!context.records.some((earlier) => earlier.account === record.account && earlier.step === 'bound')) {
      item.reason = 'never bound: the local password was never touched';
      if (!options.dryRun) await context.note([{ work: one, step: 'rolled-back' }]);
      continue;
    }
    if (options.dryRun) continue;
    try {
      await restore(context, record);
      await context.note([{ work: one, step: 'rolled-back' }]);
    } catch (error) {
      const failure = isSecretbindError(error) ? error : new SecretbindError('BACKEND_UNAVAILABLE', 'Rollback failed unexpectedly.');
      Object.assign(item, { outcome: 'failed', reason: failure.message, code: failure.code });
    }
  }
  return items;
}

/** One account's local password from its entry, re-encrypted and checked before it is saved; its binding removed. */
async function restore(context: MigrationContext, record: JournalRecord): Promise<void> {
  const { store, provider, repository } = context;
  const ref = parseReference(record.entry);
  const answer = valueOf(await context.access.withDeadline(store, record.account, (ctx) => provider.resolve(store, ref, ctx))).value;
  if (!timingSafeEqual(Buffer.from(context.hmacOf(answer)), Buffer.from(record.hmac!))) {
    throw new SecretbindError('CONFLICT', `${record.entry} in ${store.name} no longer holds the password migration wrote: restore ${record.account} by hand.`, { account: record.account, store: store.name });
  }
  const token = encryptLocalPassword(answer, context.keyInput);
  if (!timingSafeEqual(Buffer.from(context.hmacOf(context.local.decrypt({ name: record.account, password: token })!)), Buffer.from(record.hmac!))) {
    throw new SecretbindError('CONFLICT', `The re-encrypted password of ${record.account} does not decrypt to the stored one; nothing was changed.`, { account: record.account });
  }
  await repository.saveAccountPassword!(record.account, token);
  await repository.removeBinding!(record.account);
}
