import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kdbxwebDefault from 'kdbxweb';
import { argon2For } from '../../../providers/keepass/argon2.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/keepass/', import.meta.url));
export const fixture = (name: string): string => join(FIXTURES, name);

export interface ManifestCase {
  ref: string;
  expect: { value: string } | { error: string };
}
export interface ManifestFile {
  file: string;
  format: string;
  kdf: string;
  cipher: string;
  root_group: string;
  password: boolean;
  keyfile: string | null;
  cases: ManifestCase[];
}
export interface Manifest {
  master_password: string;
  files: ManifestFile[];
  bad_files: Array<{ file: string; password: string; keyfile?: string | null; expect_error: string; why: string }>;
}
export const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as Manifest;
export const MASTER = manifest.master_password;

/** A private copy of a fixture, so tests can rewrite it. */
export function copyOf(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-keepass-'));
  const path = join(dir, name);
  copyFileSync(fixture(name), path);
  return path;
}

const kdbxweb = kdbxwebDefault as typeof import('kdbxweb');
const toArrayBuffer = (bytes: Buffer): ArrayBuffer => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;

/** A variant of a fixture database, changed by `edit` and saved with kdbxweb: the "after" of an edit. */
export async function variantOf(name: string, edit: (db: import('kdbxweb').Kdbx) => void, password = MASTER): Promise<Buffer> {
  kdbxweb.CryptoEngine.setArgon2Impl(argon2For('node-rs'));
  const credentials = new kdbxweb.Credentials(kdbxweb.ProtectedValue.fromString(password));
  const db = await kdbxweb.Kdbx.load(toArrayBuffer(readFileSync(fixture(name))), credentials);
  edit(db);
  return Buffer.from(await db.save());
}

/** Sets the password of the entry with this title anywhere in the tree. */
export function setPassword(db: import('kdbxweb').Kdbx, title: string, password: string): void {
  const visit = (group: import('kdbxweb').KdbxGroup): void => {
    for (const entry of group.entries) if (entry.fields.get('Title') === title) entry.fields.set('Password', kdbxweb.ProtectedValue.fromString(password));
    group.groups.forEach(visit);
  };
  visit(db.getDefaultGroup());
}

export { kdbxweb };
