/** Whose a destination entry is (owner marks), and the key the state's HMACs are made with. */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { SecretbindError } from '../core/index.js';
import type { EntryInfo, EntryValue } from '../stores/index.js';

/** The HMAC key of values, from the operator's key (or a random one), and an id that tells which key made an HMAC. */
export interface StateKeys {
  key: Uint8Array;
  id: string;
}

/** An HMAC of a value (objects with sorted keys), keyed by the state's key. */
export function hmacOf(key: Uint8Array, value: EntryValue): string {
  const canonical = typeof value === 'string' ? `s:${value}` : `o:${JSON.stringify(Object.keys(value).sort().map((name) => [name, value[name]]))}`;
  return createHmac('sha256', key).update(canonical).digest('base64url');
}

export function stateKeys(input: Uint8Array | string | undefined): StateKeys {
  if (input !== undefined && !(input instanceof Uint8Array) && typeof input !== 'string') throw new SecretbindError('CONFIG_INVALID', 'stateKey must be bytes or text.');
  if (input !== undefined && input.length === 0) throw new SecretbindError('CONFIG_INVALID', 'stateKey is empty.');
  const key = createHmac('sha256', input ?? randomBytes(32)).update('secretbind sync state v2').digest();
  return { key, id: createHmac('sha256', key).update('secretbind sync state key id').digest('base64url').slice(0, 16) };
}

/**
 * The owner mark of one definition's entries: `<deployment>_<definition>` in the characters every store's mark takes
 * (Kubernetes and GCP labels: lowercase letters, digits, `-`, `_`, at most 63), with a hash of the name when it had
 * to be changed or cut to fit, so two definitions never share a mark.
 *
 * @example
 * ```ts
 * syncOwnerMark('secretbind', 'apps') // 'secretbind_apps'
 * ```
 */
export function syncOwnerMark(deployment: string, definition: string): string {
  const slug = definition.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const room = 63 - deployment.length - 1;
  if (slug === definition && slug.length > 0 && slug.length <= room) return `${deployment}_${slug}`;
  const hash = createHash('sha256').update(definition).digest('hex').slice(0, 8);
  const kept = slug.slice(0, Math.max(0, room - hash.length - 1)).replace(/-+$/, '');
  return `${deployment}_${kept ? `${kept}-` : ''}${hash}`;
}

/** This definition's owner mark, and the mark earlier versions wrote for every definition (the deployment's name). */
export interface Marks {
  mine: string;
  legacy: string;
}

/**
 * How an existing destination entry stands to a definition: its own (its mark, or a listing that cannot tell, where
 * the write's own guard decides), its own under the earlier mark (`legacy`, only where its state names it), or not.
 */
export function standing(existing: EntryInfo, marks: Marks, recorded: boolean): 'mine' | 'legacy' | 'foreign' {
  if (existing.owned === false) return 'foreign';
  if (existing.owner === undefined || existing.owner === marks.mine) return 'mine';
  if (existing.owner === marks.legacy && recorded) return 'legacy';
  return 'foreign';
}
