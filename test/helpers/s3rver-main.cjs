// Runs the S3-protocol test server (@20minutes/s3rver) as its own process, so tests can
// kill and restart it for real. Usage: node s3rver-main.cjs DIR PORT (0 = any free port).
// Prints one line "listening PORT" on stdout once it accepts connections.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const S3rver = require('@20minutes/s3rver');
const FilesystemStore = require('@20minutes/s3rver/lib/stores/filesystem');
const S3Object = require('@20minutes/s3rver/lib/models/object');
const { DUMMY_ACCOUNT } = require('@20minutes/s3rver/lib/models/account');

const [dir, port = '0'] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: s3rver-main.cjs DIR [PORT]\n');
  process.exit(2);
}
// A second key pair beside the default S3RVER/S3RVER, named by the harness.
if (process.env.S3RVER_EXTRA_KEY) DUMMY_ACCOUNT.createKeyPair(process.env.S3RVER_EXTRA_KEY, process.env.S3RVER_EXTRA_SECRET ?? process.env.S3RVER_EXTRA_KEY);

// s3rver lists keys in the order it walks its directories (a/b before "a b"); S3 and MinIO list
// them in UTF-8 byte order, which storectl relies on to merge a listing with the catalog. This
// replaces the listing (without a delimiter; storectl sends none) with one walk in byte order,
// pruned by prefix and start-after as S3's is, so a page costs what it costs on a real server.
const OBJECT_SUFFIX = '._S3rver_object';
const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const originalList = FilesystemStore.prototype.listObjects;
FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
  const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
  if (delimiter || process.platform === 'win32') return originalList.call(this, bucket, options);
  const bucketPath = this.getBucketPath(bucket);
  const keys = [];
  let isTruncated = false;
  const visit = (dir, rel) => {
    const entries = [];
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      if (d.isDirectory()) entries.push({ sort: `${rel}${d.name}/`, dir: d.name });
      else if (d.name.endsWith(OBJECT_SUFFIX)) entries.push({ sort: rel + d.name.slice(0, -OBJECT_SUFFIX.length) });
    }
    entries.sort((a, b) => byteOrder(a.sort, b.sort));
    for (const e of entries) {
      if (e.dir !== undefined) {
        if (!(e.sort.startsWith(prefix) || prefix.startsWith(e.sort))) continue;
        if (startAfter && byteOrder(e.sort, startAfter) < 0 && !startAfter.startsWith(e.sort)) continue;
        if (visit(path.join(dir, e.dir), e.sort)) return true;
      } else {
        if (!e.sort.startsWith(prefix) || (startAfter && byteOrder(e.sort, startAfter) <= 0)) continue;
        if (keys.length >= maxKeys) {
          isTruncated = true;
          return true;
        }
        keys.push(e.sort);
      }
    }
    return false;
  };
  visit(bucketPath, '');
  const metadata = await Promise.all(keys.map((k) => this.getMetadata(bucket, k).catch((err) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)))));
  return {
    objects: keys.flatMap((k, i) => (metadata[i] ? [new S3Object(bucket, k, null, metadata[i])] : [])),
    commonPrefixes: [],
    isTruncated,
  };
};

// Faults the tests ask for (environment of this process), on object uploads whose key matches:
// S3RVER_FAULT_CORRUPT_PUT=REGEX  the bytes are damaged between receipt and storage (the first
//   byte flipped), and the ETag is the MD5 of what was stored, as a server that received damaged
//   bytes answers (s3rver ignores Content-MD5, which S3 and MinIO would refuse them against);
// S3RVER_FAULT_OPAQUE_ETAG=REGEX  the object is stored intact but its ETag is not its MD5, as
//   S3 answers for SSE-KMS and SSE-C objects.
const { Transform } = require('node:stream');
const corruptPut = process.env.S3RVER_FAULT_CORRUPT_PUT ? new RegExp(process.env.S3RVER_FAULT_CORRUPT_PUT) : null;
const opaqueEtag = process.env.S3RVER_FAULT_OPAQUE_ETAG ? new RegExp(process.env.S3RVER_FAULT_OPAQUE_ETAG) : null;
const opaqueOf = (md5) => require('node:crypto').createHash('md5').update(`opaque:${md5}`).digest('hex');
if (corruptPut || opaqueEtag) {
  const originalPut = FilesystemStore.prototype.putObject;
  const originalMeta = FilesystemStore.prototype.putMetadata;
  FilesystemStore.prototype.putObject = async function putObject(object) {
    if (corruptPut && corruptPut.test(object.key) && object.content && typeof object.content.pipe === 'function') {
      let first = true;
      object.content = object.content.pipe(
        new Transform({
          transform(chunk, _enc, cb) {
            if (first && chunk.length) {
              chunk = Buffer.from(chunk);
              chunk[0] ^= 0xff;
              first = false;
            }
            cb(null, chunk);
          },
        }),
      );
    }
    const out = await originalPut.call(this, object);
    return opaqueEtag && opaqueEtag.test(object.key) ? { ...out, md5: opaqueOf(out.md5) } : out;
  };
  FilesystemStore.prototype.putMetadata = async function putMetadata(bucket, key, metadata, md5) {
    if (md5 && opaqueEtag && opaqueEtag.test(key)) md5 = opaqueOf(md5);
    return originalMeta.call(this, bucket, key, metadata, md5);
  };
}

const server = new S3rver({ directory: dir, address: '127.0.0.1', port: Number(port), silent: true, vhostBuckets: false });
// s3rver rebuilds a path-style bucket request's canonical URI as /BUCKET, but AWS SDK v3 signs
// bucket-level requests (CreateBucket, DeleteObjects, ListObjectsV2) as /BUCKET/, as AWS and
// MinIO accept: without this, every such request fails with SignatureDoesNotMatch. The
// signature is still checked in full; only the URI s3rver compares it over is the one sent.
server.middleware.splice(server.middleware.length - 1, 0, (ctx, next) => {
  if (!ctx.state.vhost && /^\/[^/]+\/$/.test(ctx.path)) {
    ctx.state.vhost = true;
    ctx.mountPath = '/';
  }
  return next();
});
// s3rver escapes XML text twice (he.escape, then fast-xml-parser 5's builder), so a key with
// '&' is listed as '&amp;'. Responses are serialised here once, before s3rver's own step.
const { XMLBuilder } = require('fast-xml-parser');
const xml = new XMLBuilder({ ignoreAttributes: false, attributesGroupName: '@' });
server.middleware.splice(2, 0, async (ctx, next) => {
  await next();
  if (ctx.body && Object.getPrototypeOf(ctx.body) === Object.prototype) {
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n' + xml.build(ctx.body);
  }
});
server.run().then(
  (addr) => process.stdout.write(`listening ${addr.port}\n`),
  (err) => {
    process.stderr.write(`s3rver: cannot start: ${err.message}\n`);
    process.exit(1);
  },
);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close().finally(() => process.exit(0)));
