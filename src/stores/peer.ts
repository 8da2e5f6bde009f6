import { SecretbindError } from '../core/index.js';

/**
 * Loads a provider's optional peer library once, lazily. `injected` (a provider's `lib` option) wins; otherwise
 * `importer` runs, and a failure to find the module becomes `DEPENDENCY_MISSING` with the install line.
 * Returns a memoised loader: call it per lookup, it imports once.
 *
 * @example
 * ```ts
 * const getLib = peerLoader('keepass', 'kdbxweb', options.lib, () => import('kdbxweb'), 'npm install kdbxweb @node-rs/argon2')
 * const kdbxweb = await getLib()
 * ```
 */
export function peerLoader<T>(
  storeType: string,
  packageName: string,
  injected: T | undefined,
  importer: () => Promise<T>,
  installLine = `npm install ${packageName}`,
): () => Promise<T> {
  let loading: Promise<T> | undefined = injected === undefined ? undefined : Promise.resolve(injected);
  return () =>
    (loading ??= importer().catch((error: unknown) => {
      loading = undefined; // let a later call retry once the package is installed
      throw missingPeer(storeType, packageName, installLine, error);
    }));
}

/** The `DEPENDENCY_MISSING` error for a provider whose library is not installed. */
export function missingPeer(storeType: string, packageName: string, installLine: string, cause?: unknown): SecretbindError {
  const notInstalled = cause === undefined || isModuleNotFound(cause);
  const message = notInstalled
    ? `${packageName} is required for ${storeType} stores: ${installLine}`
    : `${packageName} is installed but failed to load (${(cause as Error)?.name ?? 'error'}); reinstall it: ${installLine}`;
  return new SecretbindError('DEPENDENCY_MISSING', message, { storeType, cause });
}

// Loaders and bundlers may wrap the resolution error; look a few causes deep.
function isModuleNotFound(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true;
  }
  return false;
}
