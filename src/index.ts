// The public surface of `secretbind`: re-exports only, from each room's door. test/api.test.ts pins it.

// Resolution
export { createSecretResolver, wrapAccountLookup } from './resolve/index.js';
export type { SecretResolver, SecretResolverOptions, Milliseconds, ProviderErrorPolicy, BulkOptions, BulkResult, Explanation, CheckOptions, CheckReport, StoreReport, BindingReport, ResolvedAccount, StaleIfErrorOptions } from './resolve/index.js';

// Records, the repository and the shared floor
export { MemoryBindingRepository, checkBinding } from './stores/index.js';
export type { Account, SecretStore, AccountBinding, BindingRepository, BindingConfig, MaybePromise } from './stores/index.js';
export { parseReference, formatReference, referencePath, SecretbindError, isSecretbindError, ERROR_CODES, WithheldError, formatEvent } from './core/index.js';
export { encryptLocalPassword, decryptLocalPassword, decryptLocalPasswordBytes, generateFernetKey } from './core/index.js';
export type { EntryReference, SecretbindErrorCode, SecretbindErrorContext, SecretbindErrorJSON } from './core/index.js';
export type { SecretEvent, ResolutionEvent, ProviderEvent, EntryEvent, SyncEvent, ResolutionOutcome, SecretEventListener } from './core/index.js';
export type { FernetKeyInput, FernetDecryptOptions, FernetEncryptOptions, UnixSeconds } from './core/index.js';

// The provider contract, and what provider authors share (the built-in providers use these too)
export type { SecretProvider, ResolveContext, ProviderValue, ProviderSettled, ProviderNotice, StoreCheckDetails, EntryInfo, ListOptions, EntryValue, WriteOptions, WriteResult, RemoveOptions, ProviderWriteOptions, ProviderRemoveOptions, EntrySettled } from './stores/index.js';
export { DEFAULT_OWNER, guardWrite, validateStoreFields, BUILT_IN_STORE_TYPES, SECRET_STORE_FIELDS, credentialFingerprint, peerLoader, missingPeer } from './stores/index.js';
export type { ExistingEntry, ValidateStoreOptions, AtomicWriteOptions, FileLockOptions, BudgetClock, RateDefaults, RateLimitField } from './stores/index.js';
export { fileVersion, writeFileAtomic, withFileLock, readEachOnce, settle, jsonSecretEntry, jsonSecretField, jsonSecretText, rateBudget, RateBudget, setBudgetClock } from './stores/index.js';
export { abortableDelay, runWithTimeout, untilAborted, forEachLimit } from './core/index.js';
export { STORE_REF_REFRESH_MS } from './access/index.js';

// The secret log
export { createSecretLog, createJsonLinesSink, readJsonLines } from './log/index.js';
export type { SecretLog, SecretLogOptions, SecretLogQuery, SecretLogStats, LoggedEvent, JsonLinesSink, JsonLinesSinkOptions, LoggedLine } from './log/index.js';

// Sync
export { createSyncEngine, syncOwnerMark, StoreSyncState, createSyncMetrics, serveSyncStatus, checkDefinitions, DEFAULT_NAME_TEMPLATE, MemorySyncState, JsonFileSyncState, SYNC_STATUSES, parseTemplate, TEMPLATE_PLACEHOLDERS } from './sync/index.js';
export type { StoreSyncStateOptions, SyncEngine, SyncEngineOptions, SyncItem, SyncAction, SyncRunOptions, LeaderElector, PassReport, SyncLoopOptions, SyncLoopState, SyncMetrics, SyncMetricsOptions, SyncStatusServer, SyncStatusServerOptions, SyncDefinition, SyncStateRepository, AssociationRecord, SyncStatus, NameTemplate, TemplatePlaceholder, TemplateValues } from './sync/index.js';

// Migration
export { migrateAccounts, FileMigrationJournal, MemoryMigrationJournal } from './migrate/index.js';
export type { MigrateOptions, MigrationItem, JournalRecord, MigrationJournal, MigrationStep } from './migrate/index.js';
