import type { Account } from '../stores/index.js';
import type { SecretResolver } from './resolver.js';

/**
 * An account as plugins see it after wrapping: `password` holds the resolved plaintext (or null).
 * A key-remapping mapped type, not `Omit`: `Omit` over a type with an index signature (as `Account` has) would drop
 * every named property.
 */
export type ResolvedAccount<A extends Account> = { [K in keyof A as K extends 'password' ? never : K]: A[K] } & { password: string | null };

/**
 * Wraps an application's account lookup so plugins receive the resolved password without changing their code:
 * bound accounts get their store's current value, the others their decrypted local password.
 *
 * The result is a copy (the application's record is never changed). Its `password` is **not enumerable**:
 * reading, destructuring and `in` work, while `JSON.stringify`, `console.log`, test snapshots and object spread
 * leave it out, so the plaintext does not drift into logs. A lookup that finds no account returns it unchanged.
 *
 * @example
 * ```ts
 * const getAccount = wrapAccountLookup((name) => db.accounts.findByName(name), resolver)
 * const { password } = await getAccount('checkmk-prod')
 * ```
 */
export function wrapAccountLookup<R extends Account | null | undefined>(
  getAccount: (name: string) => R | Promise<R>,
  resolver: Pick<SecretResolver, 'resolvePassword'>,
): (name: string) => Promise<R extends Account ? ResolvedAccount<R> : R> {
  type Result = R extends Account ? ResolvedAccount<R> : R;
  return async (name) => {
    const account = await getAccount(name);
    if (account === null || account === undefined) return account as Result;
    const password = await resolver.resolvePassword(account);
    const copy = { ...account } as Record<string, unknown>;
    delete copy.password;
    Object.defineProperty(copy, 'password', { value: password, enumerable: false, writable: true, configurable: true });
    return copy as Result;
  };
}
