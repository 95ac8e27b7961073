// Effective configuration: flags > environment > config file > defaults.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UsageError, errorMessage } from './errors.ts';
import { isS3Url } from './storage/blob.ts';
import { describeS3Settings, parseS3Url, resolveS3Settings, s3Url, type ResolvedS3Settings } from './storage/s3/settings.ts';
import { redactUrl, redactValue, registerSecret, registerUrlSecrets } from './redact.ts';
import { parseDuration } from './duration.ts';
import { parseSize } from './units.ts';

export type Source = 'flag' | 'env' | 'file' | 'default';

export interface GlobalFlags {
  root?: string;
  database?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  yes?: boolean;
  color?: boolean;
  logFile?: string;
  /** Record this --root as the store's root although the catalog names another. */
  allowRootChange?: boolean;
}

/** Top-level keys a config file may have; each section is validated by the code that uses it. */
export const CONFIG_SECTIONS = ['root', 'database', 'logFile', 's3', 'generate', 'cleanup', 'backup', 'migrateImages', 'url', 'tiers', 'compression'] as const;

export interface ResolvedConfig {
  /** An absolute directory, or the canonical s3://BUCKET/PREFIX/ of an S3 store. */
  root: string;
  /** S3 settings (config `s3` section, STORECTL_S3_*; the SDK's chain for the rest). */
  s3: ResolvedS3Settings;
  allowRootChange: boolean;
  databaseUrl: string | undefined;
  /** The PostgreSQL schema of storectl's tables and journal (database.schema; a SQLite catalog has none). */
  databaseSchema: string;
  logFile: string | undefined;
  configFile: string | undefined;
  sources: { root: Source; database: Source; databaseSchema: Source; logFile: Source };
  /** The database URL came from DATABASE_URL, the variable the application shares (STORECTL_DATABASE_URL not set). */
  databaseFromSharedUrl?: boolean;
  /** The config file's sections other than root/database, as written. */
  sections: Record<string, unknown>;
}

/** Looked for in the working directory, in this order, when no file is named. */
export const DEFAULT_CONFIG_NAMES = ['storectl.config.json', 'storectl.config.yaml', 'storectl.config.yml'];

export function resolveConfig(flags: GlobalFlags, env: NodeJS.ProcessEnv, cwd: string): ResolvedConfig {
  const explicit = flags.config ?? env.STORECTL_CONFIG;
  const configFile = explicit
    ? path.resolve(cwd, explicit)
    : DEFAULT_CONFIG_NAMES.map((n) => path.join(cwd, n)).find((f) => fs.existsSync(f));
  const file = configFile ? readConfigFile(configFile, Boolean(explicit)) : {};
  const fileDir = configFile ? path.dirname(configFile) : cwd;

  const pick = <T>(flag: T | undefined, envValue: T | undefined, fileValue: T | undefined): [T | undefined, Source] =>
    flag !== undefined ? [flag, 'flag'] : envValue !== undefined ? [envValue, 'env'] : fileValue !== undefined ? [fileValue, 'file'] : [undefined, 'default'];

  const [rootRaw, rootSrc] = pick(flags.root, env.STORECTL_ROOT || undefined, file.root as string | undefined);
  const fileDb = databaseOfFile(file.database);
  const [db, dbSrc] = pick(flags.database, env.STORECTL_DATABASE_URL || env.DATABASE_URL || undefined, fileDb.url);
  const [schemaRaw, schemaSrc] = pick(undefined, env.STORECTL_DATABASE_SCHEMA || undefined, fileDb.schema);
  const schemaWhy = schemaRaw === undefined ? undefined : pgSchemaProblem(schemaRaw);
  if (schemaWhy) {
    throw new UsageError(
      schemaSrc === 'env' ? `STORECTL_DATABASE_SCHEMA ${schemaWhy}` : `config file ${configFile}: "database.schema" ${schemaWhy}`,
      'a schema name such as storectl (PostgreSQL reserves pg_* and information_schema)',
      'config',
    );
  }
  const [logFile, logSrc] = pick(flags.logFile, env.STORECTL_LOG_FILE || undefined, file.logFile as string | undefined);
  registerUrlSecrets(db);
  registerSectionSecrets(file);
  const base = rootSrc === 'file' ? fileDir : cwd;
  const sections: Record<string, unknown> = { ...file };
  delete sections.root;
  delete sections.database;
  delete sections.logFile;
  delete sections.s3;
  return {
    root: resolveRoot(rootRaw ?? 'storage', base),
    s3: resolveS3Settings(file.s3, env),
    allowRootChange: flags.allowRootChange ?? false,
    databaseUrl: db,
    databaseSchema: schemaRaw ?? DEFAULT_DATABASE_SCHEMA,
    logFile: logFile ? path.resolve(logSrc === 'file' ? fileDir : cwd, logFile) : undefined,
    configFile,
    sources: { root: rootSrc, database: dbSrc, databaseSchema: schemaSrc, logFile: logSrc },
    databaseFromSharedUrl: flags.database === undefined && !env.STORECTL_DATABASE_URL && Boolean(env.DATABASE_URL),
    sections,
  };
}

/** A root as the catalog records it: the canonical s3://BUCKET/PREFIX/, or an absolute directory. */
export function resolveRoot(raw: string, base: string): string {
  return isS3Url(raw) ? s3Url(parseS3Url(raw)) : path.resolve(base, raw);
}

function readConfigFile(file: string, explicit: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config file ${file}: ${errorMessage(err)}`, explicit ? 'check --config / STORECTL_CONFIG' : undefined, 'config');
  }
  const yaml = /\.ya?ml$/i.test(file);
  let value: unknown;
  try {
    value = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${file} is not valid ${yaml ? 'YAML' : 'JSON'}: ${errorMessage(err).split('\n')[0]}`, undefined, 'config');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`config file ${file} must hold an object (a mapping of keys)`, undefined, 'config');
  }
  for (const [key, v] of Object.entries(value)) {
    if (!(CONFIG_SECTIONS as readonly string[]).includes(key)) {
      throw new UsageError(`config file ${file}: unknown key "${key}"`, `known keys: ${CONFIG_SECTIONS.join(', ')}`, 'config');
    }
    if ((key === 'root' || key === 'logFile') && typeof v !== 'string') {
      throw new UsageError(`config file ${file}: "${key}" must be a string`, undefined, 'config');
    }
    if (key === 'database') checkDatabaseKey(file, v);
  }
  return value as Record<string, unknown>;
}

/** The default PostgreSQL schema of storectl's tables (src/db/pg-schema.ts DEFAULT_PG_SCHEMA: config imports no db module). */
export const DEFAULT_DATABASE_SCHEMA = 'storectl';

/** Why NAME cannot be storectl's PostgreSQL schema (the rule of src/db/pg-schema.ts pgSchemaProblem), or undefined. */
export function pgSchemaProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(name)) return 'must be a lower-case identifier (letters, digits and underscores, not starting with a digit, at most 63)';
  if (name.startsWith('pg_') || name === 'information_schema') return 'names a schema PostgreSQL reserves';
  return undefined;
}

/** `database` in a config file: the URL, or { url, schema }. */
function databaseOfFile(v: unknown): { url?: string; schema?: string } {
  if (v === undefined) return {};
  if (typeof v === 'string') return { url: v };
  return v as { url?: string; schema?: string };
}

function checkDatabaseKey(file: string, v: unknown): void {
  if (typeof v === 'string') return;
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new UsageError(`config file ${file}: "database" must be a URL string or an object { url, schema }`, undefined, 'config');
  }
  for (const [k, x] of Object.entries(v)) {
    if (k !== 'url' && k !== 'schema') throw new UsageError(`config file ${file}: unknown key "database.${k}"`, 'known keys of database: url, schema', 'config');
    if (typeof x !== 'string' || x === '') throw new UsageError(`config file ${file}: "database.${k}" must be a non-empty string`, undefined, 'config');
  }
}

/** `generate` section: defaults for the flags of the same names. */
export interface GenerateSettings {
  workers?: number;
  days?: number;
}

/** `backup` section: defaults for the flags of the same names (retention applies with a dir). */
export interface BackupSettings {
  dir?: string;
  format?: 'tar.gz' | 'zip';
  metadataOnly?: boolean;
  keep?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  pruneOlderThan?: string;
}

function sectionOf(c: ResolvedConfig, name: string): Record<string, unknown> | undefined {
  const v = c.sections[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`config file ${c.configFile}: "${name}" must be an object`, undefined, 'config');
  return v as Record<string, unknown>;
}

/** Checks a section's keys and types: an unknown or ill-typed key is exit 2, naming it. */
function checkKeys(c: ResolvedConfig, name: string, v: Record<string, unknown>, types: Record<string, (x: unknown) => string | undefined>): void {
  for (const [k, x] of Object.entries(v)) {
    const check = types[k];
    if (!check) throw new UsageError(`config file ${c.configFile}: unknown key "${name}.${k}"`, `known keys of ${name}: ${Object.keys(types).join(', ')}`, 'config');
    const why = check(x);
    if (why) throw new UsageError(`config file ${c.configFile}: "${name}.${k}" ${why}`, undefined, 'config');
  }
}

const wholeNumber = (min: number, max: number) => (x: unknown) =>
  Number.isInteger(x) && (x as number) >= min && (x as number) <= max ? undefined : `must be a whole number from ${min} to ${max}`;
const aString = (x: unknown) => (typeof x === 'string' && x !== '' ? undefined : 'must be a non-empty string');
const aBoolean = (x: unknown) => (typeof x === 'boolean' ? undefined : 'must be true or false');

export function generateSettings(c: ResolvedConfig): GenerateSettings {
  const v = sectionOf(c, 'generate');
  if (!v) return {};
  checkKeys(c, 'generate', v, { workers: wholeNumber(1, 64), days: wholeNumber(1, 3650) });
  return { workers: v.workers as number | undefined, days: v.days as number | undefined };
}

export function backupSettings(c: ResolvedConfig): BackupSettings {
  const v = sectionOf(c, 'backup');
  if (!v) return {};
  checkKeys(c, 'backup', v, {
    dir: aString,
    format: (x) => (x === 'tar.gz' || x === 'zip' ? undefined : 'must be "tar.gz" or "zip"'),
    metadataOnly: aBoolean,
    keep: wholeNumber(1, 100_000),
    keepDaily: wholeNumber(1, 100_000),
    keepWeekly: wholeNumber(1, 100_000),
    keepMonthly: wholeNumber(1, 100_000),
    pruneOlderThan: (x) => (typeof x === 'string' && /^\d+\s*[smhdw]$/.test(x.trim()) ? undefined : 'must be an age such as "30d", "12h" or "2w"'),
  });
  const base = c.configFile ? path.dirname(c.configFile) : process.cwd();
  return { ...(v as BackupSettings), ...(typeof v.dir === 'string' ? { dir: path.resolve(base, v.dir) } : {}) };
}

/** The effective configuration as `storectl config` shows it: passwords and secrets redacted (src/redact.ts). */
export function describeConfig(c: ResolvedConfig) {
  return {
    root: { value: c.root, source: c.sources.root },
    database: {
      value: c.databaseUrl ? redactUrl(c.databaseUrl) : isS3Url(c.root) ? null : path.join(c.root, '.storectl', 'catalog.db'),
      source: c.sources.database,
      /** The environment variable it came from, when it came from one. */
      variable: c.sources.database !== 'env' ? null : c.databaseFromSharedUrl ? 'DATABASE_URL' : 'STORECTL_DATABASE_URL',
    },
    /** The PostgreSQL schema storectl's tables are in (a SQLite catalog has none: shown all the same). */
    databaseSchema: {
      value: c.databaseSchema,
      source: c.sources.databaseSchema,
      variable: c.sources.databaseSchema === 'env' ? 'STORECTL_DATABASE_SCHEMA' : null,
    },
    logFile: { value: c.logFile ?? null, source: c.sources.logFile },
    s3: describeS3Settings(c.s3),
    configFile: c.configFile ?? null,
    tiers: Object.values(tierSettings(c)).map((t) => ({ name: t.name, url: t.url, ...(t.storageClass ? { storageClass: t.storageClass } : {}), ...(t.pack ? { pack: true, packThreshold: t.packThreshold } : {}) })),
    // url.secret was registered when the file was read; redactValue hides it (and any other secret key).
    sections: redactValue(c.sections),
  };
}

/** Secrets a config file's sections hold (url.secret; the s3 section registers its own): hidden from every output. */
function registerSectionSecrets(file: Record<string, unknown>): void {
  const url = file.url;
  if (url && typeof url === 'object' && !Array.isArray(url)) {
    const secret = (url as Record<string, unknown>).secret;
    if (typeof secret === 'string') registerSecret(secret);
  }
}

/** `url` section: where nginx serves the store, the link secret, the md5 expression, the default link lifetime. */
export interface UrlSettings {
  base?: string;
  secret?: string;
  secretFile?: string;
  expression?: string;
  /** Default for `url --expires` (a duration such as "15m", "1h", "7d"). */
  expires?: string;
}

/** The shortest link secret storectl accepts. */
export const MIN_LINK_SECRET = 16;
/** nginx's own variables a secure_link_md5 expression may use here, plus $secret. */
export const DEFAULT_LINK_EXPRESSION = '$secure_link_expires$uri $secret';
const LINK_VARS = ['secure_link_expires', 'uri', 'secret'];

/** Why BASE cannot be a link base (an http(s) URL without query, fragment or credentials), or undefined. */
export function linkBaseProblem(base: unknown): string | undefined {
  if (typeof base !== 'string' || base === '') return 'must be a non-empty string';
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    return 'is not a URL (e.g. https://files.example.com/store)';
  }
  if (!/^https?:$/.test(parsed.protocol)) return `must be an http:// or https:// URL, not ${parsed.protocol}`;
  if (parsed.search || parsed.hash || parsed.username || parsed.password) return 'must be an http(s) URL without query, fragment or credentials';
  return undefined;
}

/** Why SECRET cannot be a link secret, or undefined. Never names the value. */
export function linkSecretProblem(secret: unknown): string | undefined {
  if (typeof secret !== 'string' || secret === '') return 'must be a non-empty string';
  if (secret.length < MIN_LINK_SECRET || /["\\$\s{};]/.test(secret)) {
    return `must be at least ${MIN_LINK_SECRET} characters without quotes, backslashes, $, braces, ; or white space (it goes into nginx's configuration; e.g. openssl rand -hex 32)`;
  }
  return undefined;
}

/** Why EXPRESSION cannot be a secure_link_md5 expression storectl computes, or undefined. */
export function linkExpressionProblem(expression: unknown): string | undefined {
  if (typeof expression !== 'string' || expression === '') return 'must be a non-empty string';
  const vars = [...expression.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g)].map((m) => m[1]!);
  const unknown = vars.find((v) => !LINK_VARS.includes(v));
  if (unknown) return `uses $${unknown}: storectl can compute $secure_link_expires, $uri and $secret only`;
  if (LINK_VARS.some((v) => !vars.includes(v))) return `must use $secure_link_expires, $uri and $secret (the default is "${DEFAULT_LINK_EXPRESSION}")`;
  return undefined;
}

/** Why EXPIRES cannot be a link lifetime, or undefined. */
export function linkExpiresProblem(expires: unknown): string | undefined {
  const ms = parseDuration(expires);
  return ms ? undefined : 'must be a duration greater than 0, such as "90s", "15m", "1h" or "7d"';
}

export function urlSettings(c: ResolvedConfig): UrlSettings {
  const v = sectionOf(c, 'url');
  if (!v) return {};
  checkKeys(c, 'url', v, {
    base: linkBaseProblem,
    secret: linkSecretProblem,
    secretFile: aString,
    expression: linkExpressionProblem,
    expires: linkExpiresProblem,
  });
  if (v.secret !== undefined && v.secretFile !== undefined) {
    throw new UsageError(`config file ${c.configFile}: "url.secret" and "url.secretFile" both given`, 'keep one of them (url.secretFile keeps the secret out of the config file)', 'config');
  }
  const base = c.configFile ? path.dirname(c.configFile) : process.cwd();
  return { ...(v as UrlSettings), ...(typeof v.secretFile === 'string' ? { secretFile: path.resolve(base, v.secretFile) } : {}) };
}

/** One storage tier: where its files live (a directory or s3://BUCKET/PREFIX/) and, on S3, the storage class uploads get. */
export interface TierSpec {
  name: string;
  /** An absolute directory, or the canonical s3://BUCKET/PREFIX/. */
  url: string;
  storageClass?: string;
  /**
   * S3 tiers only: pack each job's small files into one object per job on a move here (fewer
   * objects and requests); every file stays readable alone (a ranged GET). See pack-format.ts.
   */
  pack?: boolean;
  /** A file is "small" (packed) when its stored size is at most this many bytes (default PACK_THRESHOLD). */
  packThreshold?: number;
}

/** Default `packThreshold`: files up to 1 MiB stored go into the job's pack. */
export const PACK_THRESHOLD = 1 << 20;
/** The largest `packThreshold` (a pack is built in memory: members are small by definition). */
export const PACK_MAX_THRESHOLD = 64 << 20;

/** The tier every file starts on: the store root. */
export const HOT_TIER = 'hot';
/** S3 storage classes a tier may name. GLACIER and DEEP_ARCHIVE are left out: their objects cannot be read back without a restore request. */
export const TIER_STORAGE_CLASSES = ['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'REDUCED_REDUNDANCY', 'EXPRESS_ONEZONE'];
const TIER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * `tiers` section: name -> a directory, an s3:// URL, or { url, storageClass }. `hot` is always
 * the store root (it may be written only as the root itself). Two tiers never share a place, and
 * a local tier never lies inside another's tree or holds one (the walks of one would see the other).
 */
export function tierSettings(c: ResolvedConfig): Record<string, TierSpec> {
  const out: Record<string, TierSpec> = { [HOT_TIER]: { name: HOT_TIER, url: c.root } };
  const v = sectionOf(c, 'tiers');
  if (!v) return out;
  const base = c.configFile ? path.dirname(c.configFile) : process.cwd();
  const badTier = (name: string, why: string, hint?: string): never => {
    throw new UsageError(`config file ${c.configFile}: "tiers.${name}" ${why}`, hint, 'config');
  };
  for (const [name, raw] of Object.entries(v)) {
    if (!TIER_NAME.test(name)) badTier(name, 'is not a tier name (lower-case letters, digits, - and _, starting with a letter)');
    let rawUrl: unknown = raw;
    let storageClass: string | undefined;
    let pack: boolean | undefined;
    let packThreshold: number | undefined;
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      const o = raw as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!['url', 'storageClass', 'pack', 'packThreshold'].includes(k)) badTier(`${name}.${k}`, 'is an unknown key', 'a tier has url, storageClass, pack and packThreshold');
      rawUrl = o.url;
      if (o.pack !== undefined) {
        if (typeof o.pack !== 'boolean') badTier(`${name}.pack`, 'must be true or false');
        pack = o.pack as boolean;
      }
      if (o.packThreshold !== undefined) {
        const n = typeof o.packThreshold === 'number' ? o.packThreshold : typeof o.packThreshold === 'string' ? parseSize(o.packThreshold) : undefined;
        if (n === undefined || !Number.isInteger(n) || n < 1 || n > PACK_MAX_THRESHOLD) badTier(`${name}.packThreshold`, `must be a size from 1 byte to 64MiB (a number of bytes, or "256KiB"); default ${PACK_THRESHOLD} (1MiB)`);
        packThreshold = n;
      }
      if (o.storageClass !== undefined) {
        if (typeof o.storageClass !== 'string' || !TIER_STORAGE_CLASSES.includes(o.storageClass)) {
          badTier(`${name}.storageClass`, `must be one of ${TIER_STORAGE_CLASSES.join(', ')}`, 'GLACIER and DEEP_ARCHIVE objects cannot be read back without a restore; GLACIER_IR can');
        }
        storageClass = o.storageClass as string;
      }
    }
    if (typeof rawUrl !== 'string' || rawUrl === '') badTier(name, 'must be a directory, an s3:// URL, or an object { url, storageClass }');
    let url: string;
    try {
      url = resolveRoot(rawUrl as string, base);
    } catch (err) {
      return badTier(name, `is not a usable place: ${errorMessage(err)}`);
    }
    if (storageClass && !isS3Url(url)) badTier(`${name}.storageClass`, 'applies to an s3:// tier only');
    if ((pack || packThreshold !== undefined) && !isS3Url(url)) badTier(`${name}.${pack ? 'pack' : 'packThreshold'}`, 'applies to an s3:// tier only', 'a local tier keeps its files as files');
    if (packThreshold !== undefined && !pack) badTier(`${name}.packThreshold`, 'needs "pack": true');
    if (name === HOT_TIER) {
      if (url !== c.root) badTier(name, `is the store root (${c.root}); it cannot be another place`, 'name the other place as a tier of its own (warm, cold, ...)');
      if (pack) badTier(`${name}.pack`, 'applies to an s3:// tier other than hot only');
      if (storageClass) out[HOT_TIER] = { name, url, storageClass };
      continue;
    }
    for (const other of Object.values(out)) {
      if (overlaps(url, other.url)) badTier(name, `(${url}) overlaps tier "${other.name}" (${other.url})`, 'each tier needs a place of its own, outside the others');
    }
    out[name] = { name, url, ...(storageClass ? { storageClass } : {}), ...(pack ? { pack, packThreshold: packThreshold ?? PACK_THRESHOLD } : {}) };
  }
  return out;
}

function overlaps(a: string, b: string): boolean {
  const dirA = a.endsWith('/') ? a : `${a}/`;
  const dirB = b.endsWith('/') ? b : `${b}/`;
  return dirA.startsWith(dirB) || dirB.startsWith(dirA);
}

/** `compression` section: the codec `compress` uses and the least fraction it must save (default gzip, 0.1). */
export interface CompressionSettings {
  algorithm: 'gzip' | 'br' | 'zstd';
  minSaving: number;
  /** The mass-action cap of a compress run: N files or N% of the present files (absent: none). */
  maxCompress?: string;
}

export function compressionSettings(c: ResolvedConfig): CompressionSettings {
  const v = sectionOf(c, 'compression') ?? {};
  checkKeys(c, 'compression', v, {
    algorithm: (x) => (x === 'gzip' || x === 'br' || x === 'zstd' ? undefined : 'must be "gzip", "br" or "zstd"'),
    minSaving: (x) => (typeof x === 'number' && x > 0 && x < 1 ? undefined : 'must be a fraction greater than 0 and less than 1 (0.1: at least 10% smaller)'),
    maxCompress: (x) => ((typeof x === 'number' && Number.isInteger(x) && x >= 0) || (typeof x === 'string' && /^\d+(\.\d+)?%$|^\d+$/.test(x)) ? undefined : 'must be a number of files (5000) or a percentage ("10%")'),
  });
  return {
    algorithm: (v.algorithm as CompressionSettings['algorithm'] | undefined) ?? 'gzip',
    minSaving: (v.minSaving as number | undefined) ?? 0.1,
    ...(v.maxCompress !== undefined ? { maxCompress: String(v.maxCompress) } : {}),
  };
}
