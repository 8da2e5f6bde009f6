import { timingSafeEqual } from 'node:crypto';
import { valueOf, writeEntry } from '../access/index.js';
import { isSecretbindError, parseReference, SecretbindError } from '../core/index.js';
import { DEFAULT_OWNER } from '../stores/index.js';
import { after, type MigrationContext, type Work } from './common.js';
import type { JournalRecord, MigrationStep } from './journal.js';

/**
 * The steps of one batch, each journaled before it counts: begin, write (skipped when the entry already holds the
 * password), verify by reading back, bind, clear the local copy, done. An account that fails a step stops there.
 * @internal
 */
export async function migrateBatch(context: MigrationContext, batch: Work[]): Promise<void> {
  const live = (): Work[] => batch.filter((one) => one.item.outcome !== 'failed');
  await context.note(live().filter((one) => one.last === undefined).map((one) => ({ work: one, step: 'begin' as const })));
  await write(context, live().filter((one) => !after(one.last, 'written')));
  await verify(context, live().filter((one) => !after(one.last, 'verified')));
  // Bind, then clear: the local copy goes only once the account resolves from the store.
  for (const step of ['bound', 'cleared'] as const) {
    const done: Work[] = [];
    for (const one of live().filter((candidate) => !after(candidate.last, step))) {
      try {
        if (step === 'bound') await context.repository.saveBinding!({ account: one.account.name, store: context.store.name, entry: one.item.entry });
        else if (one.clearLocal) await context.repository.saveAccountPassword!(one.account.name, null);
        done.push(one);
      } catch (error) {
        await fail(context, one, error);
      }
    }
    await context.note(done.map((one) => ({ work: one, step })));
  }
  await context.note(live().map((one) => ({ work: one, step: 'done' as const })));
  for (const one of live()) if (one.clearLocal) one.item.reason = 'moved into the store; local copy cleared';
}

/** Writes all at once (a file store saves them together), unless the entry already holds this password. */
async function write(context: MigrationContext, toWrite: readonly Work[]): Promise<void> {
  const { store } = context;
  const written: Array<{ work: Work; step: MigrationStep; extra?: Partial<JournalRecord> }> = [];
  await Promise.all(
    toWrite.map(async (one) => {
      try {
        if (!one.absent && (await readHmac(context, one)) === one.hmac) {
          written.push({ work: one, step: 'written' });
          return;
        }
        if (one.password === undefined) throw new SecretbindError('CONFLICT', `The local password of ${one.account.name} is gone and ${one.item.entry} does not hold the journaled one: roll it back or restore the password.`, { account: one.account.name, store: store.name });
        const value = one.field === undefined ? one.password : { [one.field]: one.password };
        // A new entry must stay new: someone creating it meanwhile is a CONFLICT, never overwritten.
        const result = await writeEntry(context.access, store.name, one.name, value, { owner: DEFAULT_OWNER, ...(one.field !== undefined ? { merge: true } : {}), ...(one.absent && one.field === undefined ? { ifVersion: 'absent' } : {}) });
        one.item.written = true;
        written.push({ work: one, step: 'written', extra: { version: result.version } });
      } catch (error) {
        await fail(context, one, error);
      }
    }),
  );
  await context.note(written);
}

/** Reads each entry back through the provider and compares HMACs in constant time. */
async function verify(context: MigrationContext, toVerify: readonly Work[]): Promise<void> {
  const verified: Work[] = [];
  await Promise.all(
    toVerify.map(async (one) => {
      try {
        const read = await readHmac(context, one);
        if (read === undefined || !timingSafeEqual(Buffer.from(read), Buffer.from(one.hmac))) throw new SecretbindError('CONFLICT', `Reading ${one.item.entry} back from ${context.store.name} gave a different value than was written: the account stays on its local password.`, { account: one.account.name, store: context.store.name });
        verified.push(one);
      } catch (error) {
        await fail(context, one, error);
      }
    }),
  );
  await context.note(verified.map((one) => ({ work: one, step: 'verified' as const })));
}

async function fail(context: MigrationContext, one: Work, error: unknown): Promise<void> {
  const failure = isSecretbindError(error) ? error : new SecretbindError('BACKEND_UNAVAILABLE', 'A store call failed unexpectedly.');
  Object.assign(one.item, { outcome: 'failed', reason: failure.message, code: failure.code });
  await context.note([{ work: one, step: 'failed', extra: { code: failure.code } }]);
}

/** The HMAC of what the entry holds now; undefined when it does not exist. */
async function readHmac(context: MigrationContext, one: Work): Promise<string | undefined> {
  const { store, provider } = context;
  const ref = parseReference(one.item.entry);
  try {
    const answer = await context.access.withDeadline(store, one.account.name, (ctx) => provider.resolve(store, ref, ctx));
    return context.hmacOf(valueOf(answer).value);
  } catch (error) {
    if (isSecretbindError(error) && (error.code === 'ENTRY_NOT_FOUND' || error.code === 'FIELD_NOT_FOUND')) return undefined;
    throw error;
  }
}
