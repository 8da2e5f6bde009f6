/**
 * A Secrets Manager stand-in on 127.0.0.1 speaking AWS JSON 1.1, reached by the real SDK through `endpoint`:
 * GetSecretValue, BatchGetSecretValue (both forms, 20-id limit, per-secret Errors), ListSecrets (paged, name filters),
 * DescribeSecret, CreateSecret and PutSecretValue (idempotent ClientRequestToken), TagResource, DeleteSecret (recovery
 * window or forced); names and ARNs with suffixes; version stages; deletion scheduling; an access policy
 * per access key id; modes for throttling, 500, latency and a hang; a request log. Bodies follow the reference
 * notes on the Secrets Manager API, whose examples and tables are kept in test/fixtures/reference/aws-secrets-manager.json.
 *
 * Departures from the real service: signatures are not verified (an Authorization header is still required);
 * policies are deny lists of `Operation` or `Operation:secret-name`; it also answers STS AssumeRole (query protocol)
 * so a role can be assumed without leaving the machine; ListSecrets lists in creation order (AWS does not promise one)
 * and knows only the `name` filter; a recovery window is recorded, never run down.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const ACCOUNT = '123456789012';

interface Version {
  versionId: string;
  secretString?: string;
  secretBinary?: Buffer;
  stages: string[];
  createdDate: number;
}

interface Secret {
  name: string;
  arn: string;
  versions: Version[];
  deletedDate?: number;
  kmsFailure?: boolean;
  tags?: Record<string, string>;
  description?: string;
  lastChangedDate?: number;
  /** ClientRequestToken to the version it made: a repeated token with the same value is the same version. */
  tokens?: Map<string, { versionId: string; value: string }>;
}

export interface RequestRecord {
  /** The HTTP path: the SDK's JSON protocol always posts to `/`, whatever the secret id. */
  path: string;
  operation: string;
  accessKeyId: string | undefined;
  status: number;
  secretIds: string[];
}

export class SecretsState {
  region = 'eu-central-1';
  readonly secrets = new Map<string, Secret>();
  /** Access key ids the service knows; empty accepts any. */
  readonly knownKeys = new Set<string>();
  /** Per access key id: denied `Operation` or `Operation:secret-name`. */
  readonly denied = new Map<string, Set<string>>();
  mode: {
    throttle?: number;
    fail500?: number;
    latencyMs?: number;
    hang?: number;
    /** Do the work of the next `times` calls of `operation`, then answer 500 as if the answer were lost. */
    failAfter?: { operation: string; times: number };
    /**
     * Throttle writes (CreateSecret, PutSecretValue, TagResource, DeleteSecret, RestoreSecret) beyond `perSecond`, on
     * the given clock (milliseconds). The real service's quota is 50 writes per second combined; how it counts inside
     * a second is not published: the stand-in uses a bucket of one second's writes.
     */
    writeRate?: { perSecond: number; now: () => number; tokens?: number; last?: number };
    /** Answer the next requests with this error (for error types nothing else here produces). */
    respond?: { times: number; status: number; type: string; message: string };
  } = {};
  assumedRoles: string[] = [];
  /**
   * The message of the refusal to read a secret scheduled for deletion. AWS words it as MESSAGES.deleted; another
   * Secrets Manager implementation says MESSAGES.deletedOther. Tests run the provider against both.
   */
  deletedMessage: string = MESSAGES.deleted;

  put(name: string, value: string | Buffer, stages: string[] = ['AWSCURRENT']): Secret {
    let secret = this.secrets.get(name);
    if (!secret) {
      const suffix = randomUUID().replace(/-/g, '').slice(0, 6);
      secret = { name, arn: `arn:aws:secretsmanager:${this.region}:${ACCOUNT}:secret:${name}-${suffix}`, versions: [] };
      this.secrets.set(name, secret);
    }
    // The new version takes the stages; AWSCURRENT moving on leaves AWSPREVIOUS behind, as the service does.
    for (const version of secret.versions) {
      if (stages.includes('AWSCURRENT') && version.stages.includes('AWSCURRENT')) version.stages = ['AWSPREVIOUS'];
      else version.stages = version.stages.filter((stage) => !stages.includes(stage) && (stage !== 'AWSPREVIOUS' || !stages.includes('AWSCURRENT')));
    }
    const version: Version = { versionId: randomUUID(), stages: [...stages], createdDate: 1_762_000_000.123 };
    if (typeof value === 'string') version.secretString = value;
    else version.secretBinary = value;
    secret.versions.push(version);
    return secret;
  }

  deny(accessKeyId: string, rule: string): void {
    if (!this.denied.has(accessKeyId)) this.denied.set(accessKeyId, new Set());
    this.denied.get(accessKeyId)!.add(rule);
  }

  find(secretId: string): Secret | undefined {
    for (const secret of this.secrets.values()) {
      if (secret.name === secretId || secret.arn === secretId || secret.arn.slice(0, -7) === secretId) return secret;
    }
    return undefined;
  }
}

export interface SecretsManagerStandIn {
  url: string;
  state: SecretsState;
  requests: RequestRecord[];
  /** Requests for an operation (`GetSecretValue`, `BatchGetSecretValue`, ...), or all. */
  count(operation?: string): number;
  stop(): Promise<void>;
}

export const MESSAGES = {
  notFound: "Secrets Manager can't find the specified secret.",
  deleted: "You can't perform this operation on the secret because it was marked for deletion.",
  deletedOther: "You tried to perform the operation on a secret that's currently marked deleted.",
  decryption: "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
  throttled: 'Rate exceeded',
  internal: 'An error occurred on the server side.',
  badToken: 'The security token included in the request is invalid.',
};

class ServiceError {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly message: string,
  ) {}
}

export async function start(): Promise<SecretsManagerStandIn> {
  const state = new SecretsState();
  const requests: RequestRecord[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((request, response) => void handle(state, requests, request, response));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    requests,
    count: (operation) => requests.filter((record) => !operation || record.operation === operation).length,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function handle(state: SecretsState, requests: RequestRecord[], request: IncomingMessage, response: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  const target = String(request.headers['x-amz-target'] ?? '');
  const authorization = String(request.headers.authorization ?? '');
  const accessKeyId = /Credential=([^/]+)\//.exec(authorization)?.[1];
  const operation = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : new URLSearchParams(raw).get('Action') ?? 'Unknown';
  const record: RequestRecord = { path: new URL(request.url ?? '/', 'http://stand-in').pathname, operation, accessKeyId, status: 200, secretIds: [] };
  requests.push(record);
  const send = (status: number, body: string, contentType: string): void => {
    record.status = status;
    response.writeHead(status, { 'content-type': contentType, 'x-amzn-RequestId': randomUUID() });
    response.end(body);
  };
  const fail = (error: ServiceError): void => send(error.status, JSON.stringify({ __type: error.type, Message: error.message }), 'application/x-amz-json-1.1');

  if (state.mode.hang && state.mode.hang > 0) {
    state.mode.hang--;
    return; // no answer: the client's deadline must end it
  }
  if (state.mode.latencyMs) await new Promise((resolve) => setTimeout(resolve, state.mode.latencyMs));
  if (!authorization.startsWith('AWS4-HMAC-SHA256')) return fail(new ServiceError(400, 'MissingAuthenticationTokenException', 'Missing Authentication Token'));
  if (operation === 'AssumeRole') return send(200, assumeRole(state, new URLSearchParams(raw)), 'text/xml');
  if (state.knownKeys.size > 0 && (!accessKeyId || !state.knownKeys.has(accessKeyId))) return fail(new ServiceError(400, 'UnrecognizedClientException', MESSAGES.badToken));
  if (state.mode.throttle && state.mode.throttle > 0) {
    state.mode.throttle--;
    return fail(new ServiceError(400, 'ThrottlingException', MESSAGES.throttled));
  }
  const rate = state.mode.writeRate;
  if (rate && ['CreateSecret', 'PutSecretValue', 'TagResource', 'DeleteSecret', 'RestoreSecret'].includes(operation)) {
    const now = rate.now();
    rate.tokens = Math.min(rate.perSecond, (rate.tokens ?? rate.perSecond) + ((now - (rate.last ?? now)) / 1000) * rate.perSecond);
    rate.last = now;
    if (rate.tokens < 1) return fail(new ServiceError(400, 'ThrottlingException', MESSAGES.throttled));
    rate.tokens -= 1;
  }
  if (state.mode.respond && state.mode.respond.times > 0) {
    state.mode.respond.times--;
    return fail(new ServiceError(state.mode.respond.status, state.mode.respond.type, state.mode.respond.message));
  }
  if (state.mode.fail500 && state.mode.fail500 > 0) {
    state.mode.fail500--;
    return fail(new ServiceError(500, 'InternalServiceError', MESSAGES.internal));
  }
  const denied = (rule: string): boolean => (accessKeyId ? state.denied.get(accessKeyId)?.has(rule) === true : false);
  const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  try {
    if (denied(operation)) throw new ServiceError(400, 'AccessDeniedException', `User: arn:aws:iam::${ACCOUNT}:user/${accessKeyId} is not authorized to perform: secretsmanager:${operation}`);
    const result = operate(state, operation, body, denied, record);
    const failAfter = state.mode.failAfter;
    if (failAfter && failAfter.operation === operation && failAfter.times > 0) {
      failAfter.times--;
      return fail(new ServiceError(500, 'InternalServiceError', MESSAGES.internal));
    }
    send(200, JSON.stringify(result), 'application/x-amz-json-1.1');
  } catch (error) {
    if (error instanceof ServiceError) return fail(error);
    fail(new ServiceError(500, 'InternalServiceError', MESSAGES.internal));
  }
}

function operate(state: SecretsState, operation: string, body: Record<string, unknown>, denied: (rule: string) => boolean, record: RequestRecord): unknown {
  switch (operation) {
    case 'GetSecretValue': {
      const id = String(body.SecretId ?? '');
      record.secretIds.push(id);
      return valueOf(state, id, body.VersionStage as string | undefined, body.VersionId as string | undefined, denied);
    }
    case 'BatchGetSecretValue': {
      let ids: string[];
      if (Array.isArray(body.SecretIdList)) {
        ids = body.SecretIdList.map(String);
        if (ids.length < 1 || ids.length > 20) throw new ServiceError(400, 'InvalidParameterException', 'SecretIdList must contain between 1 and 20 secret IDs.');
      } else {
        const filters = (body.Filters as Array<{ Key: string; Values: string[] }> | undefined) ?? [];
        const prefixes = filters.filter((filter) => filter.Key === 'name').flatMap((filter) => filter.Values);
        ids = [...state.secrets.values()].filter((secret) => prefixes.length === 0 || prefixes.some((prefix) => secret.name.startsWith(prefix))).map((secret) => secret.name).slice(0, Number(body.MaxResults ?? 20));
      }
      record.secretIds.push(...ids);
      const SecretValues: unknown[] = [];
      const Errors: unknown[] = [];
      for (const id of ids) {
        try {
          SecretValues.push(valueOf(state, id, undefined, undefined, denied));
        } catch (error) {
          if (!(error instanceof ServiceError)) throw error;
          Errors.push({ SecretId: id, ErrorCode: error.type, Message: error.message });
        }
      }
      return { SecretValues, Errors, NextToken: null };
    }
    case 'ListSecrets': {
      const maxResults = Number(body.MaxResults ?? 100);
      if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 100) throw new ServiceError(400, 'InvalidParameterException', 'MaxResults must be between 1 and 100.');
      const filters = (body.Filters as Array<{ Key: string; Values: string[] }> | undefined) ?? [];
      // AWS: the name filter is a prefix match and not case-sensitive.
      const prefixes = filters.filter((filter) => filter.Key === 'name').flatMap((filter) => filter.Values.map((value) => value.toLowerCase()));
      const all = [...state.secrets.values()].filter((secret) => (body.IncludePlannedDeletion || !secret.deletedDate) && (prefixes.length === 0 || prefixes.some((prefix) => secret.name.toLowerCase().startsWith(prefix))));
      const start = body.NextToken ? Number(Buffer.from(String(body.NextToken), 'base64').toString('utf8')) : 0;
      const page = all.slice(start, start + maxResults);
      const next = start + maxResults < all.length ? Buffer.from(String(start + maxResults)).toString('base64') : null;
      return {
        SecretList: page.map((secret) => ({
          ARN: secret.arn,
          Name: secret.name,
          ...(secret.description ? { Description: secret.description } : {}),
          LastChangedDate: secret.lastChangedDate ?? 1_762_000_000.123,
          ...(secret.tags ? { Tags: Object.entries(secret.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
          SecretVersionsToStages: Object.fromEntries(secret.versions.filter((version) => version.stages.length).map((version) => [version.versionId, version.stages])),
          ...(secret.deletedDate ? { DeletedDate: secret.deletedDate } : {}),
        })),
        ...(next ? { NextToken: next } : {}),
      };
    }
    case 'DescribeSecret': {
      const secret = state.find(String(body.SecretId ?? ''));
      if (!secret) throw new ServiceError(400, 'ResourceNotFoundException', MESSAGES.notFound);
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.description ? { Description: secret.description } : {}),
        LastChangedDate: secret.lastChangedDate ?? 1_762_000_000.123,
        ...(secret.deletedDate ? { DeletedDate: secret.deletedDate } : {}),
        ...(secret.tags ? { Tags: Object.entries(secret.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
        VersionIdsToStages: Object.fromEntries(secret.versions.filter((version) => version.stages.length).map((version) => [version.versionId, version.stages])),
      };
    }
    case 'CreateSecret': {
      const name = String(body.Name ?? '');
      const existing = state.find(name);
      if (existing?.deletedDate) throw new ServiceError(400, 'InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
      if (existing) throw new ServiceError(400, 'ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
      if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) throw new ServiceError(400, 'InvalidParameterException', 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!');
      const value = typeof body.SecretString === 'string' ? body.SecretString : Buffer.from(String(body.SecretBinary ?? ''), 'base64');
      const secret = state.put(name, value);
      secret.tags = Object.fromEntries(((body.Tags as Array<{ Key: string; Value: string }> | undefined) ?? []).map((tag) => [tag.Key, tag.Value]));
      if (typeof body.Description === 'string') secret.description = body.Description;
      remember(secret, body, value);
      return { ARN: secret.arn, Name: secret.name, VersionId: secret.versions.at(-1)!.versionId };
    }
    case 'PutSecretValue': {
      const secret = state.find(String(body.SecretId ?? ''));
      if (!secret) throw new ServiceError(400, 'ResourceNotFoundException', MESSAGES.notFound);
      if (secret.deletedDate) throw new ServiceError(400, 'InvalidRequestException', state.deletedMessage);
      const value = typeof body.SecretString === 'string' ? body.SecretString : Buffer.from(String(body.SecretBinary ?? ''), 'base64');
      const token = typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : undefined;
      const earlier = token ? secret.tokens?.get(token) : undefined;
      if (earlier) {
        // The same token again: the same version if the value matches, else a refusal (as the service does).
        if (earlier.value !== String(value)) throw new ServiceError(400, 'ResourceExistsException', 'You can\'t modify an existing version, you can only create a new version.');
        const version = secret.versions.find((candidate) => candidate.versionId === earlier.versionId)!;
        return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: version.stages };
      }
      state.put(secret.name, value, (body.VersionStages as string[] | undefined) ?? ['AWSCURRENT']);
      remember(secret, body, value);
      return { ARN: secret.arn, Name: secret.name, VersionId: secret.versions.at(-1)!.versionId, VersionStages: secret.versions.at(-1)!.stages };
    }
    case 'TagResource': {
      const secret = state.find(String(body.SecretId ?? ''));
      if (!secret) throw new ServiceError(400, 'ResourceNotFoundException', MESSAGES.notFound);
      for (const tag of (body.Tags as Array<{ Key: string; Value: string }> | undefined) ?? []) (secret.tags ??= {})[tag.Key] = tag.Value;
      return {};
    }
    case 'DeleteSecret': {
      const secret = state.find(String(body.SecretId ?? ''));
      if (!secret) throw new ServiceError(400, 'ResourceNotFoundException', MESSAGES.notFound);
      if (body.ForceDeleteWithoutRecovery && body.RecoveryWindowInDays !== undefined) throw new ServiceError(400, 'InvalidParameterException', 'You can\'t use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.');
      const days = Number(body.RecoveryWindowInDays ?? 30);
      if (!body.ForceDeleteWithoutRecovery && (days < 7 || days > 30)) throw new ServiceError(400, 'InvalidParameterException', 'RecoveryWindowInDays must be between 7 and 30.');
      const deletionDate = 1_762_000_000 + (body.ForceDeleteWithoutRecovery ? 0 : days * 86_400);
      if (body.ForceDeleteWithoutRecovery) state.secrets.delete(secret.name);
      else secret.deletedDate = deletionDate;
      return { ARN: secret.arn, Name: secret.name, DeletionDate: deletionDate };
    }
    case 'RestoreSecret': {
      // Cancels a scheduled deletion. The stand-in answers a secret that is not scheduled for deletion the same way
      // (the real service's answer to that case is not in the reference notes).
      const secret = state.find(String(body.SecretId ?? ''));
      if (!secret) throw new ServiceError(400, 'ResourceNotFoundException', MESSAGES.notFound);
      delete secret.deletedDate;
      return { ARN: secret.arn, Name: secret.name };
    }
    default:
      throw new ServiceError(400, 'UnknownOperationException', `Unknown operation ${operation}`);
  }
}

function remember(secret: Secret, body: Record<string, unknown>, value: string | Buffer): void {
  secret.lastChangedDate = 1_762_000_000.123 + secret.versions.length;
  if (typeof body.ClientRequestToken === 'string') (secret.tokens ??= new Map()).set(body.ClientRequestToken, { versionId: secret.versions.at(-1)!.versionId, value: String(value) });
}

function valueOf(state: SecretsState, id: string, stage: string | undefined, versionId: string | undefined, denied: (rule: string) => boolean): unknown {
  if (!/^[A-Za-z0-9/_+=.@:-]+$/.test(id)) throw new ServiceError(400, 'InvalidParameterException', 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!');
  const secret = state.find(id);
  if (!secret) throw new ServiceError(400, 'ResourceNotFoundException', MESSAGES.notFound);
  if (denied(`GetSecretValue:${secret.name}`)) throw new ServiceError(400, 'AccessDeniedException', `User is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id}`);
  if (secret.deletedDate) throw new ServiceError(400, 'InvalidRequestException', state.deletedMessage);
  if (secret.kmsFailure) throw new ServiceError(400, 'DecryptionFailure', MESSAGES.decryption);
  const wanted = versionId ?? undefined;
  const version = secret.versions.find((candidate) => (wanted ? candidate.versionId === wanted : candidate.stages.includes(stage ?? 'AWSCURRENT')));
  if (!version) throw new ServiceError(400, 'ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${stage ?? 'AWSCURRENT'}`);
  return {
    ARN: secret.arn,
    Name: secret.name,
    VersionId: version.versionId,
    ...(version.secretString !== undefined ? { SecretString: version.secretString } : { SecretBinary: version.secretBinary!.toString('base64') }),
    VersionStages: version.stages,
    CreatedDate: version.createdDate,
  };
}

function assumeRole(state: SecretsState, params: URLSearchParams): string {
  const roleArn = params.get('RoleArn') ?? '';
  state.assumedRoles.push(roleArn);
  const keyId = `ASIA${randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase()}`;
  if (state.knownKeys.size > 0) state.knownKeys.add(keyId);
  return `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>${keyId}</AccessKeyId><SecretAccessKey>stand-in-secret</SecretAccessKey><SessionToken>stand-in-session</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>${roleArn}/secretbind</Arn><AssumedRoleId>AROA:secretbind</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`;
}
