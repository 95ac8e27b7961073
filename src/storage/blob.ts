// The one asynchronous storage interface every backend implements (local tree, S3).
import type { Readable } from 'node:stream';

/** What a backend knows about one stored object. */
export interface BlobHead {
  size: number;
  /** Local: the file's mtime. S3: the object's LastModified. */
  mtime: Date;
  /**
   * Whatever identifies this version of the object: `ino:<dev>:<ino>` locally, `etag:<ETag>` on S3.
   * A re-check compares it with the planned one: a replaced object has another identity.
   */
  identity: string;
}

export interface BlobEntry extends BlobHead {
  /** The key relative to the store root ('/'-separated). */
  key: string;
  /**
   * 'file' for a regular file / object whose key is a safe catalog path; 'symlink' (local only);
   * 'other' for anything else (a device, a socket, or an S3 key no catalog path can name).
   */
  kind: 'file' | 'symlink' | 'other';
}

export interface PutOptions {
  /** The SHA-256 (hex) the catalog holds: a backend that can make the server check it does. */
  sha256?: string;
  contentType?: string;
  /** Set the stored mtime (local only; ignored where the backend cannot). */
  mtime?: Date;
  /** The S3 storage class of the object (a tier's storageClass); ignored by the local tree. */
  storageClass?: string;
  /**
   * S3, a single-request upload: skip the HEAD after it (the result's size is the body's, its
   * identity the PUT's ETag, its mtime the time of the PUT) for a caller that reads the object
   * back anyway. Ignored by the local tree and by multipart uploads.
   */
  noHeadAfter?: boolean;
}

export interface PutResult extends BlobHead {
  /** True when the backend checked `sha256` against the bytes it stored (server-side or while writing). */
  checksumVerified: boolean;
  /**
   * S3, a single PutObject: the ETag the server answered is the MD5 of the body sent (computed
   * here over the very buffer handed to the request, and sent as Content-MD5 too). The server
   * computed that MD5 over the bytes it received, so they are the bytes sent. False where the
   * ETag is not a plain MD5 (multipart, SSE-KMS, SSE-C) or does not match; absent elsewhere.
   */
  etagIsMd5?: boolean;
}

/** Byte range of a get, both ends inclusive as HTTP's Range is. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ListOptions {
  /** Key prefix (not necessarily a directory), relative to the store root. */
  prefix?: string;
  /** Only keys strictly after this one (resume). */
  startAfter?: string;
  /** Entries per page (a backend may return fewer); default 1,000. */
  pageSize?: number;
}

export interface RemoveResult {
  key: string;
  ok: boolean;
  /** The key was already gone (local backends know this; S3 does not report it). */
  missing?: boolean;
  /** Why it failed, one line. */
  error?: string;
}

export interface BlobCapabilities {
  kind: 'local' | 's3';
  /** Symlinks and hard links exist only on the local tree. */
  symlinks: boolean;
  hardLinks: boolean;
  /** put() with `sha256` makes the storage refuse bytes that do not match. */
  verifiesSha256OnPut: boolean;
  /** Keys per removeMany request to the storage (S3's DeleteObjects: 1,000). */
  removeBatchSize: number;
  /** Removal requests (or unlinks) the backend keeps in flight. */
  removeConcurrency: number;
}

/**
 * The file side of a store. Keys are catalog paths: relative, '/'-separated, checked by
 * checkRelPath; a bad key fails that one call (or that one key of a batch), never another.
 * Listing is in UTF-8 byte order of the key (the order of the catalog's C collation).
 */
export interface BlobStore {
  /** Where the store lives, as the catalog records it: an absolute directory or s3://BUCKET/PREFIX. */
  readonly url: string;
  readonly capabilities: BlobCapabilities;
  /** Stores the whole object or nothing: a reader never sees a partial one. */
  put(key: string, data: Uint8Array | Readable, opts?: PutOptions): Promise<PutResult>;
  /** Reads an object (or a byte range of it); throws BlobNotFoundError when missing. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * A small object whole, as one buffer (throws when it has more than maxBytes, and as get does
   * when missing): backends that read a small file cheaper in one go than as a stream have it
   * (the local tree: open, fstat, read, close, no stream). Same checks as get.
   */
  readWhole?(key: string, maxBytes: number): Promise<Buffer>;
  /** null when missing; never follows a symlink (a local symlink is reported, not followed). */
  stat(key: string): Promise<(BlobHead & { kind: BlobEntry['kind'] }) | null>;
  /** Pages of entries in byte order of the key, streamed: memory does not grow with the store. */
  list(opts?: ListOptions): AsyncIterable<BlobEntry[]>;
  /** Removes one object; a missing one is ok (missing: true where the backend can tell). */
  remove(key: string): Promise<RemoveResult>;
  /** Removes many, in the backend's batch size and concurrency; one result per key, in order. */
  removeMany(keys: readonly string[]): Promise<RemoveResult[]>;
  /**
   * A link anyone can GET the object with until it expires, signed with the store's
   * credentials (S3: a SigV4 presigned URL). Only backends that can sign one have it.
   */
  presignGet?(key: string, o: PresignOptions): Promise<PresignedGet>;
  /**
   * A second object with the content of `from`, copied inside the storage (S3: CopyObject, no
   * bytes through this process); an independent copy, not a link. Only backends that can have it.
   */
  copy?(from: string, to: string, opts?: { contentType?: string }): Promise<BlobHead>;
  close(): Promise<void>;
}

export interface PresignOptions {
  /** Seconds the link works, counted from signingDate. */
  expiresIn: number;
  signingDate: Date;
}

export interface PresignedGet {
  url: string;
  /** When the credentials that signed it expire (session credentials), if known: the link dies with them. */
  credentialsExpireAt: Date | null;
}

export class BlobNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(readonly key: string) {
    super(`no such object: ${key}`);
  }
}

/** The bytes did not match the SHA-256 given to put(): nothing was stored. */
export class BlobChecksumError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`checksum mismatch for ${key}: ${detail}`);
  }
}

export function isS3Url(root: string): boolean {
  return /^s3:\/\//i.test(root);
}

/** fn over items with at most `limit` in flight; results by index. fn must not throw. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const runner = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, runner));
  return out;
}
