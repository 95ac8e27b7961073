import { defineCommand, type CommandEnv, type CommandOutcome } from './define.ts';
import { UsageError } from '../errors.ts';
import { flag, text } from './common-options.ts';
import { isS3Url } from '../storage/blob.ts';
import { parseDuration } from '../ops/lifecycle/duration.ts';
import type { FileTarget } from '../ops/access/resolve.ts';
import type { UrlReport } from '../ops/access/url.ts';

/**
 * What `url` is asked, as given: the flags combine differently on a local store (nginx) and an
 * S3 one (presigned), so `run` checks them once it knows which the store is.
 */
export interface UrlOptions {
  /** JOB_ID ROLE. */
  fileArgs: string[];
  path?: string;
  /** --expires as given (a duration). */
  expires?: string;
  nginxConfig: boolean;
}

export default defineCommand({
  name: 'url',
  summary: "Print an expiring download link for a job's file (S3 presigned URL, or nginx secure_link on a local store)",
  description:
    "Print a link to JOB_ID's file ROLE (or --path PATH) that stops working after --expires (default url.expires, else 1h). Local store: an nginx secure_link URL BASE/PATH?md5=...&expires=EPOCH, the md5 computed exactly as the url.expression config key says (default \"$secure_link_expires$uri $secret\"), with BASE from url.base or STORECTL_URL_BASE and the secret from url.secretFile, url.secret or STORECTL_URL_SECRET (never printed; at least 16 characters). The url section is checked before any command runs: an unknown key, a base that is not http(s), a short secret or a bad duration is exit 2. A link never outlives its file: when a lifecycle rule deletes the file before --expires runs out, the expiry is cut to that time and the output says so. Only present files get a link: a deleted one is exit 6 (gone), an unknown one exit 5 (not_found). --nginx-config prints the location blocks to paste into nginx's server block (they hold the secret). S3 store (--root s3://BUCKET/PREFIX): an AWS Signature V4 presigned GET URL signed with the store's credentials (no url.* settings needed but url.expires), at most 7d (exit 2 beyond); the same cut to the lifecycle deletion, and a warning when the credentials that signed it (a session) expire before the link does: it stops working with them.",
  args: '[job_id] [role]',
  examples: [
    'storectl url card-20261120-1a2b3c4d combined.pdf --expires 15m',
    'storectl url --path exports/report_exp-1_20261120_101500.csv --json | jq -r .url',
    'storectl url --nginx-config > /etc/nginx/snippets/storectl.conf',
    'storectl --root s3://artifacts/store --database postgres://db/storectl url c-1 front.png --expires 10m',
  ],
  options: (cmd) =>
    cmd
      .option('--expires <duration>', 'how long the link works (e.g. 15m, 1h, 7d; default url.expires, else 1h)')
      .option('--path <path>', 'the file by its store path instead of JOB_ID ROLE')
      .option('--nginx-config', 'print the nginx location blocks that serve the store and check these links'),
  parse: (args, raw): UrlOptions => ({ fileArgs: [...args], path: text(raw, 'path'), expires: text(raw, 'expires'), nginxConfig: flag(raw, 'nginxConfig') }),
  async run(opts, env) {
    const args = opts.fileArgs;
    const cfg = env.config();
    if (isS3Url(cfg.root)) return s3Link(opts, env);
    const { loadUrlConfig, nginxLocation } = await import('../ops/access/url.ts');
    const { urlSettings } = await import('../config.ts');
    const config = loadUrlConfig(urlSettings(cfg), env.ui.io.env);
    if (opts.nginxConfig) {
      if (args.length || opts.path !== undefined || opts.expires !== undefined) throw new UsageError('--nginx-config takes no file and no --expires');
      const text = nginxLocation(config, cfg.root);
      return { report: { base: config.base, root: cfg.root, nginx: text }, text: () => text };
    }
    const expiresMs = opts.expires === undefined ? config.expiresMs : parseDuration(opts.expires);
    if (!expiresMs) throw new UsageError(`bad --expires ${JSON.stringify(opts.expires)}`, 'give a duration greater than 0: 90s, 15m, 1h, 7d');
    const target = fileTarget(args, opts.path);
    const { loadCleanupConfig } = await import('../ops/lifecycle/rules.ts');
    const rules = loadCleanupConfig(cfg.sections.cleanup).rules;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false });
    const { makeUrl } = await import('../ops/access/url.ts');
    const report = await makeUrl(ctx, target, { expiresMs, rules, config });
    if (report.cutToDeletion) env.ui.log.warn(cutSentence(report));
    return { report, text: () => `${report.url}\n` + (env.ui.stdoutTTY ? `expires ${report.expiresAt}${report.cutToDeletion ? ` (${cutSentence(report)})` : ''}\n` : '') };
  },
});

/** url on an S3 store: presigned GET URLs; no nginx, no url.* settings. */
async function s3Link(opts: UrlOptions, env: CommandEnv): Promise<CommandOutcome> {
  if (opts.nginxConfig) throw new UsageError('--nginx-config is for a local store served by nginx', 'on an S3 store, url prints presigned URLs that S3 itself checks');
  const { S3_MAX_EXPIRES_MS, makeS3Url } = await import('../ops/access/url.ts');
  const { urlSettings } = await import('../config.ts');
  const byDefault = urlSettings(env.config()).expires;
  const expiresMs = opts.expires === undefined ? (byDefault ? parseDuration(byDefault)! : 3_600_000) : parseDuration(opts.expires);
  if (!expiresMs) throw new UsageError(`bad --expires ${JSON.stringify(opts.expires)}`, 'give a duration greater than 0: 90s, 15m, 1h, 7d');
  if (expiresMs > S3_MAX_EXPIRES_MS) throw new UsageError(`${opts.expires === undefined ? `url.expires ${byDefault}` : `--expires ${opts.expires}`} is longer than S3 allows for a presigned URL (7d)`, 'give at most 7d');
  const target = fileTarget(opts.fileArgs, opts.path);
  const { loadCleanupConfig } = await import('../ops/lifecycle/rules.ts');
  const rules = loadCleanupConfig(env.config().sections.cleanup).rules;
  const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true, readOnly: true });
  const report = await makeS3Url(ctx, target, { expiresMs, rules });
  if (report.cutToDeletion) env.ui.log.warn(cutSentence(report));
  if (report.credentialsExpireAt) env.ui.log.warn(credentialsSentence(report));
  return {
    report,
    text: () =>
      `${report.url}\n` +
      (env.ui.stdoutTTY ? `expires ${report.expiresAt}${report.cutToDeletion ? ` (${cutSentence(report)})` : ''}${report.credentialsExpireAt ? ` (${credentialsSentence(report)})` : ''}\n` : ''),
  };
}

function credentialsSentence(r: UrlReport): string {
  return `the credentials that signed this link expire at ${r.credentialsExpireAt}, before the link (${r.expiresAt}): it stops working then`;
}

function cutSentence(r: UrlReport): string {
  const c = r.cutToDeletion!;
  return `expiry cut from ${c.asked} to ${c.dueAt}: rule ${c.rule} deletes ${r.path} then`;
}

function fileTarget(args: string[], p: string | undefined): FileTarget {
  if (p !== undefined) {
    if (args.length) throw new UsageError('give either JOB_ID ROLE or --path PATH, not both');
    return { path: p };
  }
  if (args.length !== 2) throw new UsageError('url needs JOB_ID and ROLE (or --path PATH, or --nginx-config)', 'storectl show JOB_ID lists its roles');
  return { jobId: args[0]!, role: args[1]! };
}
