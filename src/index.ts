export { createSecretResolver } from './resolver.js';
export type { SecretResolver, SecretResolverOptions, Milliseconds, ProviderErrorPolicy } from './resolver.js';
export type { BulkOptions, BulkResult } from './bulk.js';
export type { Explanation, CheckOptions, CheckReport, StoreReport, BindingReport } from './inspect.js';
export { wrapAccountLookup } from './wrap.js';
export type { ResolvedAccount } from './wrap.js';
export { MemoryBindingRepository, checkBinding } from './bindings.js';
export type { Account, SecretStore, AccountBinding, BindingRepository, BindingConfig, MaybePromise } from './bindings.js';
export { parseReference, formatReference, referencePath } from './reference.js';
export type { EntryReference } from './reference.js';
export { SecretbindError, isSecretbindError, ERROR_CODES, WithheldError } from './errors.js';
export type { SecretbindErrorCode, SecretbindErrorContext, SecretbindErrorJSON } from './errors.js';
export { formatEvent } from './events.js';
export type { SecretEvent, ResolutionEvent, ProviderEvent, EntryEvent, SyncEvent, ResolutionOutcome, SecretEventListener } from './events.js';
export { encryptLocalPassword, decryptLocalPassword, decryptLocalPasswordBytes, generateFernetKey } from './fernet.js';
export type { FernetKeyInput, FernetDecryptOptions, FernetEncryptOptions, UnixSeconds } from './fernet.js';
export type {
  SecretProvider,
  ResolveContext,
  ProviderValue,
  ProviderSettled,
  ProviderNotice,
  StoreCheckDetails,
  EntryInfo,
  ListOptions,
  EntryValue,
  WriteOptions,
  WriteResult,
  RemoveOptions,
  ProviderWriteOptions,
  ProviderRemoveOptions,
  EntrySettled,
} from './provider.js';
export { DEFAULT_OWNER } from './provider.js';
export { guardWrite } from './entries.js';
export type { ExistingEntry } from './entries.js';
// For provider authors (the built-in providers use these too).
export { validateStoreFields, BUILT_IN_STORE_TYPES, SECRET_STORE_FIELDS } from './store-fields.js';
export { credentialFingerprint, STORE_REF_REFRESH_MS } from './store-refs.js';
export type { ValidateStoreOptions } from './store-fields.js';
export { peerLoader, missingPeer } from './peer.js';
export { abortableDelay, runWithTimeout, untilAborted } from './abort.js';
export { forEachLimit } from './concurrency.js';
export { fileVersion, writeFileAtomic, withFileLock } from './files.js';
export type { AtomicWriteOptions, FileLockOptions } from './files.js';
export { readEachOnce, settle } from './provider.js';
export { jsonSecretEntry, jsonSecretField, jsonSecretText } from './json-value.js';
export { createSecretLog } from './log/memory.js';
export type { SecretLog, SecretLogOptions, SecretLogQuery, SecretLogStats, LoggedEvent } from './log/memory.js';
export { createJsonLinesSink, readJsonLines } from './log/file.js';
export type { JsonLinesSink, JsonLinesSinkOptions, LoggedLine } from './log/file.js';
export { createSyncEngine } from './sync/engine.js';
export { syncOwnerMark } from './sync/ownership.js';
export { StoreSyncState, type StoreSyncStateOptions } from './sync/store-state.js';
export type { SyncEngine, SyncEngineOptions, SyncItem, SyncAction, SyncRunOptions } from './sync/engine.js';
export type { LeaderElector, PassReport, SyncLoopOptions, SyncLoopState } from './sync/daemon.js';
export { createSyncMetrics } from './sync/metrics.js';
export type { SyncMetrics, SyncMetricsOptions } from './sync/metrics.js';
export { serveSyncStatus } from './sync/http.js';
export type { SyncStatusServer, SyncStatusServerOptions } from './sync/http.js';
export { checkDefinitions, DEFAULT_NAME_TEMPLATE } from './sync/definitions.js';
export type { SyncDefinition } from './sync/definitions.js';
export { MemorySyncState, JsonFileSyncState, SYNC_STATUSES } from './sync/state.js';
export type { SyncStateRepository, AssociationRecord, SyncStatus } from './sync/state.js';
export { parseTemplate, TEMPLATE_PLACEHOLDERS } from './sync/template.js';
export type { NameTemplate, TemplatePlaceholder, TemplateValues } from './sync/template.js';
export { migrateAccounts } from './migrate/migrate.js';
export type { MigrateOptions, MigrationItem } from './migrate/migrate.js';
export { FileMigrationJournal, MemoryMigrationJournal } from './migrate/journal.js';
export type { JournalRecord, MigrationJournal, MigrationStep } from './migrate/journal.js';
export type { StaleIfErrorOptions } from './stale.js';
export { rateBudget, RateBudget, setBudgetClock } from './budget.js';
export type { BudgetClock, RateDefaults, RateLimitField } from './budget.js';
