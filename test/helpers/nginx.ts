// A real nginx (Debian's package, with the secure_link module) on a free 127.0.0.1 port with
// a temp prefix, serving a location block as `storectl url --nginx-config` printed it.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpDir } from './env.ts';

export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) => fs.existsSync(p));

/** Never a skip in CI: .ci/run installs nginx. */
export const nginxSkip: string | false = NGINX ? false : process.env.CI ? false : 'nginx is not installed (apt-get install -y nginx)';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface Nginx {
  port: number;
  prefix: string;
  stop(): Promise<void>;
}

export async function startNginx(location: string, port: number): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx is not installed: .ci/run installs it (apt-get install -y nginx)');
  const prefix = tmpDir('storectl-nginx-');
  for (const d of ['logs', 'tmp']) fs.mkdirSync(path.join(prefix, d));
  const asRoot = process.getuid?.() === 0;
  const conf = [
    // As root the workers must run as the store's owner (root here), as the README says.
    asRoot ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/logs/error.log warn;`,
    'events { worker_connections 64; }',
    'http {',
    `  access_log ${prefix}/logs/access.log;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${prefix}/tmp/${t};`),
    '  default_type application/octet-stream;',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    location.replace(/^/gm, '    '),
    '  }',
    '}',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf, { mode: 0o600 });
  const check = spawnSync(NGINX, ['-t', '-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx -t failed: ${check.stderr}`);
  const child: ChildProcess = spawn(NGINX, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100 || child.exitCode !== null) throw new Error(`nginx did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    prefix,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGQUIT');
        await exited;
      }
      fs.rmSync(prefix, { recursive: true, force: true });
    },
  };
}
