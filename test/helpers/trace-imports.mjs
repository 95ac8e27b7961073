// Logs every module URL the process imports to stderr, to prove --help stays light.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('import: ' + r.url + '\\n'); return r; }`),
  import.meta.url,
);
