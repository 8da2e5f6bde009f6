import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createSecretResolver, encryptLocalPassword, generateFernetKey, MemoryBindingRepository, wrapAccountLookup } from 'secretbind';
import { memory } from '../providers/memory/index.js';

const KEY = generateFernetKey();

describe('Function: wrapAccountLookup', () => {
  const table = new Map([
    ['cmk', { name: 'cmk', password: encryptLocalPassword('old-local', KEY), url: 'https://cmk' }],
    ['netbox', { name: 'netbox', password: encryptLocalPassword('netbox-local', KEY), url: 'https://netbox' }],
  ]);
  const repository = new MemoryBindingRepository().putStore({ name: 'mem', type: 'memory' }).putBinding({ account: 'cmk', store: 'mem', entry: 'prod/checkmk' });
  const resolver = createSecretResolver({ repository, providers: [memory({ entries: { 'prod/checkmk': 'from-store' } })], cryptographyKey: KEY });
  const getAccount = wrapAccountLookup(async (name: string) => table.get(name), resolver);

  it('keeps the named fields of the application record in its type', async () => {
    const account = await getAccount('cmk');
    // These lines fail the type check if ResolvedAccount loses named properties.
    const url: string | undefined = account?.url;
    const password: string | null | undefined = account?.password;
    expect([url, password]).toEqual(['https://cmk', 'from-store']);
  });

  it('gives plugins the bound value or the decrypted local password, other fields unchanged', async () => {
    expect(await getAccount('cmk')).toMatchObject({ name: 'cmk', url: 'https://cmk' });
    expect((await getAccount('cmk'))?.password).toBe('from-store');
    expect((await getAccount('netbox'))?.password).toBe('netbox-local');
  });

  it('leaves the application record unchanged and passes a missing account through', async () => {
    const before = table.get('cmk')!.password;
    await getAccount('cmk');
    expect(table.get('cmk')!.password).toBe(before);
    expect(await getAccount('nobody')).toBeUndefined();
  });

  it('keeps the plaintext out of JSON, inspection and spreads, but readable and destructurable', async () => {
    const account = (await getAccount('cmk'))!;
    const { password } = account;
    expect(password).toBe('from-store');
    expect('password' in account).toBe(true);
    expect(JSON.stringify(account)).not.toContain('from-store');
    expect(inspect(account)).not.toContain('from-store');
    expect({ ...account }).not.toHaveProperty('password');
  });
});
