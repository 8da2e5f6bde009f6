/** The Kubernetes API stand-in checked against our copy of the reference notes (test/fixtures/reference/kubernetes.json). */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start, type KubernetesStandIn } from './index.js';

const reference = JSON.parse(readFileSync(new URL('../../fixtures/reference/kubernetes.json', import.meta.url), 'utf8')) as Record<string, { code: number; reason: string; message?: string } | number | string>;
type Expected = { code: number; reason: string; message: string };

describe('Kubernetes stand-in against the reference', () => {
  let server: KubernetesStandIn;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server.stop());

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const secret = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, ...extra }, data: { password: Buffer.from('p').toString('base64') } });

  it('answers a missing Secret, a second create and a stale replace with the reference Status', async () => {
    const missing = await call('GET', '/api/v1/namespaces/apps/secrets/x');
    expect(missing).toMatchObject({ status: 404, body: { kind: 'Status', status: 'Failure', ...(reference.notFound as Expected) } });
    expect((await call('POST', '/api/v1/namespaces/apps/secrets', secret('x'))).status).toBe(201);
    expect(await call('POST', '/api/v1/namespaces/apps/secrets', secret('x'))).toMatchObject({ status: 409, body: reference.alreadyExists as Expected });
    const stale = await call('PUT', '/api/v1/namespaces/apps/secrets/x', secret('x', { resourceVersion: '1' }));
    expect(stale).toMatchObject({ status: 409, body: reference.conflict as Expected });
    // Without a resourceVersion a PUT overwrites unconditionally, as the reference warns.
    expect((await call('PUT', '/api/v1/namespaces/apps/secrets/x', secret('x'))).status).toBe(200);
  });

  it('refuses invalid names and keys with 422 Invalid and causes, and merges stringData into data', async () => {
    const invalid = await call('POST', '/api/v1/namespaces/apps/secrets', secret('Not_Valid'));
    expect(invalid).toMatchObject({ status: 422, body: { reason: 'Invalid', code: 422, details: { causes: [expect.objectContaining({ field: 'metadata.name' })] } } });
    const badKey = await call('POST', '/api/v1/namespaces/apps/secrets', { metadata: { name: 'ok' }, data: { 'bad key': 'eA==' } });
    expect(badKey.status).toBe(422);
    const created = await call('POST', '/api/v1/namespaces/apps/secrets', { metadata: { name: 'string-data' }, stringData: { token: 'plain' } });
    expect(created.body).toMatchObject({ data: { token: Buffer.from('plain').toString('base64') }, type: 'Opaque' });
    expect(created.body.stringData).toBeUndefined();
  });

  it('creates a Lease on PUT, refuses a Lease PUT without resourceVersion (422) and a time without six fractional digits (400)', async () => {
    const lease = (extra: Record<string, unknown> = {}, renewTime = '2026-11-23T10:00:00.123456Z') => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'secretbind', ...extra }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime } });
    expect((await call('PUT', '/apis/coordination.k8s.io/v1/namespaces/apps/leases/secretbind', lease())).status).toBe(reference.leasePutMissingCreates);
    expect((await call('PUT', '/apis/coordination.k8s.io/v1/namespaces/apps/leases/secretbind', lease())).status).toBe(reference.leasePutWithoutResourceVersion);
    expect((await call('PUT', '/apis/coordination.k8s.io/v1/namespaces/apps/leases/other', lease({}, '2026-11-23T10:00:00Z'))).status).toBe(reference.microTimeWrongFormat);
  });

  it('answers 401 without the token', async () => {
    expect((await fetch(`${server.url}/api/v1/namespaces/apps/secrets`)).status).toBe(401);
  });
});
