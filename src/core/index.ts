// The floor every room stands on: errors, events, entry references, Fernet, cancellation and small concurrency helpers.
export * from './abort.js';
export * from './concurrency.js';
export * from './errors.js';
export * from './events.js';
export * from './fernet.js';
export * from './reference.js';
