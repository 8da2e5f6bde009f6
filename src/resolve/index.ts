// Resolution: createSecretResolver and the one lookup path, bulk lookups, explain/check, stale values, wrapping.
export { createSecretResolver, type Milliseconds, type SecretResolver, type SecretResolverOptions } from './resolver.js';
export type { BulkOptions, BulkResult } from './bulk.js';
export type { BindingReport, CheckOptions, CheckReport, Explanation, StoreReport } from './inspect.js';
export { LocalPasswords } from './local.js';
export type { ProviderErrorPolicy } from './lookup.js';
export type { StaleIfErrorOptions } from './stale.js';
export { wrapAccountLookup, type ResolvedAccount } from './wrap.js';
