// The loopback S3 server as the S3 benches use it: the server, storectl's and rclone's
// environments pointing at it, a client to make buckets, and the machine line of a results file.
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { S3TestServer } from '../../test/helpers/s3.ts';
import { makeS3Client } from '../../src/storage/s3/s3-blob-store.ts';
import { resolveS3Settings } from '../../src/storage/s3/settings.ts';

export interface S3Bench {
  server: S3TestServer;
  /** bin/storectl's environment (s3rver stores no checksums: no SHA-256 header sent). */
  env: NodeJS.ProcessEnv;
  /** rclone's, with a remote named s3 (Debian's rclone refuses to start with AWS_CA_BUNDLE set). */
  rcloneEnv: NodeJS.ProcessEnv;
  bucket(name: string): Promise<void>;
  client: ReturnType<typeof makeS3Client>;
  /** "machine: ...\n\nload before: `uptime`\n" */
  header: string;
}

export async function startS3Bench(work: string, serverNodeArgs: string[] = []): Promise<S3Bench> {
  const server = new S3TestServer(path.join(work, 's3rver'), { nodeArgs: serverNodeArgs });
  await server.start();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    STORECTL_S3_FORCE_PATH_STYLE: 'true',
    STORECTL_S3_SEND_SHA256: 'false',
    NO_COLOR: '1',
  };
  const rcloneEnv: NodeJS.ProcessEnv = {
    ...process.env,
    RCLONE_CONFIG_S3_TYPE: 's3',
    RCLONE_CONFIG_S3_PROVIDER: 'Other',
    RCLONE_CONFIG_S3_ENDPOINT: server.endpoint,
    RCLONE_CONFIG_S3_ACCESS_KEY_ID: 'S3RVER',
    RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: 'S3RVER',
    RCLONE_CONFIG_S3_REGION: 'us-east-1',
    RCLONE_CONFIG_S3_FORCE_PATH_STYLE: 'true',
  };
  delete rcloneEnv.AWS_CA_BUNDLE;
  const client = makeS3Client({ ...resolveS3Settings(undefined, { STORECTL_S3_FORCE_PATH_STYLE: 'true' }).settings, endpoint: server.endpoint, region: 'us-east-1', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
  const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
  const bucket = async (name: string) => void (await client.send(new CreateBucketCommand({ Bucket: name })));
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${execFileSync('rclone', ['version']).toString().split('\n')[0]}`;
  return { server, env, rcloneEnv, bucket, client, header: `machine: ${machine}\n\nload before: \`${execFileSync('uptime').toString().trim()}\`\n` };
}
