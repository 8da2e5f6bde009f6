// One-way sync: definitions and name templates, owner marks and state keys, planning (pure), reading, applying,
// state, the engine, the loop and daemon, the status server and metrics.
export { checkDefinitions, DEFAULT_NAME_TEMPLATE, type SyncDefinition } from './definitions.js';
export { createSyncEngine, type SyncEngine, type SyncEngineOptions, type SyncRunOptions } from './engine.js';
export type { SyncAction, SyncItem } from './plan.js';
export type { LeaderElector, PassReport, SyncLoopOptions, SyncLoopState } from './daemon.js';
export { createSyncMetrics, type SyncMetrics, type SyncMetricsOptions } from './metrics.js';
export { serveSyncStatus, type SyncStatusServer, type SyncStatusServerOptions } from './http.js';
export { syncOwnerMark } from './ownership.js';
export { JsonFileSyncState, MemorySyncState, SYNC_STATUSES, type AssociationRecord, type SyncStateRepository, type SyncStatus } from './state.js';
export { StoreSyncState, type StoreSyncStateOptions } from './store-state.js';
export { MIGRATION_PLACEHOLDERS, parseTemplate, renderedReference, TEMPLATE_PLACEHOLDERS, type NameTemplate, type TemplatePlaceholder, type TemplateValues } from './template.js';
