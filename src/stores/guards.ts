import { SecretbindError } from '../core/index.js';

/** What a provider knows of an entry before it writes or removes it. */
export interface ExistingEntry {
  /** How messages name the entry, e.g. `Vault secret apps/db`. */
  what: string;
  exists: boolean;
  /** The owner its mark names, or undefined when it carries none. */
  owner: string | undefined;
  /** Its version, compared with `ifVersion`. */
  version: string | undefined;
  /** How messages name the mark, e.g. `a managed-by tag`. */
  mark: string;
  storeType: string;
  /**
   * Deleted but recoverable (an AWS recovery window, Key Vault's soft delete): absent to readers, so
   * `ifVersion: 'absent'` holds, but the name is still its owner's.
   */
  recoverable?: boolean;
}

/**
 * The rules every writable store applies before a write or remove, in this order: `ifVersion: 'absent'` needs a new
 * entry; an entry that exists must carry this owner's mark unless `adopt` (`ENTRY_NOT_OWNED`); `ifVersion` must match
 * the entry's version (`CONFLICT`). For provider authors.
 *
 * @example
 * ```ts
 * guardWrite({ what: `Secret ${name}`, exists: true, owner: tags['managed-by'], version, mark: 'a managed-by tag', storeType: 'aws_secrets' }, options)
 * ```
 */
export function guardWrite(entry: ExistingEntry, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }): void {
  const context = { storeType: entry.storeType };
  if (options.ifVersion === 'absent' && !entry.recoverable) {
    if (entry.exists) throw new SecretbindError('CONFLICT', `${entry.what} exists already (ifVersion "absent"): read it and decide again.`, context);
    return;
  }
  if (!entry.exists) {
    if (options.ifVersion !== undefined) throw new SecretbindError('CONFLICT', `${entry.what} no longer exists (expected version ${options.ifVersion}).`, context);
    return;
  }
  if (entry.owner !== options.owner && !options.adopt) {
    throw new SecretbindError(
      'ENTRY_NOT_OWNED',
      `${entry.what} ${entry.owner === undefined ? `has no ${entry.mark}` : `belongs to owner ${JSON.stringify(entry.owner)}`}; secretbind leaves it alone. Pass adopt to take it over.`,
      context,
    );
  }
  if (options.ifVersion !== undefined && options.ifVersion !== 'absent' && options.ifVersion !== entry.version) {
    throw new SecretbindError('CONFLICT', `${entry.what} is at version ${entry.version ?? 'unknown'}, not ${options.ifVersion}: read it again.`, context);
  }
}
