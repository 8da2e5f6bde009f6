// What providers implement and share: the provider contract, the records and their repository, store fields, rate
// budgets, write guards, file writes and locks, JSON values, optional peers.
export * from './budget.js';
export * from './contract.js';
export * from './fields.js';
export * from './files.js';
export * from './fingerprint.js';
export * from './guards.js';
export * from './json-value.js';
export * from './peer.js';
export type * from './records.js';
export * from './repository.js';
