/**
 * An existing sync application: an account table with Fernet-encrypted passwords, and plugins that look their
 * account up by name. Adopting secretbind changes one line, the lookup the plugins receive; the plugins do not
 * change, and accounts without a binding keep working from their local password.
 */
import {
  createSecretResolver,
  decryptLocalPassword,
  encryptLocalPassword,
  generateFernetKey,
  MemoryBindingRepository,
  wrapAccountLookup,
  type Account,
} from 'secretbind';
import { envvar } from 'secretbind/providers/envvar';

/** The application's own record, as its database returns it. */
interface AccountRow extends Account {
  name: string;
  password: string | null;
  url: string;
}

type AccountLookup = (name: string) => Promise<{ name: string; password: string | null; url: string } | undefined>;

/** A plugin as the application has always written them: it gets an account with a usable password. */
async function checkmkPlugin(getAccount: AccountLookup): Promise<string> {
  const account = await getAccount('checkmk-prod');
  if (!account?.password) return 'checkmk: no credentials';
  return `checkmk: logged in to ${account.url} with a ${account.password.length}-character password`;
}

async function netboxPlugin(getAccount: AccountLookup): Promise<string> {
  const account = await getAccount('netbox');
  if (!account?.password) return 'netbox: no credentials';
  return `netbox: logged in to ${account.url} with a ${account.password.length}-character password`;
}

export async function runSyncApp(environment: Record<string, string>): Promise<{ before: string[]; after: string[] }> {
  const key = generateFernetKey();
  const table = new Map<string, AccountRow>([
    ['checkmk-prod', { name: 'checkmk-prod', password: encryptLocalPassword('old-local-password', key), url: 'https://cmk.example.test' }],
    ['netbox', { name: 'netbox', password: encryptLocalPassword('netbox-local-password', key), url: 'https://netbox.example.test' }],
  ]);
  const findAccount = async (name: string): Promise<AccountRow | undefined> => table.get(name);

  // Before: the application decrypts its own copy.
  const legacyLookup: AccountLookup = async (name) => {
    const row = await findAccount(name);
    return row && { ...row, password: row.password === null ? null : decryptLocalPassword(row.password, key) };
  };
  const before = [await checkmkPlugin(legacyLookup), await netboxPlugin(legacyLookup)];

  // After: the operator bound checkmk-prod to an environment variable; netbox stays local for now.
  const repository = MemoryBindingRepository.fromConfig({
    stores: [{ name: 'process-env', type: 'envvar' }],
    bindings: [{ account: 'checkmk-prod', store: 'process-env', entry: 'CMK_PROD_PASSWORD' }],
  });
  const resolver = createSecretResolver({ repository, providers: [envvar({ env: environment })], cryptographyKey: key });
  const lookup: AccountLookup = wrapAccountLookup(findAccount, resolver);
  const after = [await checkmkPlugin(lookup), await netboxPlugin(lookup)];
  await resolver.close();
  return { before, after };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { before, after } = await runSyncApp({ CMK_PROD_PASSWORD: 'rotated-by-the-vault-team' });
  process.stdout.write(`before secretbind:\n  ${before.join('\n  ')}\nafter secretbind:\n  ${after.join('\n  ')}\n`);
}
