import { SecretbindError } from '../core/index.js';
import type { EntryValue } from './contract.js';

/**
 * Stores that hold one string per secret (AWS Secrets Manager, Azure Key Vault, Google Secret Manager, the OS
 * keyring) share one rule for fields: with `#key` the secret must be a JSON object holding the key; without it, a
 * JSON object gives its `password` key and any other secret its whole text. Non-string JSON values come back as
 * JSON text. A parse error is never rethrown: its message would quote the secret.
 */
export function jsonSecretField(text: string, key: string | undefined, what: string, storeType: string): string {
  const object = jsonObject(text);
  if (key === undefined && !object) return text;
  if (!object) throw new SecretbindError('FIELD_NOT_FOUND', `${what} is a plain string, not JSON with keys: drop "#${key}" from the reference.`, { storeType });
  const wanted = key ?? 'password';
  if (!Object.hasOwn(object, wanted)) {
    throw new SecretbindError('FIELD_NOT_FOUND', `${what} has no key ${JSON.stringify(wanted)} (keys: ${Object.keys(object).join(', ') || 'none'})${key === undefined ? '; name one with #key' : ''}.`, { storeType });
  }
  const value = object[wanted];
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A one-string secret as a whole entry: a JSON object's keys (non-string values as JSON text), or its text. */
export function jsonSecretEntry(text: string): EntryValue {
  const object = jsonObject(text);
  if (!object) return text;
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
}

/**
 * The text to store for a written value: a string as it is, fields as a JSON object; with `merge`, the fields are
 * laid over the JSON object the secret holds now (`current`; a plain-string secret is replaced).
 */
export function jsonSecretText(value: EntryValue, current?: string): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(current === undefined ? value : { ...(jsonObject(current) ?? {}), ...value });
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  return json && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
}
