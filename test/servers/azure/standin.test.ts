/** The Key Vault and Entra ID stand-in checked against our copy of the reference notes (test/fixtures/reference/azure-key-vault.json). */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCE, start, TENANT, type KeyVaultStandIn } from './index.js';

interface ErrorRow { status: number; code: string; innererror?: string; wording?: string; retryAfter?: boolean }
const reference = JSON.parse(readFileSync(new URL('../../fixtures/reference/azure-key-vault.json', import.meta.url), 'utf8')) as {
  nameRule: string; maxPageSize: number; challenge: string; errors: ErrorRow[]; entra: { wrongSecret: { error: string; aadsts: number }; unknownApplication: { aadsts: number } };
};
const row = (code: string, inner?: string) => reference.errors.find((item) => item.code === code && item.innererror === inner)!;

describe('Key Vault stand-in against the reference', () => {
  let server: KeyVaultStandIn;
  let token = '';
  beforeAll(async () => {
    server = await start();
    server.state.clients.set('app', 'secret');
    const answer = await fetch(`${server.authorityHost}/${TENANT}/oauth2/v2.0/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'app', client_secret: 'secret', scope: `${RESOURCE}/.default` }) });
    token = ((await answer.json()) as { access_token: string }).access_token;
  });
  afterAll(() => server.stop());

  const call = async (method: string, path: string, options: { body?: unknown; auth?: boolean } = {}) => {
    const response = await fetch(`${server.url}${path}${path.includes('?') ? '&' : '?'}api-version=2025-07-01`, {
      method,
      headers: { ...(options.auth === false ? {} : { authorization: `Bearer ${token}` }), 'content-type': 'application/json' },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as { error?: { code: string; message: string; innererror?: { code: string } } } & Record<string, unknown> };
  };
  const expectRow = (answer: Awaited<ReturnType<typeof call>>, expected: ErrorRow) => {
    expect(answer.status).toBe(expected.status);
    expect(answer.body.error?.code).toBe(expected.code);
    if (expected.innererror) expect(answer.body.error?.innererror?.code).toBe(expected.innererror);
    if (expected.wording) expect(answer.body.error?.message).toContain(expected.wording.replace(' x ', ` ${'missing'} `).replace(/\.$/, ''));
  };

  it('challenges a request without a token the way the reference shows, with its tenant and resource', async () => {
    const answer = await call('GET', '/secrets/x', { auth: false });
    expectRow(answer, row('Unauthorized'));
    const expected = reference.challenge.replace('https://login.microsoftonline.com/{tenant}', `${server.authorityHost}/${TENANT}`);
    expect(answer.headers.get('www-authenticate')).toBe(expected);
  });

  it('answers each error row of the reference with its status, code, innererror and wording', async () => {
    expectRow(await call('GET', '/secrets/missing'), row('SecretNotFound'));
    server.state.put('off', 'x', { enabled: false });
    expectRow(await call('GET', '/secrets/off'), row('Forbidden', 'SecretDisabled'));
    server.state.denied.set('app', new Set(['get:guarded']));
    server.state.put('guarded', 'x');
    expectRow(await call('GET', '/secrets/guarded'), row('Forbidden', 'ForbiddenByRbac'));
    expectRow(await call('GET', '/secrets/bad_name'), row('BadParameter'));
    server.state.put('binned', 'x');
    server.state.softDelete('binned');
    expectRow(await call('PUT', '/secrets/binned', { body: { value: 'y' } }), row('Conflict', 'ObjectIsDeletedButRecoverable'));
    server.state.mode.throttle = 1;
    const throttled = await call('GET', '/secrets/guarded');
    expectRow(throttled, row('Throttled'));
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('keeps names to the reference rule and pages lists at most 25 a page', async () => {
    const rule = new RegExp(reference.nameRule);
    for (const name of ['ok-Name-1', 'a'.repeat(127)]) expect(rule.test(name) && (await call('PUT', `/secrets/${name}`, { body: { value: 'v' } })).status).toBe(200);
    for (const name of ['a'.repeat(128), 'under_score']) expect(rule.test(name) || (await call('PUT', `/secrets/${name}`, { body: { value: 'v' } })).status).toBe(400);
    for (let index = 0; index < 30; index++) server.state.put(`page-${index}`, 'v');
    const first = await call('GET', '/secrets');
    expect((first.body.value as unknown[]).length).toBe(reference.maxPageSize);
    expect(typeof first.body.nextLink).toBe('string');
    expect((await call('GET', `/secrets?maxresults=${reference.maxPageSize + 1}`)).status).toBe(400);
  });

  it('answers Entra ID token requests as the reference shows: AADSTS7000215 for a wrong secret, AADSTS700016 for an unknown app', async () => {
    const ask = async (clientId: string, secret: string) => {
      const answer = await fetch(`${server.authorityHost}/${TENANT}/oauth2/v2.0/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: `${RESOURCE}/.default` }) });
      return { status: answer.status, body: (await answer.json()) as { error: string; error_codes: number[]; error_description: string } };
    };
    const wrong = await ask('app', 'nope');
    expect(wrong.body.error).toBe(reference.entra.wrongSecret.error);
    expect(wrong.body.error_codes).toEqual([reference.entra.wrongSecret.aadsts]);
    expect((await ask('ghost', 'x')).body.error_codes).toEqual([reference.entra.unknownApplication.aadsts]);
  });
});
