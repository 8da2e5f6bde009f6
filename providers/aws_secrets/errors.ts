/** The aws_secrets error table: the SDK's error names mapped as the reference notes on the Secrets Manager API say (their table is kept in test/fixtures/reference/aws-secrets-manager.json). */
import { SecretbindError, WithheldError, type SecretStore } from 'secretbind';

const TYPE = 'aws_secrets';
const CREDENTIALS_MISSING = 'Unable to locate AWS credentials: attach an IAM role, set AWS_PROFILE, or set aws_profile on the store';

/** The SDK's error names, mapped as the reference's table says; messages are ours. */
export function mapError(error: unknown, what: string, store: SecretStore): SecretbindError {
  if (error instanceof SecretbindError) return error;
  const name = (error as { name?: string })?.name ?? '';
  const message = String((error as Error)?.message ?? '');
  const context = { storeType: TYPE, cause: error };
  switch (name) {
    case 'ResourceNotFoundException':
      return new SecretbindError('ENTRY_NOT_FOUND', `No secret ${what} in Secrets Manager (or no version in that stage).`, context);
    case 'InvalidRequestException':
      // Implementations word the deleted-secret refusal differently; the provider asks DescribeSecret for DeletedDate
      // (see deletedOrInvalid). This loose match serves only where that question cannot be asked.
      return /\bdelet/i.test(message) ? deletedSecret(what, undefined, error) : new SecretbindError('CONFIG_INVALID', `Secrets Manager refused the request for ${what} as invalid.`, context);
    case 'InvalidParameterException':
      return new SecretbindError('REFERENCE_INVALID', `${what} is not a valid secret name or ARN.`, context);
    case 'AccessDeniedException':
      return new SecretbindError('PERMISSION_DENIED', `AWS denied reading ${what}: grant secretsmanager:GetSecretValue${what.includes('secrets') ? ' and secretsmanager:BatchGetSecretValue' : ''} to this identity.`, context);
    case 'DecryptionFailure':
      return new SecretbindError('PERMISSION_DENIED', `Secret ${what} cannot be decrypted: its KMS key is disabled or denies kms:Decrypt to this identity.`, context);
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
    case 'IncompleteSignature':
    case 'InvalidClientTokenId':
      return new SecretbindError('AUTH_FAILED', `AWS rejected the credentials (${name}): check the keys, profile or role of store ${JSON.stringify(store.name)}.`, context);
    case 'CredentialsProviderError':
      return new SecretbindError('AUTH_FAILED', CREDENTIALS_MISSING, context);
    case 'ResourceExistsException':
      return new SecretbindError('CONFLICT', `Secrets Manager says ${what} already exists (or that version does): it was created meanwhile; read it again.`, context);
    case 'LimitExceededException':
      return new SecretbindError('RATE_LIMITED', `Secrets Manager refused ${what}: a quota is exhausted (LimitExceededException); it is retried later.`, { ...context, retryable: true });
    case 'ThrottlingException':
      return new SecretbindError('RATE_LIMITED', `Secrets Manager throttled the request for ${what} after the SDK's retries.`, context);
    case 'InternalServiceError':
      return new SecretbindError('BACKEND_UNAVAILABLE', `Secrets Manager failed on ${what} (InternalServiceError) after the SDK's retries.`, context);
    default:
      if (/Region is missing/i.test(message)) return new SecretbindError('CONFIG_INVALID', `Store ${JSON.stringify(store.name)} has no region: set aws_region (or AWS_REGION).`, context);
      return new SecretbindError('BACKEND_UNAVAILABLE', `Secrets Manager is unreachable or failed (${name || 'error'}) on ${what}.`, { storeType: TYPE, cause: new WithheldError(error) });
  }
}

/** ENTRY_NOT_FOUND for a secret scheduled for deletion, which can still be restored. */
export function deletedSecret(what: string, deletedDate: Date | undefined, cause: unknown): SecretbindError {
  const when = deletedDate && !Number.isNaN(deletedDate.getTime()) ? ` (deletion scheduled on ${deletedDate.toISOString()})` : '';
  return new SecretbindError('ENTRY_NOT_FOUND', `Secret ${what} is scheduled for deletion${when}: it can be restored with RestoreSecret until then, or bind another.`, { storeType: TYPE, cause });
}

/** Whether a mapped error came from an InvalidRequestException, the code every deleted-secret refusal carries. */
export function isInvalidRequest(error: unknown): boolean {
  return error instanceof SecretbindError && (error.cause as { name?: string } | undefined)?.name === 'InvalidRequestException';
}
