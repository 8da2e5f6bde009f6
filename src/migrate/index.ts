// Moving local passwords into a store, and the journal that lets a killed run resume.
export { FileMigrationJournal, MemoryMigrationJournal, type JournalRecord, type MigrationJournal, type MigrationStep } from './journal.js';
export { migrateAccounts, type MigrateOptions, type MigrationItem } from './migrate.js';
