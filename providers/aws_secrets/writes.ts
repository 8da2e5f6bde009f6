/**
 * Secrets Manager as a destination: ListSecrets (100 a page, the name filter as a prefix), CreateSecret with the
 * owner tag, PutSecretValue with an idempotent ClientRequestToken, TagResource to adopt, DeleteSecret with a recovery
 * window unless forced, RestoreSecret to write again to a name of ours that is scheduled for deletion. The owner mark is the `managed-by` tag; a version is the AWSCURRENT VersionId, checked first.
 */
import { createHmac } from 'node:crypto';
import {
  formatReference,
  guardWrite,
  referencePath,
  SecretbindError,
  type EntryInfo,
  type EntryReference,
  type EntryValue,
  type ListOptions,
  type ProviderRemoveOptions,
  type ProviderWriteOptions,
  type SecretStore,
  type WriteResult,
} from 'secretbind';

const TYPE = 'aws_secrets';
/** The tag that marks a secret as secretbind's; its value is the owner. */
export const OWNER_TAG = 'managed-by';
const NAME_RULE = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const PAGE_SIZE = 100;
const DEFAULT_RECOVERY_WINDOW_DAYS = 30;

/** The SDK commands the writes use. */
export interface WriteCommands {
  ListSecretsCommand: new (input: Record<string, unknown>) => unknown;
  DescribeSecretCommand: new (input: Record<string, unknown>) => unknown;
  GetSecretValueCommand: new (input: Record<string, unknown>) => unknown;
  CreateSecretCommand: new (input: Record<string, unknown>) => unknown;
  PutSecretValueCommand: new (input: Record<string, unknown>) => unknown;
  TagResourceCommand: new (input: Record<string, unknown>) => unknown;
  DeleteSecretCommand: new (input: Record<string, unknown>) => unknown;
  RestoreSecretCommand: new (input: Record<string, unknown>) => unknown;
}

/** Sends one command of the store's client; failures arrive mapped (SecretbindError with the SDK error as cause). */
export type Send = (make: (sdk: WriteCommands) => unknown, what: string) => Promise<Record<string, unknown>>;

interface Described {
  ARN: string;
  Name: string;
  DeletedDate?: unknown;
  Tags?: Array<{ Key?: string; Value?: string }>;
  VersionIdsToStages?: Record<string, string[]>;
}

export async function listSecrets(send: Send, options: ListOptions): Promise<EntryInfo[]> {
  const prefix = options.prefix ?? '';
  const entries: EntryInfo[] = [];
  let nextToken: string | undefined;
  do {
    const page = await send((sdk) => new sdk.ListSecretsCommand({ MaxResults: PAGE_SIZE, ...(nextToken ? { NextToken: nextToken } : {}), ...(prefix ? { Filters: [{ Key: 'name', Values: [prefix] }] } : {}) }), 'ListSecrets');
    for (const item of (page.SecretList as Array<Record<string, unknown>> | undefined) ?? []) {
      const name = String(item.Name ?? '');
      // AWS's name filter ignores case; a prefix here is exact.
      if (!name.startsWith(prefix)) continue;
      if (options.recursive === false && name.slice(prefix.length).replace(/^\//, '').includes('/')) continue;
      const segments = name.split('/');
      if (segments.some((segment) => segment === '')) continue; // no reference can name it ("a//b", "/a")
      const owner = ownerOf(item.Tags as Described['Tags']);
      const version = currentVersion(item.SecretVersionsToStages as Record<string, string[]> | undefined);
      entries.push({
        name: formatReference(segments),
        ...(version ? { version } : {}),
        ...(item.LastChangedDate instanceof Date ? { updatedAt: item.LastChangedDate.toISOString() } : {}),
        owned: owner !== undefined,
        ...(owner ? { owner } : {}),
        ...(typeof item.Description === 'string' && item.Description ? { description: item.Description } : {}),
      });
    }
    nextToken = typeof page.NextToken === 'string' ? page.NextToken : undefined;
  } while (nextToken);
  return entries;
}

export async function writeSecret(send: Send, store: SecretStore, ref: EntryReference, value: EntryValue, options: ProviderWriteOptions, tokenKey: Buffer): Promise<WriteResult> {
  const name = checkedName(ref);
  const described = await describe(send, name);
  const current = currentVersion(described?.VersionIdsToStages);
  const owner = ownerOf(described?.Tags);
  guard(name, described !== undefined, owner, current, options, Boolean(described?.DeletedDate));
  if (described?.DeletedDate) {
    // AWS refuses to write or re-create a name inside its recovery window. A secret we own (or adopt) that we
    // scheduled for deletion is brought back and updated instead of failing for up to 30 days.
    await send((sdk) => new sdk.RestoreSecretCommand({ SecretId: described.ARN }), name);
  }
  let text: string;
  if (typeof value === 'string') text = value;
  else if (options.merge && described) text = JSON.stringify({ ...(await currentJson(send, described.ARN, name)), ...value });
  else text = JSON.stringify(value);
  // The same write sent again (a retry after a lost answer) carries the same token, so AWS makes no second version.
  const token = createHmac('sha256', tokenKey).update(`${name}\u0000${current ?? 'absent'}\u0000${text}`).digest('hex');
  if (!described) {
    const created = await send((sdk) => new sdk.CreateSecretCommand({ Name: name, SecretString: text, Tags: [{ Key: OWNER_TAG, Value: options.owner }], ClientRequestToken: token }), name);
    return { version: String(created.VersionId), created: true };
  }
  // The mark goes first, as for Vault: a crash in between leaves an owned secret with its old value.
  if (owner !== options.owner) await send((sdk) => new sdk.TagResourceCommand({ SecretId: described.ARN, Tags: [{ Key: OWNER_TAG, Value: options.owner }] }), name);
  const put = await send((sdk) => new sdk.PutSecretValueCommand({ SecretId: described.ARN, SecretString: text, ClientRequestToken: token }), name);
  return { version: String(put.VersionId), created: false };
}

export async function removeSecret(send: Send, store: SecretStore, ref: EntryReference, options: ProviderRemoveOptions): Promise<void> {
  const name = checkedName(ref);
  const described = await describe(send, name);
  if (!described || described.DeletedDate) throw new SecretbindError('ENTRY_NOT_FOUND', `No secret ${name} in Secrets Manager${described ? ' (it is already scheduled for deletion)' : ''}.`, { storeType: TYPE });
  guard(name, true, ownerOf(described.Tags), currentVersion(described.VersionIdsToStages), options);
  const window = typeof store.aws_recovery_window_days === 'number' ? store.aws_recovery_window_days : DEFAULT_RECOVERY_WINDOW_DAYS;
  await send((sdk) => new sdk.DeleteSecretCommand({ SecretId: described.ARN, ...(options.force ? { ForceDeleteWithoutRecovery: true } : { RecoveryWindowInDays: window }) }), name);
}

/** A name Secrets Manager accepts, checked before any call. */
export function checkedName(ref: EntryReference): string {
  const name = referencePath(ref);
  if (!NAME_RULE.test(name)) {
    throw new SecretbindError('REFERENCE_INVALID', `${JSON.stringify(name)} is not a Secrets Manager name: names are 1 to 512 of A-Za-z0-9/_+=.@- (no spaces, no other characters).`, { storeType: TYPE });
  }
  return name;
}

async function describe(send: Send, name: string): Promise<Described | undefined> {
  try {
    return (await send((sdk) => new sdk.DescribeSecretCommand({ SecretId: name }), name)) as unknown as Described;
  } catch (error) {
    if ((error as SecretbindError).code === 'ENTRY_NOT_FOUND') return undefined;
    throw error;
  }
}

async function currentJson(send: Send, arn: string, name: string): Promise<Record<string, unknown>> {
  const answer = await send((sdk) => new sdk.GetSecretValueCommand({ SecretId: arn }), name);
  try {
    const parsed = JSON.parse(String(answer.SecretString ?? '')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // never echoed: the text is a secret
  }
  throw new SecretbindError('CONFIG_INVALID', `Secret ${name} is not a JSON object, so there are no fields to merge into: write it whole.`, { storeType: TYPE });
}

function ownerOf(tags: Described['Tags']): string | undefined {
  return tags?.find((tag) => tag.Key === OWNER_TAG)?.Value;
}

function currentVersion(stages: Record<string, string[]> | undefined): string | undefined {
  return Object.entries(stages ?? {}).find(([, names]) => names.includes('AWSCURRENT'))?.[0];
}

function guard(name: string, exists: boolean, owner: string | undefined, version: string | undefined, options: { owner: string; ifVersion?: string | undefined; adopt?: boolean | undefined }, recoverable = false): void {
  guardWrite({ what: `Secret ${name}`, exists, owner, version, mark: `${OWNER_TAG} tag`, storeType: TYPE, recoverable }, options);
}
