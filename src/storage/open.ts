// Opens the BlobStore a root names: a directory (local tree) or s3://BUCKET/PREFIX.
import { isS3Url, type BlobStore } from './blob.ts';
import { LocalTreeBlobStore } from './local-blob-store.ts';
import { parseS3Url, type S3Settings } from './s3/settings.ts';

/**
 * The AWS SDK is imported here, on demand, only for an s3:// root. `probe` makes one request
 * first, so a wrong bucket, endpoint or credentials fail as one line before any work starts.
 */
export async function openBlobStore(root: string, s3: () => S3Settings, opts: { probe?: boolean } = {}): Promise<BlobStore> {
  if (!isS3Url(root)) return new LocalTreeBlobStore(root);
  const loc = parseS3Url(root);
  const { S3BlobStore, makeS3Client } = await import('./s3/s3-blob-store.ts');
  const settings = s3();
  const store = new S3BlobStore(makeS3Client(settings), loc, settings);
  if (opts.probe ?? true) await store.probe();
  return store;
}
