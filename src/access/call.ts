import type { SecretStore } from '../stores/index.js';
import { DeadlineNode, type DeadlineQueue } from './deadline.js';
import { isSecretbindError, safeCause, SecretbindError } from '../core/index.js';
import type { ProviderEvent } from '../core/index.js';
import type { ProviderNotice, ProviderValue, ResolveContext, SecretProvider } from '../stores/index.js';
import type { EntryReference } from '../core/index.js';

/**
 * One provider call under the store-access deadline, the context the provider receives, and the sharing of
 * identical reads in flight.
 * @internal
 */

/** What a call needs from the resolver. */
export interface CallHost {
  readonly deadlines: DeadlineQueue;
  readonly timeoutMs: number;
  readonly credentialVariables?: ReadonlySet<string>;
  emit(event: ProviderEvent): void;
}

/** Hears how a provider call ended. */
export interface CallListener<T> {
  value(answer: T): void;
  error(error: SecretbindError): void;
}

/**
 * One provider call: its own deadline node and the context the provider gets. The AbortController is made
 * only if the provider asks for the signal; most cached reads never do.
 */
export class ProviderCall<T> extends DeadlineNode implements ResolveContext {
  #controller: AbortController | undefined;
  #abortReason: unknown;
  #settled = false;
  #others: CallListener<T>[] | undefined;
  readonly #engine: CallHost;
  readonly #store: SecretStore;
  readonly #first: CallListener<T>;
  readonly #done: (() => void) | undefined;
  readonly account: string | undefined;

  constructor(engine: CallHost, store: SecretStore, account: string | undefined, first: CallListener<T>, done?: () => void) {
    super();
    this.#engine = engine;
    this.#store = store;
    this.account = account;
    this.#first = first;
    this.#done = done;
  }

  get credentialVariables(): ReadonlySet<string> | undefined {
    return this.#engine.credentialVariables;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  emit(notice: ProviderNotice): void {
    const event: ProviderEvent = { source: 'Secrets', kind: 'provider', storeType: this.#store.type, store: this.#store.name, level: notice.level ?? 'info', message: notice.message };
    if (this.account !== undefined) event.account = this.account;
    if (notice.detail) event.detail = notice.detail;
    this.#engine.emit(event);
  }

  join(listener: CallListener<T>): void {
    (this.#others ??= []).push(listener);
  }

  start(run: (ctx: ResolveContext) => Promise<T>): void {
    this.#engine.deadlines.add(this, this.#engine.timeoutMs);
    let result: Promise<T>;
    try {
      result = run(this);
    } catch (error) {
      this.#fail(error);
      return;
    }
    Promise.resolve(result).then(this.#succeed, this.#fail);
  }

  expire(): void {
    const store = this.#store;
    const timeout = new SecretbindError(
      'TIMEOUT',
      `Store ${JSON.stringify(store.name)} (${store.type}) did not answer within ${this.#engine.timeoutMs} ms; raise timeoutMs if the store is slow but healthy.`,
      { account: this.account, store: store.name, storeType: store.type },
    );
    this.#abortReason = timeout;
    this.#controller?.abort(timeout);
    this.#finish(undefined, timeout);
  }

  readonly #succeed = (value: T): void => this.#finish(value, undefined);
  readonly #fail = (error: unknown): void => this.#finish(undefined, asProviderError(error, this.#store, this.account));

  #finish(value: T | undefined, error: SecretbindError | undefined): void {
    if (this.#settled) return; // a provider that ignored the abort may still answer after the deadline
    this.#settled = true;
    this.#engine.deadlines.cancel(this);
    this.#done?.();
    for (const listener of this.#others ? [this.#first, ...this.#others] : [this.#first]) {
      try {
        if (error) listener.error(error);
        else listener.value(value as T);
      } catch (thrown) {
        // Every joined caller must still hear the outcome. Throwing on would crash the host from a timer or
        // surface as an unhandled rejection, so the failure is reported through the event hook instead.
        const name = thrown instanceof Error ? thrown.name : typeof thrown;
        this.emit({ level: 'warn', message: 'a lookup listener threw; other lookups were still answered', detail: { error: name } });
      }
    }
  }
}

/** Any failure as a SecretbindError with the store and account filled in; unknown errors are never echoed. */
export function asProviderError(error: unknown, store: SecretStore, account: string | undefined): SecretbindError {
  if (isSecretbindError(error)) return error.withContext({ account, store: store.name, storeType: store.type });
  const name = error instanceof Error ? error.name : typeof error;
  return new SecretbindError('BACKEND_UNAVAILABLE', `The ${store.type} provider failed unexpectedly (${name}) for store ${JSON.stringify(store.name)}; see error.cause.`, {
    account,
    store: store.name,
    storeType: store.type,
    cause: safeCause(error),
  });
}

/** A read that is ready to go: a usable store record, its provider and the parsed reference. */
export interface ReadyRead {
  store: SecretStore;
  provider: SecretProvider;
  ref: EntryReference;
}

/**
 * Reads in flight, by store name and then reference: an identical read joins the one in flight (and its deadline)
 * instead of asking the store again. Two map lookups are cheaper than building a joint key.
 */
export class SharedReads {
  readonly #host: CallHost;
  readonly #inflight = new Map<string, Map<string, ProviderCall<ProviderValue>>>();

  constructor(host: CallHost) {
    this.#host = host;
  }

  /** One provider read bounded by the deadline; the listener hears the outcome as a value or a SecretbindError. */
  read(ready: ReadyRead, account: string | undefined, listener: CallListener<ProviderValue>): void {
    const { provider, store, ref } = ready;
    let pending = this.#inflight.get(store.name);
    const joined = pending?.get(ref.raw);
    if (joined) {
      joined.join(listener);
      return;
    }
    if (!pending) this.#inflight.set(store.name, (pending = new Map()));
    const forStore = pending;
    const call = new ProviderCall(this.#host, store, account, listener, () => {
      forStore.delete(ref.raw);
      if (forStore.size === 0) this.#inflight.delete(store.name);
    });
    forStore.set(ref.raw, call);
    call.start((ctx) => provider.resolve(store, ref, ctx));
  }
}
