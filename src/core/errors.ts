/**
 * The stable error codes of secretbind. Code that handles errors should branch on these, never on messages.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'REFERENCE_INVALID',
  'STORE_NOT_FOUND',
  'STORE_IN_USE',
  'PROVIDER_NOT_REGISTERED',
  'DEPENDENCY_MISSING',
  'ENTRY_NOT_FOUND',
  'FIELD_NOT_FOUND',
  'ENTRY_AMBIGUOUS',
  'AUTH_FAILED',
  'PERMISSION_DENIED',
  'RATE_LIMITED',
  'BACKEND_UNAVAILABLE',
  'TIMEOUT',
  'LOCAL_DECRYPT_FAILED',
  'LOCAL_KEY_MISSING',
  'ENTRY_NOT_OWNED',
  'CONFLICT',
  'OPERATION_UNSUPPORTED',
  'DELETE_GUARD',
] as const;

/** One of {@link ERROR_CODES}. */
export type SecretbindErrorCode = (typeof ERROR_CODES)[number];

// CONFLICT is retryable after a re-read: the version moved, so read again, decide again, write again.
const RETRYABLE_BY_DEFAULT: ReadonlySet<SecretbindErrorCode> = new Set(['RATE_LIMITED', 'BACKEND_UNAVAILABLE', 'TIMEOUT', 'CONFLICT']);

/** Where an error happened, as far as it is known. Never holds a secret value. */
export interface SecretbindErrorContext {
  account?: string | undefined;
  store?: string | undefined;
  storeType?: string | undefined;
  /** Whether trying again later may succeed. Default: true for RATE_LIMITED, BACKEND_UNAVAILABLE, TIMEOUT and CONFLICT. */
  retryable?: boolean | undefined;
  /** Milliseconds the backend asked us to wait before retrying (RATE_LIMITED), where it said so. */
  retryAfterMs?: number | undefined;
  /**
   * The underlying error. Absent when nothing failed underneath (an entry that simply does not exist).
   * Providers never pass an error whose message could hold a secret value (a JSON parse error of a secret, say);
   * errors of unknown origin arrive as a {@link WithheldError}.
   */
  cause?: unknown;
}

/** The plain-object form of a {@link SecretbindError}, for structured logs. Holds no secret value. */
export interface SecretbindErrorJSON {
  name: 'SecretbindError';
  code: SecretbindErrorCode;
  message: string;
  account?: string;
  store?: string;
  storeType?: string;
  retryable: boolean;
  retryAfterMs?: number;
  /** The cause's class name and code only: its message is not ours to vouch for. */
  cause?: { name: string; code?: string };
}

/**
 * The one error class secretbind throws. Branch on `code`; the message says what to do.
 *
 * @example
 * ```ts
 * try { await resolver.resolvePassword(account) }
 * catch (error) {
 *   if (error instanceof SecretbindError && error.retryable) scheduleRetry(error.account)
 *   else throw error
 * }
 * ```
 */
export class SecretbindError extends Error {
  override readonly name = 'SecretbindError';
  readonly code: SecretbindErrorCode;
  readonly account: string | undefined;
  readonly store: string | undefined;
  readonly storeType: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: SecretbindErrorCode, message: string, context: SecretbindErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.account = context.account;
    this.store = context.store;
    this.storeType = context.storeType;
    this.retryable = context.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
    this.retryAfterMs = context.retryAfterMs;
  }

  /** A copy that knows which account, store and store type it concerns; fields already set are kept. */
  withContext(context: Pick<SecretbindErrorContext, 'account' | 'store' | 'storeType'>): SecretbindError {
    if (
      (this.account ?? context.account) === this.account &&
      (this.store ?? context.store) === this.store &&
      (this.storeType ?? context.storeType) === this.storeType
    ) {
      return this;
    }
    const copy = new SecretbindError(this.code, this.message, {
      account: this.account ?? context.account,
      store: this.store ?? context.store,
      storeType: this.storeType ?? context.storeType,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      cause: this.cause,
    });
    if (this.stack) copy.stack = this.stack;
    return copy;
  }

  /**
   * A copy addressed to `account`, replacing any account already set: an error shared by several callers (one
   * read, joined) must name each caller's own account, not the first caller's.
   */
  forAccount(account: string | undefined): SecretbindError {
    if (account === this.account) return this;
    const copy = new SecretbindError(this.code, this.message, {
      account,
      store: this.store,
      storeType: this.storeType,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      cause: this.cause,
    });
    if (this.stack) copy.stack = this.stack;
    return copy;
  }

  toJSON(): SecretbindErrorJSON {
    const json: SecretbindErrorJSON = { name: 'SecretbindError', code: this.code, message: this.message, retryable: this.retryable };
    if (this.account !== undefined) json.account = this.account;
    if (this.store !== undefined) json.store = this.store;
    if (this.storeType !== undefined) json.storeType = this.storeType;
    if (this.retryAfterMs !== undefined) json.retryAfterMs = this.retryAfterMs;
    if (this.cause !== undefined) json.cause = describeCause(this.cause);
    return json;
  }
}

/**
 * True when `error` is a {@link SecretbindError}, optionally with the given code. Works across module copies
 * (an ESM and a CommonJS copy of secretbind in one process), where `instanceof` would not.
 */
export function isSecretbindError(error: unknown, code?: SecretbindErrorCode): error is SecretbindError {
  if (!(error instanceof Error) || error.name !== 'SecretbindError') return false;
  const errorCode = (error as { code?: unknown }).code;
  return typeof errorCode === 'string' && (code === undefined || errorCode === code);
}

function describeCause(cause: unknown): { name: string; code?: string } {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? { name: cause.name, code } : { name: cause.name };
  }
  return { name: typeof cause };
}

/**
 * An error of unknown origin, carried as a cause without its message: the message of an error we did not make may
 * quote a secret (a JSON parse error of a secret does), and loggers print causes in full. The original is on
 * `original`, which is not enumerable, so inspection and JSON leave it out while a debugger can still reach it.
 */
export class WithheldError extends Error {
  declare readonly original: unknown;

  constructor(original: unknown) {
    const name = original instanceof Error ? original.name : typeof original;
    super(`${name} (its message is withheld because it may quote a secret; see .original)`);
    this.name = name;
    Object.defineProperty(this, 'original', { value: original, enumerable: false });
    const code = (original as { code?: unknown } | null)?.code;
    if (typeof code === 'string') Object.defineProperty(this, 'code', { value: code, enumerable: true });
    // Keep where it happened, not what it said: the frames of the original stack without its message lines.
    const stack = original instanceof Error ? original.stack : undefined;
    const frames = stack?.indexOf('\n    at ') ?? -1;
    this.stack = `${this.name}: ${this.message}${frames >= 0 ? stack!.slice(frames) : ''}`;
  }
}

/** The cause to attach for a failure: our own errors as they are, anything else withheld. */
export function safeCause(error: unknown): unknown {
  return isSecretbindError(error) ? error : new WithheldError(error);
}
