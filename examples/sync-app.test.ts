import { describe, expect, it } from 'vitest';
import { runSyncApp } from './sync-app.js';

describe('Example: sync-app', () => {
  it('gives unchanged plugins the bound value for bound accounts and the local one for the rest', async () => {
    const { before, after } = await runSyncApp({ CMK_PROD_PASSWORD: 'rotated-by-the-vault-team' });
    expect(before).toEqual([
      'checkmk: logged in to https://cmk.example.test with a 18-character password',
      'netbox: logged in to https://netbox.example.test with a 21-character password',
    ]);
    expect(after).toEqual([
      'checkmk: logged in to https://cmk.example.test with a 25-character password',
      'netbox: logged in to https://netbox.example.test with a 21-character password',
    ]);
  });

  it('fails loudly, not with a stale password, when the bound variable is missing', async () => {
    await expect(runSyncApp({})).rejects.toMatchObject({ code: 'ENTRY_NOT_FOUND' });
  });
});
