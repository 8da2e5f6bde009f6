import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decryptLocalPassword, decryptLocalPasswordBytes, encryptLocalPassword, generateFernetKey, SecretbindError } from 'secretbind';

interface FernetCase {
  name: string;
  token: string;
  keys: string[];
  ttl_seconds: number | null;
  now: number | null;
  expect: { ok: true; plaintext_b64: string } | { ok: false };
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/fernet/fernet.json', import.meta.url), 'utf8')) as {
  cases: FernetCase[];
  keys: Array<{ name: string; key: string; expect_valid: boolean }>;
};

function decrypt(testCase: FernetCase): Uint8Array {
  const options = testCase.ttl_seconds === null ? {} : { ttlSeconds: testCase.ttl_seconds, now: () => testCase.now as number };
  return decryptLocalPasswordBytes(testCase.token, testCase.keys, options);
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(SecretbindError);
    return (error as SecretbindError).code;
  }
}

describe('Fernet: agreement with Python cryptography', () => {
  it('has all 36 cases of the fixture', () => {
    expect(fixture.cases).toHaveLength(36);
  });

  it.each(fixture.cases.map((testCase) => [testCase.name, testCase] as const))('%s', (_, testCase) => {
    if (testCase.expect.ok) {
      expect(Buffer.from(decrypt(testCase)).toString('base64')).toBe(testCase.expect.plaintext_b64);
    } else {
      expect(codeOf(() => decrypt(testCase))).toBe('LOCAL_DECRYPT_FAILED');
    }
  });

  it('reproduces every canonical valid token byte for byte from plaintext, key, timestamp and IV', () => {
    let reproduced = 0;
    for (const testCase of fixture.cases) {
      if (!testCase.expect.ok) continue;
      const raw = Buffer.from(testCase.token.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
      const canonical = raw.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
      if (canonical !== testCase.token) continue; // the lenient-decoding cases are not canonical tokens
      // The fixture does not say which listed key made the token: one of them must reproduce it.
      const plaintext = Buffer.from(testCase.expect.plaintext_b64, 'base64');
      const candidates = testCase.keys.map((key) => encryptLocalPassword(plaintext, key, { now: Number(raw.readBigUInt64BE(1)), iv: raw.subarray(9, 25) }));
      expect(candidates).toContain(testCase.token);
      reproduced++;
    }
    expect(reproduced).toBeGreaterThanOrEqual(12);
  });

  it.each(fixture.keys.map((key) => [key.name, key] as const))('key "%s" is accepted or refused as Python does', (_, key) => {
    const code = codeOf(() => encryptLocalPassword('x', key.key));
    expect(code).toBe(key.expect_valid ? undefined : 'CONFIG_INVALID');
  });
});

describe('Fernet: API', () => {
  it('round-trips text and binary values with a fresh key', () => {
    const key = generateFernetKey();
    expect(decryptLocalPassword(encryptLocalPassword('pässwörd-Ω-🔑', key), key)).toBe('pässwörd-Ω-🔑');
    const bytes = Uint8Array.from([0, 255, 128, 10, 13]);
    expect(Buffer.from(decryptLocalPasswordBytes(encryptLocalPassword(bytes, key), key))).toEqual(Buffer.from(bytes));
  });

  it('refuses to return a binary plaintext as text', () => {
    const key = generateFernetKey();
    const token = encryptLocalPassword(Uint8Array.from([0xff, 0xfe, 0x00]), key);
    expect(codeOf(() => decryptLocalPassword(token, key))).toBe('LOCAL_DECRYPT_FAILED');
  });

  it('decrypts with an older key listed after the newest, also as a comma-separated string', () => {
    const [oldKey, newKey] = [generateFernetKey(), generateFernetKey()];
    const token = encryptLocalPassword('rotated', oldKey);
    expect(decryptLocalPassword(token, [newKey, oldKey])).toBe('rotated');
    expect(decryptLocalPassword(token, `${newKey}, ${oldKey}`)).toBe('rotated');
    expect(codeOf(() => decryptLocalPassword(token, newKey))).toBe('LOCAL_DECRYPT_FAILED');
  });

  it('distinguishes a missing key from a malformed one, naming neither value', () => {
    const token = encryptLocalPassword('x', generateFernetKey());
    expect(codeOf(() => decryptLocalPassword(token, []))).toBe('LOCAL_KEY_MISSING');
    let error: SecretbindError | undefined;
    try {
      decryptLocalPassword(token, ['short-but-secretive']);
    } catch (thrown) {
      error = thrown as SecretbindError;
    }
    expect(error?.code).toBe('CONFIG_INVALID');
    expect(error?.message).not.toContain('short-but-secretive');
  });

  it('says an expired token is expired', () => {
    const key = generateFernetKey();
    const token = encryptLocalPassword('old', key, { now: 1_000 });
    expect(() => decryptLocalPassword(token, key, { ttlSeconds: 10, now: () => 2_000 })).toThrow(/older than the 10 s TTL/);
    expect(decryptLocalPassword(token, key, { ttlSeconds: 1_000, now: () => 2_000 })).toBe('old');
  });
});

describe('Fernet: round trip with Python itself', () => {
  const python = (script: string, input: string): string => execFileSync('/usr/bin/python3', ['-c', script], { input, encoding: 'utf8' });

  it('Python decrypts tokens made here, and we decrypt tokens Python made', () => {
    const key = generateFernetKey();
    const plaintexts = ['ascii', '', 'pässwörd-Ω-🔑', 'line1\nline2\n', 'x'.repeat(1000)];
    const ours = plaintexts.map((plaintext) => encryptLocalPassword(plaintext, key));
    const decrypted = JSON.parse(
      python(
        'import json,sys\nfrom cryptography.fernet import Fernet\nd=json.load(sys.stdin)\nf=Fernet(d["key"])\nprint(json.dumps([f.decrypt(t.encode()).decode("utf-8") for t in d["tokens"]]))',
        JSON.stringify({ key, tokens: ours }),
      ),
    ) as string[];
    expect(decrypted).toEqual(plaintexts);

    const theirs = JSON.parse(
      python(
        'import json,sys\nfrom cryptography.fernet import Fernet\nd=json.load(sys.stdin)\nf=Fernet(d["key"])\nprint(json.dumps([f.encrypt(p.encode("utf-8")).decode() for p in d["plaintexts"]]))',
        JSON.stringify({ key, plaintexts }),
      ),
    ) as string[];
    expect(theirs.map((token) => decryptLocalPassword(token, key))).toEqual(plaintexts);
  });

  it('Python refuses a token we made with another key, as we refuse it', () => {
    const token = encryptLocalPassword('secret', generateFernetKey());
    const otherKey = generateFernetKey();
    const verdict = python(
      'import json,sys\nfrom cryptography.fernet import Fernet, InvalidToken\nd=json.load(sys.stdin)\ntry:\n  Fernet(d["key"]).decrypt(d["token"].encode()); print("ok")\nexcept InvalidToken: print("invalid")',
      JSON.stringify({ key: otherKey, token }),
    ).trim();
    expect(verdict).toBe('invalid');
    expect(codeOf(() => decryptLocalPassword(token, otherKey))).toBe('LOCAL_DECRYPT_FAILED');
  });
});
