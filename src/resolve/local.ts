import { SecretbindError } from '../core/index.js';
import { decryptTextWithKeys, parseFernetKeys, type FernetKeyInput } from '../core/index.js';
import type { Account } from '../stores/index.js';

/** Accounts' local passwords: Fernet tokens, decrypted with the configured keys (newest first). @internal */
export class LocalPasswords {
  readonly #keys: ReturnType<typeof parseFernetKeys> | undefined;

  /** Malformed keys are CONFIG_INVALID here; no key at all only fails when a local password is needed. */
  constructor(keys: FernetKeyInput | undefined) {
    if (keys !== undefined && keys !== '') this.#keys = parseFernetKeys(keys);
  }

  get hasKey(): boolean {
    return this.#keys !== undefined && this.#keys.length > 0;
  }

  /** The account's local password, decrypted; null when it has none. */
  decrypt(account: Account): string | null {
    const token = account.password;
    if (token === undefined || token === null || token === '') return null;
    if (!this.#keys || this.#keys.length === 0) {
      throw new SecretbindError('LOCAL_KEY_MISSING', `Account ${JSON.stringify(account.name)} uses its local password, but no Fernet key is configured: set CRYPTOGRAPHY_KEY or pass cryptographyKey.`, {
        account: account.name,
      });
    }
    try {
      return decryptTextWithKeys(token, this.#keys);
    } catch (error) {
      throw (error as SecretbindError).withContext({ account: account.name });
    }
  }
}
