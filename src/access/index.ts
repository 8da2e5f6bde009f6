// Store access, shared by the resolver, sync and migration: a store's provider and validated record, `_ref` fields
// filled, provider calls under the deadline with identical reads shared, and list/write/remove with their events.
export { StoreAccess, entryPointOf, isPromise, valueOf, type StoreAccessOptions } from './access.js';
export { asProviderError, type CallListener, type ReadyRead } from './call.js';
export { listEntries, removeEntry, writeEntry } from './entries.js';
export { STORE_REF_REFRESH_MS } from './refs.js';
