// Effective configuration: flags > environment > config file > defaults.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UsageError, errorMessage } from './errors.ts';
import { redactUrl } from './db/url.ts';

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
}

/** Top-level keys a config file may have; each section is validated by the code that uses it. */
export const CONFIG_SECTIONS = ['root', 'database', 'logFile', 'generate', 'cleanup', 'backup', 'migrateImages', 'url'] as const;

export interface ResolvedConfig {
  root: string;
  databaseUrl: string | undefined;
  logFile: string | undefined;
  configFile: string | undefined;
  sources: { root: Source; database: Source; logFile: Source };
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
  const [db, dbSrc] = pick(flags.database, env.STORECTL_DATABASE_URL || env.DATABASE_URL || undefined, file.database as string | undefined);
  const [logFile, logSrc] = pick(flags.logFile, env.STORECTL_LOG_FILE || undefined, file.logFile as string | undefined);
  const base = rootSrc === 'file' ? fileDir : cwd;
  const sections: Record<string, unknown> = { ...file };
  delete sections.root;
  delete sections.database;
  delete sections.logFile;
  return {
    root: path.resolve(base, rootRaw ?? 'storage'),
    databaseUrl: db,
    logFile: logFile ? path.resolve(logSrc === 'file' ? fileDir : cwd, logFile) : undefined,
    configFile,
    sources: { root: rootSrc, database: dbSrc, logFile: logSrc },
    sections,
  };
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
    if ((key === 'root' || key === 'database' || key === 'logFile') && typeof v !== 'string') {
      throw new UsageError(`config file ${file}: "${key}" must be a string`, undefined, 'config');
    }
  }
  return value as Record<string, unknown>;
}

/** The effective configuration as `storectl config` shows it: password redacted. */
export function describeConfig(c: ResolvedConfig) {
  return {
    root: { value: c.root, source: c.sources.root },
    database: {
      value: c.databaseUrl ? redactUrl(c.databaseUrl) : path.join(c.root, '.storectl', 'catalog.db'),
      source: c.sources.database,
    },
    logFile: { value: c.logFile ?? null, source: c.sources.logFile },
    configFile: c.configFile ?? null,
    sections: hideUrlSecret(c.sections),
  };
}

/** url.secret is shown as *** (the link secret is never printed). */
function hideUrlSecret(sections: Record<string, unknown>): Record<string, unknown> {
  const url = sections.url as Record<string, unknown> | undefined;
  if (!url || typeof url !== 'object' || url.secret === undefined) return sections;
  return { ...sections, url: { ...url, secret: '***' } };
}
