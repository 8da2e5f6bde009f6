/**
 * Provider libraries are optional peers: each is loaded lazily through peerLoader, a missing one is
 * DEPENDENCY_MISSING with the install line, and every library a provider loads is declared in package.json.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { peerLoader, SecretbindError } from 'secretbind';

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
};

describe('Function: peerLoader', () => {
  it('turns a failed import into DEPENDENCY_MISSING with the install line', async () => {
    const load = peerLoader('keepass', 'kdbxweb-not-installed', undefined, () => import('kdbxweb-not-installed' as string), 'npm install kdbxweb @node-rs/argon2');
    const error = await load().catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(SecretbindError);
    expect(error).toMatchObject({ code: 'DEPENDENCY_MISSING', storeType: 'keepass', message: 'kdbxweb-not-installed is required for keepass stores: npm install kdbxweb @node-rs/argon2' });
  });

  it('imports once, and retries after a failure', async () => {
    let calls = 0;
    const load = peerLoader('vault', 'lib', undefined, async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('missing'), { code: 'ERR_MODULE_NOT_FOUND' });
      return { ok: true };
    });
    await expect(load()).rejects.toMatchObject({ code: 'DEPENDENCY_MISSING' });
    expect(await load()).toEqual({ ok: true });
    expect(await load()).toEqual({ ok: true });
    expect(calls).toBe(2);
  });

  it('uses an injected library without importing', async () => {
    const injected = { injected: true };
    const load = peerLoader('vault', 'lib', injected, () => Promise.reject(new Error('must not import')));
    expect(await load()).toBe(injected);
  });

  it('says a library that is installed but broken failed to load', async () => {
    const load = peerLoader('keepass', 'kdbxweb', undefined, () => Promise.reject(new TypeError('bad native build')));
    await expect(load()).rejects.toMatchObject({ code: 'DEPENDENCY_MISSING', message: expect.stringContaining('installed but failed to load (TypeError)') });
  });
});

describe('Package: declared dependencies', () => {
  // Every source file of each provider folder, read as one text.
  const providerSources = readdirSync(new URL('../providers/', import.meta.url)).map((type) => ({
    type,
    source: readdirSync(new URL(`../providers/${type}/`, import.meta.url))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => readFileSync(new URL(`../providers/${type}/${file}`, import.meta.url), 'utf8'))
      .join('\n'),
  }));

  it('has lru-cache as the core’s only runtime dependency, and yaml for the command alone', () => {
    expect(Object.keys(packageJson.dependencies ?? {}).sort()).toEqual(['lru-cache', 'yaml']);
    const commandImports = readdirSync(new URL('../src/cli/', import.meta.url))
      .flatMap((file) => [...readFileSync(new URL(`../src/cli/${file}`, import.meta.url), 'utf8').matchAll(/(?:from |import\()'([^.'][^']*)'/g)].map((match) => match[1]!))
      .filter((name) => !name.startsWith('node:') && !/^secretbind(\/|$)/.test(name));
    expect(new Set(commandImports)).toEqual(new Set(['yaml']));
    const coreImports = readdirSync(new URL('../src/', import.meta.url), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !file.startsWith('cli/'))
      .flatMap((file) => [...readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8').matchAll(/^(?:import|export) [^;]*? from '([^.][^']*)';$/gms)].map((match) => match[1]))
      .filter((name) => !name!.startsWith('node:') && !/^secretbind(\/|$)/.test(name!));
    expect(new Set(coreImports)).toEqual(new Set(['lru-cache']));
  });

  it.each(providerSources.map((provider) => [provider.type, provider.source] as const))('%s imports only the core and its declared optional peers', (_, source) => {
    const imported = [...source.matchAll(/(?:from |import\(|requirePeer\()'([^.'][^']*)'/g)].map((match) => match[1]!).filter((name) => !name.startsWith('node:') && name !== 'secretbind');
    for (const name of imported) {
      expect(packageJson.peerDependencies?.[name], `${name} in peerDependencies`).toMatch(/\d/);
      expect(packageJson.peerDependenciesMeta?.[name]?.optional, `${name} optional`).toBe(true);
      expect(packageJson.devDependencies?.[name], `${name} in devDependencies for the tests`).toBeDefined();
      expect(source, `${name} is loaded through peerLoader`).toMatch(new RegExp(`peerLoader\\([^)]*'${name.replace('/', '\\/')}'`));
    }
  });
});
