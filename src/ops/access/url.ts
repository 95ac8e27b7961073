// url: links that expire. Local store: nginx secure_link URLs, hashed exactly as the printed
// `secure_link_md5` expression says; a link never outlives the file's lifecycle deletion.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { tierStore, type Context } from '../../context.ts';
import type { BlobStore } from '../../storage/blob.ts';
import type { FileRecord, Job } from '../../db/types.ts';
import { FailedError, UsageError, errorMessage } from '../../errors.ts';
import { DEFAULT_LINK_EXPRESSION, linkBaseProblem, linkSecretProblem, type UrlSettings } from '../../config.ts';
import { registerSecret } from '../../redact.ts';
import { parseDuration } from '../lifecycle/duration.ts';
import { deleteRuleForJob, fileDueAt, fileMatches, jobDueAt, type Rule } from '../lifecycle/rules.ts';
import { resolveFile, type FileTarget } from './resolve.ts';

export const DEFAULT_EXPRESSION = DEFAULT_LINK_EXPRESSION;

export interface UrlConfig {
  /** Where nginx serves the store root, e.g. https://files.example.com/store (no query). */
  base: string;
  secret: string;
  expression: string;
  /** Link lifetime when --expires is not given: url.expires, else 1h. */
  expiresMs: number;
}

/**
 * The url section (checked as every section is, by urlSettings) with STORECTL_URL_BASE and
 * STORECTL_URL_SECRET over it; the secret from url.secretFile when neither gives one. A missing
 * base or secret is exit 2 here, for the url command only. No message here holds the secret:
 * every secret read is registered with the redaction registry first.
 */
export function loadUrlConfig(settings: UrlSettings, env: NodeJS.ProcessEnv): UrlConfig {
  const bad = (what: string, why: string, hint?: string) => new UsageError(`${what} ${why}`, hint, 'config');
  const envBase = env.STORECTL_URL_BASE || undefined;
  const base = (envBase ?? settings.base)?.replace(/\/+$/, '');
  if (!base) throw new UsageError('no base URL for links', 'set url.base in the config file or STORECTL_URL_BASE (where nginx serves the store root)', 'config');
  const baseWhy = linkBaseProblem(base);
  if (baseWhy) throw bad(envBase ? 'STORECTL_URL_BASE' : 'url.base', baseWhy);
  let secret = env.STORECTL_URL_SECRET || undefined;
  let from = 'STORECTL_URL_SECRET';
  if (!secret && settings.secret !== undefined) [secret, from] = [settings.secret, 'url.secret'];
  if (!secret && settings.secretFile) {
    try {
      secret = fs.readFileSync(settings.secretFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(`cannot read url.secretFile ${settings.secretFile}: ${errorMessage(err)}`, undefined, 'config');
    }
    from = `the secret in url.secretFile ${settings.secretFile}`;
  }
  registerSecret(secret);
  if (!secret) throw new UsageError('no secret for links', 'set url.secretFile (or url.secret) in the config file, or STORECTL_URL_SECRET', 'config');
  const secretWhy = linkSecretProblem(secret);
  if (secretWhy) throw bad(from, secretWhy);
  const expression = settings.expression ?? DEFAULT_LINK_EXPRESSION;
  const expiresMs = settings.expires === undefined ? 3_600_000 : parseDuration(settings.expires)!;
  return { base, secret, expression, expiresMs };
}

function expand(expression: string, vars: Record<string, string>): string {
  return expression.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, v: string) => vars[v]!);
}

/** secure_link's md5: the binary MD5 of the expanded expression, base64url without padding. */
export function secureLinkHash(expression: string, vars: { secure_link_expires: string; uri: string; secret: string }): string {
  return createHash('md5').update(expand(expression, vars)).digest('base64url');
}

/** The decoded path nginx sees as $uri for a store path under the base. */
function basePath(base: string): string {
  return decodeURIComponent(new URL(base).pathname).replace(/\/+$/, '');
}

/** When a lifecycle rule deletes this file (the rule cleanup-expired would apply), or null. */
export function deletionDue(rules: readonly Rule[], job: Job | undefined, f: FileRecord): { rule: string; dueAt: Date } | null {
  if (job) {
    const r = deleteRuleForJob(rules, job);
    return r ? { rule: r.id, dueAt: jobDueAt(r, job) } : null;
  }
  const r = rules.find((x) => x.action === 'delete' && fileMatches(x, f));
  return r ? { rule: r.id, dueAt: fileDueAt(r, f) } : null;
}

export interface UrlReport {
  url: string;
  backend: 'local' | 's3';
  jobId: string | null;
  role: string;
  path: string;
  expiresAt: string;
  /** Set when the expiry was cut to the file's lifecycle deletion time. */
  cutToDeletion: { rule: string; dueAt: string; asked: string } | null;
  /** S3: set when the credentials that signed the link expire before it does (the link dies with them). */
  credentialsExpireAt?: string | null;
}

/**
 * A compressed file is not linked: the server behind a link (nginx, S3) would hand out the
 * compressed bytes as they are stored. `get` writes them decompressed.
 */
function refuseCompressed(row: FileRecord): void {
  const pending = row.tierTarget?.startsWith('=') ? row.tierTarget.slice(1).split(':')[0] : null;
  const enc = row.encoding ?? pending;
  if (!enc) return;
  throw new FailedError(
    `${row.path} is stored ${enc}-compressed${row.encoding ? '' : ' (being compressed)'}: a link would serve the compressed bytes, so none is made`,
    `storectl get --path ${row.path} writes it decompressed`,
    'compressed',
  );
}

export async function makeUrl(ctx: Context, target: FileTarget, o: { expiresMs: number; rules: Rule[]; config: UrlConfig }): Promise<UrlReport> {
  const row = await resolveFile(ctx.catalog, target);
  refuseCompressed(row);
  if (row.tier !== 'hot') return signOnTier(ctx, row, o);
  const { expires, cut } = await linkExpiry(ctx, row, o.expiresMs, o.rules);
  const uri = `${basePath(o.config.base)}/${row.path}`;
  const md5 = secureLinkHash(o.config.expression, { secure_link_expires: String(expires), uri, secret: o.config.secret });
  const encoded = row.path.split('/').map(encodeURIComponent).join('/');
  return {
    url: `${o.config.base}/${encoded}?md5=${md5}&expires=${expires}`,
    backend: 'local',
    jobId: row.jobId,
    role: row.role,
    path: row.path,
    expiresAt: new Date(expires * 1000).toISOString(),
    cutToDeletion: cut,
  };
}

/**
 * When a link to `row` asked to work for `expiresMs` stops (epoch seconds): cut to the file's
 * lifecycle deletion when that comes first; no link at all for a file already due.
 */
async function linkExpiry(ctx: Context, row: FileRecord, expiresMs: number, rules: Rule[]): Promise<{ expires: number; cut: UrlReport['cutToDeletion'] }> {
  const now = ctx.clock();
  const asked = Math.floor((now.getTime() + expiresMs) / 1000);
  let expires = asked;
  let cut: UrlReport['cutToDeletion'] = null;
  const [job] = row.jobId ? await ctx.catalog.getJobs([row.jobId]) : [];
  const due = deletionDue(rules, job, row);
  if (due && due.dueAt.getTime() < asked * 1000) {
    if (due.dueAt.getTime() <= now.getTime() + 1000) {
      throw new FailedError(`${row.path} is due for deletion since ${due.dueAt.toISOString()} (rule ${due.rule}): no link is made for it`, 'the next cleanup-expired run deletes it; storectl show tells why', 'due_for_deletion');
    }
    expires = Math.floor(due.dueAt.getTime() / 1000);
    cut = { rule: due.rule, dueAt: due.dueAt.toISOString(), asked: new Date(asked * 1000).toISOString() };
  }
  return { expires, cut };
}

/**
 * The nginx location blocks that serve the store root at url.base's path and check links as
 * makeUrl makes them. Holds the secret: it is configuration for nginx, not output to share.
 */
export function nginxLocation(config: UrlConfig, root: string): string {
  const prefix = basePath(config.base);
  const md5 = expand(config.expression, { secure_link_expires: '$secure_link_expires', uri: '$uri', secret: config.secret });
  const re = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [
    `# storectl url: serves the store ${root} at ${prefix || '/'} through secure_link.`,
    '# It holds the url secret: keep the file that includes it readable by root only.',
    '# The store is 0750/0600: the workers must run as the store owner (the `user` directive).',
    `location ~ "^${re}/(.*/)?\\." {`,
    '    return 404;  # .storectl/ (catalog, locks) and temp files are never served',
    '}',
    `location ${prefix}/ {`,
    '    secure_link $arg_md5,$arg_expires;',
    `    secure_link_md5 "${md5}";`,
    '    if ($secure_link = "") { return 403; }',
    '    if ($secure_link = "0") { return 410; }',
    `    alias "${root.replace(/\/+$/, '')}/";`,
    '    autoindex off;',
    '    disable_symlinks on;',
    '    add_header Cache-Control "private, no-store" always;',
    '}',
    '',
  ].join('\n');
}

/** S3 refuses a presigned URL valid for longer than 7 days (X-Amz-Expires <= 604800). */
export const S3_MAX_EXPIRES_MS = 7 * 24 * 3_600_000;

/**
 * S3 store: an AWS Signature V4 presigned GET URL for a present file, signed now for the time
 * linkExpiry allows (so it too never outlives a lifecycle deletion). Says when the credentials
 * that signed it expire first (session credentials): the link stops working with them.
 */
export async function makeS3Url(ctx: Context, target: FileTarget, o: { expiresMs: number; rules: Rule[] }): Promise<UrlReport> {
  if (o.expiresMs > S3_MAX_EXPIRES_MS) throw new UsageError(`--expires is longer than S3 allows for a presigned URL (7d)`, 'give at most 7d', 'usage');
  const presign = ctx.store.presignGet?.bind(ctx.store);
  if (!presign) throw new UsageError(`the store at ${ctx.store.url} cannot sign links`, 'a local store makes nginx secure_link URLs: set url.base and the secret');
  const row = await resolveFile(ctx.catalog, target);
  refuseCompressed(row);
  if (row.tier !== 'hot') return signOnTier(ctx, row, o);
  return signRow(ctx, ctx.store, row, o);
}

/**
 * A file on another tier than hot: a link the tier's own storage checks (an S3 tier signs a
 * presigned GET for the object there); a tier that cannot sign (a second local tree nginx does
 * not serve) refuses, saying how to read the file instead.
 */
async function signOnTier(ctx: Context, row: FileRecord, o: { expiresMs: number; rules: Rule[] }): Promise<UrlReport> {
  const hint = `storectl get reads it from there; storectl tier ${row.jobId ?? 'JOB_ID'} --to hot brings its job back to the root`;
  if (row.tierTarget !== null && !row.tierTarget.startsWith('-')) throw new FailedError(`${row.path} is being moved to tier ${row.tierTarget}: no link is made for it now`, 'run storectl tier to finish the move, then ask again', 'in_transition');
  // A packed file is a slice of its job's pack object: a presigned GET can only name a whole object.
  if (row.pack) throw new FailedError(`${row.path} is packed with its job's small files in one object on tier ${row.tier}: a link would serve the whole pack, so none is made`, hint, 'packed');
  const store = await tierStore(ctx, row.tier);
  if (!store.presignGet) throw new UsageError(`${row.path} is on tier ${row.tier} (${store.url}), which cannot sign links`, hint);
  if (o.expiresMs > S3_MAX_EXPIRES_MS) throw new UsageError(`--expires is longer than S3 allows for a presigned URL (7d)`, 'give at most 7d', 'usage');
  return signRow(ctx, store, row, o);
}

async function signRow(ctx: Context, store: BlobStore, row: FileRecord, o: { expiresMs: number; rules: Rule[] }): Promise<UrlReport> {
  const presign = store.presignGet!.bind(store);
  const { expires, cut } = await linkExpiry(ctx, row, o.expiresMs, o.rules);
  // Signed at a whole second (X-Amz-Date has no fraction), valid until `expires` exactly.
  const signedAt = Math.floor(ctx.clock().getTime() / 1000);
  const signed = await presign(row.path, { expiresIn: Math.max(1, expires - signedAt), signingDate: new Date(signedAt * 1000) });
  const credsFirst = signed.credentialsExpireAt && signed.credentialsExpireAt.getTime() < expires * 1000 ? signed.credentialsExpireAt.toISOString() : null;
  return {
    url: signed.url,
    backend: 's3',
    jobId: row.jobId,
    role: row.role,
    path: row.path,
    expiresAt: new Date(expires * 1000).toISOString(),
    cutToDeletion: cut,
    credentialsExpireAt: credsFirst,
  };
}
