// S3 failures as one line with the contract's exit code. The SDK has already retried
// throttling and 5xx with its backoff (maxAttempts) when one of these reaches us.
import { FailedError, StorectlError, UsageError } from '../../errors.ts';
import type { S3Location } from './settings.ts';

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $fault?: 'client' | 'server';
  cause?: unknown;
  errors?: unknown[];
}

export function isNotFound(err: unknown): boolean {
  const e = err as SdkError;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || (e?.$metadata?.httpStatusCode === 404 && e?.name !== 'NoSuchBucket');
}

/** The network-level code of an error the SDK passed through (ECONNREFUSED, ENOTFOUND, ...). */
function netCode(err: unknown): string | undefined {
  for (let e = err as SdkError | undefined, depth = 0; e && depth < 5; e = e.cause as SdkError | undefined, depth++) {
    if (e.code && /^E[A-Z]+$/.test(e.code)) return e.code;
    for (const sub of e.errors ?? []) {
      const c = (sub as SdkError).code;
      if (c && /^E[A-Z]+$/.test(c)) return c;
    }
  }
  return undefined;
}

export function describeS3Error(err: unknown, loc: S3Location, key?: string): StorectlError {
  if (err instanceof StorectlError) return err;
  const e = err as SdkError;
  const where = `s3://${loc.bucket}/${loc.prefix}${key ?? ''}`;
  const status = e?.$metadata?.httpStatusCode;
  const name = e?.name ?? '';
  const net = netCode(err);
  if (net) {
    return new UsageError(`cannot reach the S3 endpoint for ${where}: ${net}`, 'check s3.endpoint / AWS_ENDPOINT_URL_S3 and that the server is up', 's3_endpoint');
  }
  if (name === 'NoSuchBucket' || (status === 404 && !key && name === 'NotFound')) {
    return new UsageError(`no such bucket: ${loc.bucket}`, 'check --root s3://BUCKET/PREFIX and the endpoint', 's3_no_bucket');
  }
  if (name === 'ExpiredToken' || name === 'TokenRefreshRequired' || name === 'RequestExpired' || name === 'ExpiredTokenException') {
    return new UsageError(`S3 credentials have expired (${name}) for ${where}`, 'renew the session (AWS_SESSION_TOKEN / AWS_PROFILE) and run again', 's3_credentials');
  }
  if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'CredentialsProviderError') {
    return new UsageError(`S3 credentials refused (${name}) for ${where}`, 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or s3.* in the config', 's3_credentials');
  }
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
    return new UsageError(`access denied to ${where}`, 'check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and their permission on this bucket and prefix', 's3_access_denied');
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return new UsageError(`wrong region or endpoint for bucket ${loc.bucket} (${name || status})`, 'set AWS_REGION / s3.region to the bucket\'s region', 's3_endpoint');
  }
  const attempts = e?.$metadata?.attempts;
  const detail = `${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${(e?.message ?? String(err)).split('\n')[0]}`;
  return new FailedError(`S3 request for ${where} failed${attempts && attempts > 1 ? ` after ${attempts} attempts` : ''}: ${detail}`, undefined, 's3_failed');
}
