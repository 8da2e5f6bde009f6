import { removeEntry, writeEntry, type StoreAccess } from '../access/index.js';
import { abortableDelay, isSecretbindError, type SecretbindErrorCode } from '../core/index.js';
import type { EntryInfo } from '../stores/index.js';
import type { CheckedDefinition } from './definitions.js';
import type { StateKeys } from './ownership.js';
import { INTERNAL_REASON, itemAbout, type Desired, type SyncItem } from './plan.js';
import type { AssociationRecord, SyncStateRepository, SyncStatus } from './state.js';

/**
 * Applying a plan: each item's write or removal with retries and backoff, and the association it leaves in the
 * state (a quiet pass over unchanged entries rewrites nothing).
 * @internal
 */

/** What applying needs. */
export interface ApplyContext {
  access: StoreAccess;
  state: SyncStateRepository;
  keys: StateKeys;
  /** The deployment's name: the mark earlier versions wrote. */
  deployment: string;
  now: () => number;
  retry: <T>(call: () => Promise<T>) => Promise<T>;
}

/** One planned item as it applies to an entry. */
export interface Applied {
  item: SyncItem;
  desired: Desired | undefined;
  existing: EntryInfo | undefined;
  record: AssociationRecord | undefined;
  /** The entry is under the earlier version's mark, and this definition's state names it. */
  legacy: boolean;
}

const STATUS_BY_CODE: Partial<Record<SecretbindErrorCode, SyncStatus>> = {
  RATE_LIMITED: 'EXTERNAL_SERVICE_ERROR',
  BACKEND_UNAVAILABLE: 'EXTERNAL_SERVICE_ERROR',
  TIMEOUT: 'EXTERNAL_SERVICE_ERROR',
  CONFLICT: 'EXTERNAL_SERVICE_ERROR',
};

export function statusOf(code: SecretbindErrorCode | undefined): SyncStatus {
  if (code === undefined) return 'INTERNAL_ERROR';
  return STATUS_BY_CODE[code] ?? 'CLIENT_SIDE_ERROR';
}

/** Carries out one item: the write or removal, and the association it leaves. */
export async function carryOut(context: ApplyContext, definition: CheckedDefinition, mark: string, { item, desired, existing, record, legacy }: Applied): Promise<SyncItem> {
  // The item's time, as text only where a record gets it (most items of a quiet pass change nothing).
  const at = context.now();
  let iso: string | undefined;
  const now = (): string => (iso ??= new Date(at).toISOString());
  const base = itemAbout({ name: item.sync, destination: item.destination }, item.entry, item.source, item.sourceEntry);
  const keep = async (status: SyncStatus, extra: Partial<AssociationRecord> = {}): Promise<void> => {
    const changed = record?.status !== status || extra.errorCode !== record?.errorCode;
    // A pass over unchanged entries leaves the state as it was: no put, so a file or database state is not rewritten.
    if (record && !changed && holds(record, base) && holds(record, extra)) return;
    await context.state.put({ ...record, ...base, ...extra, status, changedAt: changed ? now() : (record?.changedAt ?? now()) });
  };
  try {
    switch (item.action) {
      case 'unchanged':
        await keep('SYNCED', { destinationVersion: existing?.version ?? record?.destinationVersion, valueHmac: desired!.hmac, hmacKeyId: context.keys.id, sourceVersion: desired!.sourceVersion, errorCode: undefined });
        return { ...item, outcome: 'done', status: 'SYNCED' };
      case 'create':
      case 'update':
        return await write(context, definition, mark, { item, desired, existing, record, legacy }, keep, now);
      case 'delete':
        await context.retry(() => removeEntry(context.access, definition.destination, item.entry, { owner: legacy ? context.deployment : mark }));
        await context.state.remove(item.sync, item.entry);
        return { ...item, outcome: 'done', status: 'UNSYNCED' };
      case 'not-owned':
        await keep('CLIENT_SIDE_ERROR', { errorCode: 'ENTRY_NOT_OWNED' });
        return { ...item, outcome: 'failed', status: 'CLIENT_SIDE_ERROR' };
      case 'conflict':
        await keep('CLIENT_SIDE_ERROR', { errorCode: 'CONFLICT' });
        return { ...item, outcome: 'failed', status: 'CLIENT_SIDE_ERROR' };
      default: {
        const status = statusOf(item.code);
        if (record || item.sourceEntry) await keep(status, item.code ? { errorCode: item.code } : {});
        return { ...item, outcome: 'failed', status };
      }
    }
  } catch (thrown) {
    if (!isSecretbindError(thrown)) {
      // Our own failure (the state store, a bug): reported, and the next pass converges from what it finds.
      await keep('INTERNAL_ERROR', { errorCode: undefined }).catch(() => {});
      return { ...item, outcome: 'failed', status: 'INTERNAL_ERROR', reason: `${item.reason}; failed: ${INTERNAL_REASON}` };
    }
    const status = statusOf(thrown.code);
    await keep(status, { errorCode: thrown.code });
    return { ...item, outcome: 'failed', status, code: thrown.code, reason: `${item.reason}; failed: ${thrown.message}` };
  }
}

type Keep = (status: SyncStatus, extra?: Partial<AssociationRecord>) => Promise<void>;

/** A create or update: held back within min_update_interval, otherwise written under the definition's mark. */
async function write(context: ApplyContext, definition: CheckedDefinition, mark: string, { item, desired, record, legacy }: Applied, keep: Keep, now: () => string): Promise<SyncItem> {
  const heldUntil = item.action === 'update' && definition.minUpdateIntervalMs > 0 && record?.writtenAt ? Date.parse(record.writtenAt) + definition.minUpdateIntervalMs : 0;
  if (heldUntil > context.now()) {
    // Several changes within min_update_interval become one write of the latest value after it.
    await keep('PENDING', { errorCode: undefined });
    return { ...item, outcome: 'planned', status: 'PENDING', reason: `${item.reason}; held back until ${new Date(heldUntil).toISOString()} (min_update_interval), then written once with the latest value` };
  }
  const result = await context.retry(() =>
    writeEntry(context.access, definition.destination, item.entry, desired!.value!, {
      owner: mark,
      // An entry under the mark an earlier version wrote (the deployment's name alone), that this
      // definition's state names, is taken over: its mark becomes the definition's.
      ...(definition.adopt || legacy ? { adopt: true } : {}),
      // A create must stay a create. An update carries no version: a file store's version is the whole
      // file's, which the pass's own earlier writes move; each provider guards its read-modify-write itself.
      ...(item.action === 'create' ? { ifVersion: 'absent' } : {}),
    }),
  );
  await keep('SYNCED', { destinationVersion: result.version, valueHmac: desired!.hmac, hmacKeyId: context.keys.id, sourceVersion: desired!.sourceVersion, writtenAt: now(), errorCode: undefined });
  return { ...item, outcome: 'done', status: 'SYNCED' };
}

/** Retries retryable failures (never CONFLICT: that needs a re-read, which the next pass does). */
export function retrier(retries: number, retryBaseMs: number): <T>(call: () => Promise<T>) => Promise<T> {
  return async (call) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!isSecretbindError(error) || !error.retryable || error.code === 'CONFLICT' || attempt >= retries) throw error;
        const delay = error.retryAfterMs ?? retryBaseMs * 2 ** attempt * (0.5 + Math.random());
        await abortableDelay(delay, new AbortController().signal);
      }
    }
  };
}

/** Whether a record already holds each of these fields (an absent field and an undefined one are the same). */
function holds(record: AssociationRecord, fields: Partial<AssociationRecord>): boolean {
  for (const key in fields) if (record[key as keyof AssociationRecord] !== fields[key as keyof AssociationRecord]) return false;
  return true;
}
