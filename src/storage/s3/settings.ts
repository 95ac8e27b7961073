// Where an S3 store lives and how to reach it. No AWS SDK here: this module is loaded by
// config and --help paths, the SDK only by commands that open an S3 store.
import { UsageError } from '../../errors.ts';
import { REDACTED, redactUrl, registerSecret, registerUrlSecrets } from '../../redact.ts';

export interface S3Location {
  bucket: string;
  /** Key prefix of the store: '' or ending in '/'. */
  prefix: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses s3://BUCKET[/PREFIX]; the canonical URL is s3://BUCKET/ or s3://BUCKET/PREFIX/. */
export function parseS3Url(url: string): S3Location {
  // A password in the URL (s3://KEY:SECRET@bucket/) is hidden from every output first.
  registerUrlSecrets(url);
  const authority = /^s3:\/\/([^/?#]*)/i.exec(url)?.[1] ?? '';
  if (authority.includes('@')) {
    throw new UsageError(
      `the S3 URL ${redactUrl(url)} holds credentials: an s3:// root names only the bucket and prefix`,
      'give the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the s3 section of the config file',
      'bad_root',
    );
  }
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/i.exec(url);
  if (!m) throw new UsageError(`not an S3 URL: ${url}`, 'write s3://BUCKET/PREFIX', 'bad_root');
  const bucket = m[1]!;
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new UsageError(`invalid bucket name ${JSON.stringify(bucket)} in ${url}`, 'bucket names are 3-63 lower-case letters, digits, dots and hyphens', 'bad_root');
  }
  let prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix && prefix.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new UsageError(`invalid prefix in ${url}: empty, "." or ".." segment`, undefined, 'bad_root');
  }
  if (prefix) prefix += '/';
  return { bucket, prefix };
}

export function s3Url(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.prefix}`;
}

export type ChecksumMode = 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';

/** Settings storectl adds to the SDK's own chain (AWS_* variables, ~/.aws/config and credentials). */
export interface S3Settings {
  endpoint?: string;
  region?: string;
  profile?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  forcePathStyle: boolean;
  /** requestChecksumCalculation / responseChecksumValidation; WHEN_REQUIRED for endpoints other than AWS. */
  checksumMode: ChecksumMode;
  /**
   * Send x-amz-checksum-sha256 with uploads, so the server refuses corrupted bytes: the catalog's
   * SHA-256 with a single PutObject, the SDK's SHA-256 of each part with a multipart upload.
   */
  sendSha256: boolean;
  /** Multipart part size in bytes and parts in flight (lib-storage). */
  partSize: number;
  partsInParallel: number;
  /** SDK attempts per request (throttling and 5xx are retried with its backoff). */
  maxAttempts: number;
}

export const S3_CONFIG_KEYS = [
  'endpoint',
  'region',
  'profile',
  'accessKeyId',
  'secretAccessKey',
  'sessionToken',
  'forcePathStyle',
  'checksumMode',
  'sendSha256',
  'partSize',
  'partsInParallel',
  'maxAttempts',
] as const;
/** Keys whose values are never printed, logged or put in JSON. */
export const S3_SECRET_KEYS = new Set(['secretAccessKey', 'sessionToken']);

const bool = (v: string | undefined): boolean | undefined => (v === undefined || v === '' ? undefined : /^(1|true|yes|on)$/i.test(v));

export type SettingSource = 'env' | 'file' | 'default' | 'sdk';

export interface ResolvedS3Settings {
  settings: S3Settings;
  sources: Record<(typeof S3_CONFIG_KEYS)[number], SettingSource>;
}

/**
 * storectl's S3 settings from the config file's `s3` section and STORECTL_S3_* variables
 * (environment over file); what neither names is left to the SDK's standard chain.
 */
export function resolveS3Settings(section: unknown, env: NodeJS.ProcessEnv): ResolvedS3Settings {
  const file = checkS3Section(section);
  const sources = {} as ResolvedS3Settings['sources'];
  const pick = <K extends (typeof S3_CONFIG_KEYS)[number]>(key: K, envValue: unknown, sdkValue?: unknown): unknown => {
    if (envValue !== undefined) {
      sources[key] = 'env';
      return envValue;
    }
    if (file[key] !== undefined) {
      sources[key] = 'file';
      return file[key];
    }
    sources[key] = sdkValue !== undefined ? 'sdk' : 'default';
    return undefined;
  };
  const num = (v: string | undefined) => (v ? Number(v) : undefined);
  const endpoint = pick('endpoint', env.STORECTL_S3_ENDPOINT || undefined, env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined) as string | undefined;
  const region = pick('region', env.STORECTL_S3_REGION || undefined, env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined) as string | undefined;
  const profile = pick('profile', undefined, env.AWS_PROFILE || undefined) as string | undefined;
  const accessKeyId = pick('accessKeyId', undefined, env.AWS_ACCESS_KEY_ID || undefined) as string | undefined;
  const secretAccessKey = pick('secretAccessKey', undefined, env.AWS_SECRET_ACCESS_KEY || undefined) as string | undefined;
  const sessionToken = pick('sessionToken', undefined, env.AWS_SESSION_TOKEN || undefined) as string | undefined;
  registerS3Secrets({ secretAccessKey, sessionToken, endpoint }, env);
  const customEndpoint = Boolean(endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
  const forcePathStyle = (pick('forcePathStyle', bool(env.STORECTL_S3_FORCE_PATH_STYLE)) as boolean | undefined) ?? false;
  const checksumRaw = pick('checksumMode', env.STORECTL_S3_CHECKSUM_MODE || undefined) as string | undefined;
  const checksumMode = checksumRaw ? checkChecksumMode(checksumRaw) : customEndpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  const sendSha256 = (pick('sendSha256', bool(env.STORECTL_S3_SEND_SHA256)) as boolean | undefined) ?? true;
  const partSize = (pick('partSize', num(env.STORECTL_S3_PART_SIZE)) as number | undefined) ?? 8 * 1024 * 1024;
  const partsInParallel = (pick('partsInParallel', num(env.STORECTL_S3_PARTS_IN_PARALLEL)) as number | undefined) ?? 4;
  const maxAttempts = (pick('maxAttempts', num(env.STORECTL_S3_MAX_ATTEMPTS)) as number | undefined) ?? 5;
  for (const [k, v] of Object.entries({ partSize, partsInParallel, maxAttempts })) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`s3.${k} must be a positive integer, not ${JSON.stringify(v)}`, undefined, 'config');
  }
  if (partSize < 5 * 1024 * 1024) throw new UsageError('s3.partSize must be at least 5 MiB (5242880): S3 refuses smaller multipart parts', undefined, 'config');
  return {
    settings: { endpoint, region, profile, accessKeyId, secretAccessKey, sessionToken, forcePathStyle, checksumMode, sendSha256, partSize, partsInParallel, maxAttempts },
    sources,
  };
}

function checkChecksumMode(v: string): ChecksumMode {
  const u = v.toUpperCase();
  if (u !== 'WHEN_REQUIRED' && u !== 'WHEN_SUPPORTED') throw new UsageError(`s3.checksumMode must be WHEN_REQUIRED or WHEN_SUPPORTED, not ${JSON.stringify(v)}`, undefined, 'config');
  return u;
}

function checkS3Section(section: unknown): Partial<Record<(typeof S3_CONFIG_KEYS)[number], unknown>> {
  if (section === undefined || section === null) return {};
  if (typeof section !== 'object' || Array.isArray(section)) throw new UsageError('config key "s3" must be a mapping', undefined, 'config');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(section)) {
    if (!(S3_CONFIG_KEYS as readonly string[]).includes(k)) throw new UsageError(`config file: unknown key "s3.${k}"`, `known keys: ${S3_CONFIG_KEYS.map((x) => `s3.${x}`).join(', ')}`, 'config');
    const want = k === 'forcePathStyle' || k === 'sendSha256' ? 'boolean' : k === 'partSize' || k === 'partsInParallel' || k === 'maxAttempts' ? 'number' : 'string';
    if (typeof v !== want) throw new UsageError(`config file: "s3.${k}" must be a ${want}`, undefined, 'config');
    out[k] = v;
  }
  return out;
}

/**
 * The S3 secrets this run knows go into the redaction registry, so that no error, --json error,
 * `config` output, log line or runs row prints them: the secret key and session token (config
 * file or AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN) and a password in an endpoint URL.
 */
export function registerS3Secrets(s: { secretAccessKey?: string; sessionToken?: string; endpoint?: string }, env: NodeJS.ProcessEnv = {}): void {
  for (const v of [s.secretAccessKey, s.sessionToken, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN]) registerSecret(v);
  for (const u of [s.endpoint, env.STORECTL_S3_ENDPOINT, env.AWS_ENDPOINT_URL_S3, env.AWS_ENDPOINT_URL]) registerUrlSecrets(u);
}

/** The settings as `storectl config` shows them: secrets replaced, sources named. */
export function describeS3Settings(r: ResolvedS3Settings): Record<string, { value: unknown; source: SettingSource }> {
  const out: Record<string, { value: unknown; source: SettingSource }> = {};
  for (const k of S3_CONFIG_KEYS) {
    const v = r.settings[k];
    const value =
      S3_SECRET_KEYS.has(k) && v !== undefined
        ? REDACTED
        : k === 'accessKeyId' && typeof v === 'string'
          ? redactKeyId(v)
          : k === 'endpoint' && typeof v === 'string'
            ? redactUrl(v)
            : (v ?? null);
    out[k] = { value, source: r.sources[k] };
  }
  return out;
}

/** An access key id is not a secret, but it need not be printed whole either. */
function redactKeyId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 4)}…${id.slice(-4)}` : REDACTED;
}
