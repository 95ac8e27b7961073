// BlobStore on an S3-compatible bucket (AWS S3, MinIO, ...), AWS SDK v3. Loaded only by
// openBlobStore for an s3:// root, so no other command pays for the SDK.
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import {
  S3Client,
  GetObjectCommand,
  HeadObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  CopyObjectCommand,
  type S3ClientConfig,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  BlobChecksumError,
  BlobNotFoundError,
  inParallel,
  type BlobCapabilities,
  type BlobEntry,
  type BlobStore,
  type ByteRange,
  type ListOptions,
  type PresignedGet,
  type PresignOptions,
  type PutOptions,
  type PutResult,
  type RemoveResult,
} from '../blob.ts';
import { checkRelPath, isSafeRelPath } from '../paths.ts';
import { etagIsMd5Of } from '../etag.ts';
import { describeS3Error, isNotFound } from './errors.ts';
import { registerS3Secrets, s3Url, type S3Location, type S3Settings } from './settings.ts';
import { registerSecret } from '../../redact.ts';

export function makeS3Client(s: S3Settings): S3Client {
  // The SDK warns once per process on Node 20 (NodeVersionSupportWarning through
  // process.emitWarning) unless this variable is "true": stderr carries storectl's lines only.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  registerS3Secrets(s);
  const cfg: S3ClientConfig = {
    forcePathStyle: s.forcePathStyle,
    requestChecksumCalculation: s.checksumMode,
    responseChecksumValidation: s.checksumMode,
    maxAttempts: s.maxAttempts,
  };
  if (s.endpoint) cfg.endpoint = s.endpoint;
  if (s.region) cfg.region = s.region;
  if (s.profile) cfg.profile = s.profile;
  if (s.accessKeyId && s.secretAccessKey) {
    cfg.credentials = { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, sessionToken: s.sessionToken };
  }
  // A custom endpoint (MinIO, ...) needs some region for SigV4; us-east-1 is what such servers expect.
  if (!s.region && !process.env.AWS_REGION && !process.env.AWS_DEFAULT_REGION && (s.endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL)) {
    cfg.region = 'us-east-1';
  }
  return new S3Client(cfg);
}

/** Keys under the store's reserved .storectl/ (its own state): never data, never listed. */
const isReservedKey = (rel: string) => rel === '.storectl' || rel.startsWith('.storectl/');

const hexToBase64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const identityOf = (etag: string | undefined) => `etag:${etag ?? ''}`;

export class S3BlobStore implements BlobStore {
  readonly url: string;
  readonly capabilities: BlobCapabilities;

  constructor(
    readonly client: S3Client,
    readonly loc: S3Location,
    readonly settings: S3Settings,
  ) {
    this.url = s3Url(loc);
    this.capabilities = {
      kind: 's3',
      symlinks: false,
      hardLinks: false,
      verifiesSha256OnPut: settings.sendSha256,
      removeBatchSize: 1000,
      removeConcurrency: 4,
    };
  }

  private objectKey(key: string): string {
    return this.loc.prefix + checkRelPath(key);
  }

  /** One request that fails as the first real one would: no such bucket, access denied, wrong endpoint. */
  async probe(): Promise<void> {
    try {
      // The credentials the SDK's chain found (a profile, an SSO cache, ...) are secrets too; the
      // provider is memoised, so the request below reuses what this resolves.
      const creds = await this.client.config.credentials().catch(() => undefined);
      registerSecret(creds?.secretAccessKey);
      registerSecret(creds?.sessionToken);
      await this.client.send(new HeadBucketCommand({ Bucket: this.loc.bucket }));
    } catch (err) {
      throw describeS3Error(err, this.loc);
    }
  }

  async put(key: string, data: Uint8Array | Readable, opts: PutOptions = {}): Promise<PutResult> {
    const Key = this.objectKey(key);
    const single = data instanceof Uint8Array && data.length <= this.settings.partSize;
    const sendSha = Boolean(opts.sha256 && this.settings.sendSha256 && single);
    let etagIsMd5: boolean | undefined;
    try {
      if (single) {
        // Content-MD5 of the buffer sent: S3 and MinIO refuse a body that does not match it
        // (BadDigest), and a plain object's ETag is the MD5 the server computed of what it got.
        const md5 = createHash('md5').update(data).digest();
        const sent = await this.client.send(
          new PutObjectCommand({
            Bucket: this.loc.bucket,
            Key,
            Body: data,
            ContentLength: data.length,
            ContentType: opts.contentType,
            ...(opts.storageClass ? { StorageClass: opts.storageClass as StorageClass } : {}),
            ChecksumSHA256: sendSha ? hexToBase64(opts.sha256!) : undefined,
            ContentMD5: md5.toString('base64'),
          }),
        );
        etagIsMd5 = etagIsMd5Of(sent.ETag, md5.toString('hex'));
        if (opts.noHeadAfter) return { size: data.length, mtime: new Date(), identity: identityOf(sent.ETag), checksumVerified: sendSha, etagIsMd5 };
      } else {
        // Multipart, parts in parallel; the object appears only when CompleteMultipartUpload succeeds.
        // With sendSha256, the upload is created with ChecksumAlgorithm SHA256 and every UploadPart
        // carries x-amz-checksum-sha256 of its bytes (computed by the SDK over the part), so that
        // the server refuses a corrupted part (BadDigest), and CompleteMultipartUpload lists the
        // part checksums the server returned. S3 keeps a SHA-256 of a multipart object only as a
        // checksum of its parts' checksums (full-object checksums exist for the CRCs only): the
        // catalog's SHA-256 of the whole cannot be sent, and the copy is not reported as verified.
        const up = new Upload({
          client: this.client,
          params: {
            Bucket: this.loc.bucket,
            Key,
            Body: data,
            ContentType: opts.contentType,
            ...(opts.storageClass ? { StorageClass: opts.storageClass as StorageClass } : {}),
            ...(this.settings.sendSha256 ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
          },
          partSize: this.settings.partSize,
          queueSize: this.settings.partsInParallel,
          leavePartsOnError: false,
        });
        await up.done();
      }
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (single && (name === 'BadDigest' || name === 'InvalidDigest')) throw new BlobChecksumError(key, `the server refused the upload (${name}: the body did not match the ${sendSha ? 'Content-MD5 or x-amz-checksum-sha256' : 'Content-MD5'} sent with it)`);
      if ((sendSha || (!single && this.settings.sendSha256)) && (name === 'BadDigest' || name === 'InvalidRequest' || /checksum/i.test(name ?? ''))) {
        throw new BlobChecksumError(key, `the server refused the upload (${name})`);
      }
      throw describeS3Error(err, this.loc, key);
    }
    const head = await this.stat(key);
    if (!head) throw new Error(`${key}: uploaded but not found afterwards`);
    return { size: head.size, mtime: head.mtime, identity: head.identity, checksumVerified: sendSha, ...(etagIsMd5 === undefined ? {} : { etagIsMd5 }) };
  }

  /** CopyObject within the bucket (up to 5 GB, S3's limit for one copy request). */
  async copy(from: string, to: string, opts: { contentType?: string } = {}) {
    const source = this.objectKey(from);
    const Key = this.objectKey(to);
    const CopySource = `${this.loc.bucket}/${source.split('/').map(encodeURIComponent).join('/')}`;
    try {
      await this.client.send(
        new CopyObjectCommand({ Bucket: this.loc.bucket, Key, CopySource, ...(opts.contentType ? { ContentType: opts.contentType, MetadataDirective: 'REPLACE' as const } : {}) }),
      );
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(from);
      throw describeS3Error(err, this.loc, to);
    }
    const head = await this.stat(to);
    if (!head) throw new Error(`${to}: copied but not found afterwards`);
    return { size: head.size, mtime: head.mtime, identity: head.identity };
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const Range = range ? `bytes=${range.start}-${range.end ?? ''}` : undefined;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: this.objectKey(key), Range }));
      return out.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(key);
      throw describeS3Error(err, this.loc, key);
    }
  }

  async stat(key: string) {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: this.objectKey(key) }));
      return { size: h.ContentLength ?? 0, mtime: h.LastModified ?? new Date(0), identity: identityOf(h.ETag), kind: 'file' as const };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw describeS3Error(err, this.loc, key);
    }
  }

  async *list(opts: ListOptions = {}): AsyncGenerator<BlobEntry[]> {
    const Prefix = this.loc.prefix + (opts.prefix ?? '');
    let ContinuationToken: string | undefined;
    const StartAfter = opts.startAfter !== undefined ? this.loc.prefix + opts.startAfter : undefined;
    for (;;) {
      let out;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix, MaxKeys: Math.min(opts.pageSize ?? 1000, 1000), ContinuationToken, StartAfter: ContinuationToken ? undefined : StartAfter }),
        );
      } catch (err) {
        throw describeS3Error(err, this.loc);
      }
      const page: BlobEntry[] = (out.Contents ?? []).filter((o) => !isReservedKey(o.Key!.slice(this.loc.prefix.length))).map((o) => {
        const key = o.Key!.slice(this.loc.prefix.length);
        return {
          key,
          kind: isSafeRelPath(key) ? ('file' as const) : ('other' as const),
          size: o.Size ?? 0,
          mtime: o.LastModified ?? new Date(0),
          identity: identityOf(o.ETag),
        };
      });
      if (page.length) yield page;
      if (!out.IsTruncated || !out.NextContinuationToken) return;
      ContinuationToken = out.NextContinuationToken;
    }
  }

  /**
   * The store's own state beside its objects (as <root>/.storectl/ on a local tree): the object
   * <prefix>.storectl/<name>, never listed as data, so that whatever machine opens the store
   * sees it (the restore marker). Written whole with one PutObject.
   */
  async readReserved(name: string): Promise<Buffer | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: this.reservedKey(name) }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return null;
      throw describeS3Error(err, this.loc, `.storectl/${name}`);
    }
  }

  async writeReserved(name: string, data: Buffer): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.loc.bucket, Key: this.reservedKey(name), Body: data, ContentLength: data.length, ContentType: 'application/json' }));
    } catch (err) {
      throw describeS3Error(err, this.loc, `.storectl/${name}`);
    }
  }

  async removeReserved(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.reservedKey(name) }));
    } catch (err) {
      if (!isNotFound(err)) throw describeS3Error(err, this.loc, `.storectl/${name}`);
    }
  }

  private reservedKey(name: string): string {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`internal: bad reserved object name ${JSON.stringify(name)}`);
    return `${this.loc.prefix}.storectl/${name}`;
  }

  async remove(key: string): Promise<RemoveResult> {
    let Key: string;
    try {
      Key = this.objectKey(key);
    } catch (err) {
      return { key, ok: false, error: (err as Error).message };
    }
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key }));
      return { key, ok: true };
    } catch (err) {
      return { key, ok: false, error: describeS3Error(err, this.loc, key).message };
    }
  }

  /** DeleteObjects in requests of up to 1,000 keys, several in flight; per-key errors kept. */
  async removeMany(keys: readonly string[]): Promise<RemoveResult[]> {
    const results: RemoveResult[] = new Array(keys.length);
    const valid: { i: number; Key: string }[] = [];
    keys.forEach((key, i) => {
      try {
        valid.push({ i, Key: this.objectKey(key) });
      } catch (err) {
        results[i] = { key, ok: false, error: (err as Error).message };
      }
    });
    const batches: (typeof valid)[] = [];
    for (let j = 0; j < valid.length; j += this.capabilities.removeBatchSize) batches.push(valid.slice(j, j + this.capabilities.removeBatchSize));
    await inParallel(batches, this.capabilities.removeConcurrency, async (batch) => {
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.loc.bucket, Delete: { Objects: batch.map((b) => ({ Key: b.Key })), Quiet: true } }),
        );
        const failed = new Map((out.Errors ?? []).map((e) => [e.Key, `${e.Code ?? 'Error'}: ${e.Message ?? ''}`.trim()]));
        for (const b of batch) {
          const e = failed.get(b.Key);
          results[b.i] = e ? { key: keys[b.i]!, ok: false, error: e } : { key: keys[b.i]!, ok: true };
        }
      } catch (err) {
        const msg = describeS3Error(err, this.loc).message;
        for (const b of batch) results[b.i] = { key: keys[b.i]!, ok: false, error: msg };
      }
    });
    return results;
  }

  /**
   * A SigV4 presigned GetObject URL (query-string authentication: X-Amz-Signature and, with
   * session credentials, X-Amz-Security-Token in the URL; never logged, see redact.ts).
   * S3 refuses an X-Amz-Expires beyond 7 days; the caller checks that first.
   */
  async presignGet(key: string, o: PresignOptions): Promise<PresignedGet> {
    const Key = this.objectKey(key);
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    try {
      const url = await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.loc.bucket, Key }), { expiresIn: o.expiresIn, signingDate: o.signingDate });
      const creds = await this.client.config.credentials();
      return { url, credentialsExpireAt: creds.expiration ?? null };
    } catch (err) {
      throw describeS3Error(err, this.loc, key);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
