/**
 * The configuration file as a writable repository, for `secretbind migrate`: bindings are added or removed and local
 * passwords set or cleared in the file itself, rewritten atomically under a lock after each change. JSON keeps its
 * indentation and every key it had; YAML keeps its comments and layout (the yaml package's document API).
 */
import { readFile } from 'node:fs/promises';
import { SecretbindError, withFileLock, writeFileAtomic, type Account, type AccountBinding, type BindingRepository, type SecretStore } from 'secretbind';
import type { LoadedConfig } from './config.js';

type Json = Record<string, unknown>;

/** How one format reads, changes and writes the file's text. */
interface Editor {
  setBinding(binding: AccountBinding): void;
  removeBinding(account: string): void;
  setPassword(account: string, token: string | null): void;
  text(): string;
}

export class ConfigFileRepository implements BindingRepository {
  readonly #config: LoadedConfig;

  constructor(config: LoadedConfig) {
    this.#config = config;
  }

  findBinding(accountName: string): AccountBinding | undefined {
    return this.#config.repository.findBinding(accountName);
  }

  findStore(storeName: string): SecretStore | undefined {
    return this.#config.repository.findStore(storeName);
  }

  listBindings(): AccountBinding[] {
    return this.#config.repository.listBindings();
  }

  listStores(): SecretStore[] {
    return this.#config.repository.listStores();
  }

  listAccounts(): Account[] {
    return [...this.#config.accounts.values()].map((account) => ({ ...account }));
  }

  async saveBinding(binding: AccountBinding): Promise<void> {
    this.#config.repository.putBinding(binding); // checks the binding and its store before the file changes
    await this.#edit((editor) => editor.setBinding(binding));
  }

  async removeBinding(accountName: string): Promise<boolean> {
    const removed = this.#config.repository.removeBinding(accountName);
    if (removed) await this.#edit((editor) => editor.removeBinding(accountName));
    return removed;
  }

  async saveAccountPassword(accountName: string, token: string | null): Promise<void> {
    const account = this.#config.accounts.get(accountName);
    if (!account) throw new SecretbindError('CONFIG_INVALID', `${this.#config.path}: there is no account named ${JSON.stringify(accountName)}.`, { account: accountName });
    await this.#edit((editor) => editor.setPassword(accountName, token));
    this.#config.accounts.set(accountName, { ...account, password: token });
  }

  async #edit(change: (editor: Editor) => void): Promise<void> {
    const path = this.#config.path;
    await withFileLock(path, async () => {
      const text = await readFile(path, 'utf8');
      const editor = /\.ya?ml$/i.test(path) ? await yamlEditor(text) : jsonEditor(text);
      change(editor);
      await writeFileAtomic(path, editor.text(), { mode: 0o600 });
    });
  }
}

function jsonEditor(text: string): Editor {
  const config = JSON.parse(text) as Json;
  // Keep the file's own indentation (two spaces, four, a tab) and its final newline.
  const indent = /^\{\r?\n([ \t]+)/.exec(text)?.[1] ?? '  ';
  const list = (key: 'bindings' | 'accounts'): Json[] => (Array.isArray(config[key]) ? (config[key] as Json[]) : (config[key] = []) as Json[]);
  return {
    setBinding(binding) {
      const bindings = list('bindings');
      const at = bindings.findIndex((existing) => existing.account === binding.account);
      if (at === -1) bindings.push({ ...binding });
      else bindings[at] = { ...bindings[at], ...binding };
    },
    removeBinding(account) {
      config.bindings = list('bindings').filter((existing) => existing.account !== account);
    },
    setPassword(account, token) {
      const found = list('accounts').find((existing) => existing.name === account);
      if (found) found.password = token;
    },
    text: () => `${JSON.stringify(config, null, indent)}${text.endsWith('\n') ? '\n' : ''}`,
  };
}

async function yamlEditor(text: string): Promise<Editor> {
  const { parseDocument } = await import('yaml');
  const document = parseDocument(text);
  const items = (key: string): Json[] => ((document.toJS() as Json)[key] as Json[] | undefined) ?? [];
  return {
    setBinding(binding) {
      const at = items('bindings').findIndex((existing) => existing.account === binding.account);
      if (at === -1) {
        if (!document.has('bindings') || items('bindings').length === 0) document.set('bindings', document.createNode([binding]));
        else document.addIn(['bindings'], document.createNode(binding));
      } else for (const [key, value] of Object.entries(binding)) document.setIn(['bindings', at, key], value);
    },
    removeBinding(account) {
      const at = items('bindings').findIndex((existing) => existing.account === account);
      if (at !== -1) document.deleteIn(['bindings', at]);
    },
    setPassword(account, token) {
      const at = items('accounts').findIndex((existing) => existing.name === account);
      if (at !== -1) document.setIn(['accounts', at, 'password'], token);
    },
    text: () => document.toString(),
  };
}
