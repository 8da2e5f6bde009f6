import { createHmac, randomBytes } from 'node:crypto';

const FINGERPRINT_KEY = randomBytes(32);

/**
 * A stand-in for credentials in a provider's client-cache key: an HMAC under a key made per process, so the key
 * changes when the credentials do and never holds them (nor a plain hash a short secret could be guessed from).
 */
export function credentialFingerprint(...values: unknown[]): string {
  if (values.every((value) => value === undefined || value === null)) return '';
  return createHmac('sha256', FINGERPRINT_KEY).update(JSON.stringify(values)).digest('base64url');
}
