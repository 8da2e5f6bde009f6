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
      // Replaced whole: a key of the old binding (`enabled: false`) must not survive into the new one.
      if (at === -1) bindings.push({ ...binding });
      else bindings[at] = { ...binding };
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
  const { parseDocument, visit, isNode } = await import('yaml');
  type Node = import('yaml').Node;
  const document = parseDocument(text);
  const items = (key: string): Json[] => ((document.toJS() as Json)[key] as Json[] | undefined) ?? [];

  /**
   * Before a node under `path` changes, every alias elsewhere that points into it becomes a copy of what it points
   * to: `password: *svc` on one account must keep reading the token when the account holding `&svc` is cleared.
   */
  const detachAliases = (path: readonly (string | number)[]): void => {
    const changed = document.getIn(path, true);
    if (!isNode(changed)) return;
    const anchors = new Set<string>();
    visit(changed, (_key, node) => {
      if (isNode(node) && node.anchor) anchors.add(node.anchor);
    });
    if (changed.anchor) anchors.add(changed.anchor);
    if (anchors.size === 0) return;
    visit(document, {
      Alias(_key, alias) {
        if (!anchors.has(alias.source)) return undefined;
        const target = alias.resolve(document);
        if (!target) return undefined;
        const copy = target.clone() as Node;
        visit(copy, (_innerKey, node) => {
          if (isNode(node)) delete node.anchor;
        });
        return copy;
      },
    });
  };

  /** Runs an edit of one account or binding and checks that no other one reads differently after it. */
  const isolated = (key: 'accounts' | 'bindings', at: number, edit: () => void): void => {
    const others = (): string => JSON.stringify((items(key) as unknown[]).filter((_item, index) => index !== at));
    const before = others();
    detachAliases([key, at]);
    edit();
    if (others() !== before) {
      throw new SecretbindError('CONFIG_INVALID', `Changing ${key}[${at}] would change another of the ${key} through a YAML alias or merge key; nothing was changed. Write that value out in full and run again.`);
    }
  };

  return {
    setBinding(binding) {
      const at = items('bindings').findIndex((existing) => existing.account === binding.account);
      if (at === -1) {
        if (!document.has('bindings') || items('bindings').length === 0) document.set('bindings', document.createNode([binding]));
        else document.addIn(['bindings'], document.createNode(binding));
      } else {
        // Replaced whole, as in JSON: no key of the old binding (`enabled: false`) survives.
        isolated('bindings', at, () => document.setIn(['bindings', at], document.createNode({ ...binding })));
      }
    },
    removeBinding(account) {
      const at = items('bindings').findIndex((existing) => existing.account === account);
      if (at !== -1) document.deleteIn(['bindings', at]);
    },
    setPassword(account, token) {
      const at = items('accounts').findIndex((existing) => existing.name === account);
      // A new node, not the old one changed in place: an anchored scalar is shared by its aliases.
      if (at !== -1) isolated('accounts', at, () => document.setIn(['accounts', at, 'password'], document.createNode(token)));
    },
    text: () => document.toString(),
  };
}
