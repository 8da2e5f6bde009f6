/** Each destination's name rules, as sync uses them: `checkName` before any call, `adaptName` for the default template. */
import { describe, expect, it } from 'vitest';
import { parseReference, type SecretStore } from 'secretbind';
import { awsSecrets } from '../../providers/aws_secrets/index.js';
import { dotenv } from '../../providers/dotenv/index.js';
import { kubernetes } from '../../providers/kubernetes/index.js';
import { vault } from '../../providers/vault/index.js';

const store = (type: string, fields: Record<string, unknown> = {}): SecretStore => ({ name: 'd', type, ...fields });

describe('adaptName turns the default template into a name each store can hold', () => {
  it.each([
    ['dotenv', dotenv(), 'secretbind/central/apps/db-main', 'SECRETBIND_CENTRAL_APPS_DB_MAIN'],
    ['dotenv', dotenv(), '9/x', '_9_X'],
    ['kubernetes', kubernetes(), 'secretbind/Central/apps_db', 'secretbind-central-apps-db'],
    ['aws_secrets', awsSecrets(), 'secretbind/central/apps db#1', 'secretbind/central/apps-db-1'],
  ])('%s: %s', (_type, provider, rendered, adapted) => {
    expect(provider.adaptName!(rendered)).toBe(adapted);
    expect(() => provider.checkName!(store(provider.type, { vault_url: 'http://127.0.0.1:1' }), parseReference(adapted.replaceAll('#', '\\#')))).not.toThrow();
  });
});

describe('checkName refuses, naming the rule, before any call', () => {
  it.each([
    [dotenv(), store('dotenv'), 'apps/db', /keys match \[A-Za-z_\]\[A-Za-z0-9_\]\*/],
    [dotenv(), store('dotenv'), '1ABC', /not starting with a digit/],
    [awsSecrets(), store('aws_secrets'), 'has space', /1 to 512 of A-Za-z0-9\/_\+=\.@-/],
    [kubernetes(), store('kubernetes'), 'Upper', /DNS-1123 subdomain/],
    [kubernetes(), store('kubernetes'), 'a/b/c', /name or namespace\/name/],
    [vault(), store('vault', { vault_url: 'http://127.0.0.1:1' }), 'apps/../x', /cannot leave it/],
  ])('%#: %s', (provider, target, name, rule) => {
    let caught: unknown;
    try {
      provider.checkName!(target, parseReference(name));
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'REFERENCE_INVALID', message: expect.stringMatching(rule) });
  });
});
