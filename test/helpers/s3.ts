// The S3 side of the tests: a real S3-protocol server (@20minutes/s3rver) in its own process on
// a free 127.0.0.1 port and a temp directory, or the endpoint in STORECTL_TEST_S3_ENDPOINT
// (credentials in the usual AWS variables, bucket in STORECTL_TEST_S3_BUCKET).
// Never skipped: if the server cannot start, the tests fail.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpDir, REPO } from './env.ts';
import { resolveS3Settings, type S3Settings } from '../../src/storage/s3/settings.ts';

const MAIN = path.join(REPO, 'test', 'helpers', 's3rver-main.cjs');

/**
 * The server process. Node runs it with the OpenSSL legacy provider: s3rver enciphers
 * ListObjectsV2 continuation tokens with DES, which OpenSSL 3 has only there.
 */
export class S3TestServer {
  private child: ChildProcess | undefined;
  port = 0;
  readonly dir: string;

  /**
   * nodeArgs: extra node flags for the server process (the S3 benches profile it with --cpu-prof);
   * env: extra environment for it (the faults of s3rver-main.cjs: S3RVER_FAULT_*).
   */
  constructor(
    dir = tmpDir('storectl-s3rver-'),
    private readonly opts: { nodeArgs?: string[]; env?: Record<string, string> } = {},
  ) {
    this.dir = dir;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The server process's id while it runs (a bench reads its CPU time from /proc). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the server (on the port it had before, after a kill) and waits until it listens. */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.child) throw new Error('s3rver already running');
    const child = spawn(process.execPath, [...(this.opts.nodeArgs ?? []), '--openssl-legacy-provider', MAIN, this.dir, String(this.port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.opts.env },
    });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    this.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /listening (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with ${code} before listening: ${stderr.trim()}`));
      });
    }).catch((err) => {
      this.child = undefined;
      child.kill('SIGKILL');
      throw err;
    });
    child.removeAllListeners('exit');
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }

  /** SIGKILL, as a crash; start() again brings it back on the same port with the same data. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.child = undefined;
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.child = undefined;
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGTERM');
    });
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface S3Fixture {
  /** 'loopback' (s3rver here) or 'endpoint' (STORECTL_TEST_S3_ENDPOINT). */
  kind: 'loopback' | 'endpoint';
  server: S3TestServer | undefined;
  /** Environment for bin/storectl and for the SDK: endpoint, region, credentials, path style. */
  env: Record<string, string>;
  settings(): S3Settings;
  /** A fresh, empty store root: a new bucket on the loopback server, a new prefix on an endpoint. */
  newRoot(): Promise<string>;
  dispose(): Promise<void>;
}

const REAL_ENDPOINT = process.env.STORECTL_TEST_S3_ENDPOINT;

/**
 * serverEnv: environment for the loopback server (its faults, S3RVER_FAULT_*); a test that needs
 * one runs on the loopback server even when STORECTL_TEST_S3_ENDPOINT names a real one.
 */
export async function startS3(o: { serverEnv?: Record<string, string> } = {}): Promise<S3Fixture> {
  const REAL = o.serverEnv ? undefined : REAL_ENDPOINT;
  let server: S3TestServer | undefined;
  let env: Record<string, string>;
  if (REAL) {
    env = {
      AWS_ENDPOINT_URL_S3: REAL,
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? '',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? '',
      STORECTL_S3_FORCE_PATH_STYLE: process.env.STORECTL_S3_FORCE_PATH_STYLE ?? 'true',
    };
    if (process.env.AWS_SESSION_TOKEN) env.AWS_SESSION_TOKEN = process.env.AWS_SESSION_TOKEN;
    if (!process.env.STORECTL_TEST_S3_BUCKET) throw new Error('STORECTL_TEST_S3_ENDPOINT is set: name the bucket to test in with STORECTL_TEST_S3_BUCKET');
  } else {
    server = new S3TestServer(undefined, { env: o.serverEnv });
    await server.start();
    env = {
      AWS_ENDPOINT_URL_S3: server.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      STORECTL_S3_FORCE_PATH_STYLE: 'true',
      // s3rver stores no checksums: it would accept a wrong x-amz-checksum-sha256.
      STORECTL_S3_SEND_SHA256: 'false',
    };
  }
  const settings = () => resolveS3Settings(undefined, { ...env, AWS_ENDPOINT_URL_S3: server ? server.endpoint : env.AWS_ENDPOINT_URL_S3! }).settings;
  const fixtureSettings = () => {
    const s = settings();
    // The fixture's own client: credentials and endpoint given, not taken from this process's env.
    return { ...s, endpoint: server ? server.endpoint : REAL, accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN };
  };
  const roots: string[] = [];
  const sdk = await import('@aws-sdk/client-s3');
  const { makeS3Client } = await import('../../src/storage/s3/s3-blob-store.ts');
  const client = makeS3Client(fixtureSettings());
  return {
    kind: server ? 'loopback' : 'endpoint',
    server,
    get env() {
      return server ? { ...env, AWS_ENDPOINT_URL_S3: server.endpoint } : env;
    },
    settings: fixtureSettings,
    async newRoot() {
      const id = randomBytes(4).toString('hex');
      let root: string;
      if (server) {
        const bucket = `t-${process.pid}-${id}`;
        await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
        root = `s3://${bucket}/store/`;
      } else {
        root = `s3://${process.env.STORECTL_TEST_S3_BUCKET}/storectl-test-${process.pid}-${id}/`;
      }
      roots.push(root);
      return root;
    },
    async dispose() {
      if (!server) {
        // Leave the operator's bucket as it was: remove what the tests wrote under their prefixes.
        for (const root of roots) {
          const [, bucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(root)!;
          for (;;) {
            const out = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
            const keys = (out.Contents ?? []).map((o) => ({ Key: o.Key! }));
            if (!keys.length) break;
            await client.send(new sdk.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
          }
        }
      }
      client.destroy();
      await server?.dispose();
    },
  };
}
