// What migrate-images-to-db is asked to migrate: the store (default), a directory, one
// table from flags, or the tables listed in the config file's `migrateImages` section.
// Everything here is checked before the catalog is opened, so a bad name runs nothing.
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.ts';
import { checkTarget } from '../../db/user-tables.ts';
import type { UserTableTarget } from '../../db/types.ts';
import { UsageError } from '../../errors.ts';
import { dirSource, storeSource, tableSource, type ImageSource } from './sources.ts';

export type Target =
  | { kind: 'store' }
  | { kind: 'dir'; dir: string }
  | { kind: 'table'; target: UserTableTarget; baseDir: string };

/** The `migrateImages` config section. */
export interface MigrateImagesConfig {
  workers?: number;
  batchSize?: number;
  maxPixels?: number;
  effort?: number;
  baseDir?: string;
  targets?: (UserTableTarget & { baseDir?: string })[];
}

const SECTION_KEYS = ['workers', 'batchSize', 'maxPixels', 'effort', 'baseDir', 'targets'];
const TARGET_KEYS = ['table', 'key', 'pathColumn', 'dataColumn', 'baseDir'];

function configError(where: string, message: string): UsageError {
  return new UsageError(`config migrateImages${where}: ${message}`, 'see docs/migrate-images-to-db.md for the section format', 'config');
}

/** Validates the config section as written (relative baseDirs resolve against baseDirOf). */
export function parseMigrateImagesConfig(value: unknown, baseDirOf: string): MigrateImagesConfig {
  if (value === undefined) return {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw configError('', 'must be an object');
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) if (!SECTION_KEYS.includes(k)) throw configError('', `unknown key "${k}" (known: ${SECTION_KEYS.join(', ')})`);
  const int = (k: string, min: number, max: number) => {
    if (v[k] === undefined) return undefined;
    if (!Number.isInteger(v[k]) || (v[k] as number) < min || (v[k] as number) > max) throw configError(`.${k}`, `must be a whole number from ${min} to ${max}`);
    return v[k] as number;
  };
  const str = (obj: Record<string, unknown>, k: string, where: string, required: boolean) => {
    if (obj[k] === undefined && !required) return undefined;
    if (typeof obj[k] !== 'string' || obj[k] === '') throw configError(`${where}.${k}`, 'must be a non-empty string');
    return obj[k] as string;
  };
  const out: MigrateImagesConfig = {
    workers: int('workers', 1, 64),
    batchSize: int('batchSize', 1, 10_000),
    maxPixels: int('maxPixels', 1, 2 ** 40),
    effort: int('effort', 0, 6),
  };
  const base = str(v, 'baseDir', '', false);
  if (base !== undefined) out.baseDir = path.resolve(baseDirOf, base);
  if (v.targets !== undefined) {
    if (!Array.isArray(v.targets) || v.targets.length === 0) throw configError('.targets', 'must be a non-empty array');
    out.targets = v.targets.map((t, i) => {
      const where = `.targets[${i}]`;
      if (!t || typeof t !== 'object' || Array.isArray(t)) throw configError(where, 'must be an object');
      const o = t as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!TARGET_KEYS.includes(k)) throw configError(where, `unknown key "${k}" (known: ${TARGET_KEYS.join(', ')})`);
      const tb = str(o, 'baseDir', where, false);
      const target = {
        table: str(o, 'table', where, true)!,
        key: str(o, 'key', where, false) ?? 'id',
        pathColumn: str(o, 'pathColumn', where, true)!,
        dataColumn: str(o, 'dataColumn', where, false),
        ...(tb !== undefined ? { baseDir: path.resolve(baseDirOf, tb) } : {}),
      };
      checkTarget(target);
      return target;
    });
  }
  return out;
}

export interface TargetFlags {
  table?: string;
  key?: string;
  pathColumn?: string;
  dataColumn?: string;
  baseDir?: string;
  fromDir?: string;
}

/** Turns flags and config into the list of targets, or a usage error. */
export function resolveTargets(flags: TargetFlags, config: MigrateImagesConfig, cwd: string): Target[] {
  const tableFlags = flags.key !== undefined || flags.pathColumn !== undefined || flags.dataColumn !== undefined;
  if (flags.table !== undefined && flags.fromDir !== undefined) throw new UsageError('give --table or --from-dir, not both');
  if (flags.table === undefined && tableFlags) throw new UsageError('--key, --path-column and --data-column need --table');
  if (flags.baseDir !== undefined && flags.table === undefined && !config.targets) throw new UsageError('--base-dir applies to table mode (--table or config targets)');
  if (flags.table !== undefined) {
    if (flags.pathColumn === undefined) throw new UsageError('--table needs --path-column', 'e.g. --table users --key id --path-column photo_path --data-column photo_data');
    const target = checkTarget({ table: flags.table, key: flags.key ?? 'id', pathColumn: flags.pathColumn, dataColumn: flags.dataColumn });
    return [{ kind: 'table', target, baseDir: path.resolve(cwd, flags.baseDir ?? config.baseDir ?? '.') }];
  }
  if (flags.fromDir !== undefined) return [{ kind: 'dir', dir: path.resolve(cwd, flags.fromDir) }];
  if (config.targets) {
    return config.targets.map(({ baseDir, ...target }) => ({
      kind: 'table' as const,
      target,
      baseDir: flags.baseDir !== undefined ? path.resolve(cwd, flags.baseDir) : (baseDir ?? config.baseDir ?? cwd),
    }));
  }
  return [{ kind: 'store' }];
}

/** Checks every table target against the database (before anything runs) and builds the sources. */
export async function openSources(ctx: Context, targets: Target[]): Promise<ImageSource[]> {
  const sources: ImageSource[] = [];
  for (const t of targets) {
    if (t.kind === 'store') sources.push(storeSource(ctx));
    else if (t.kind === 'dir') {
      if (!fs.statSync(t.dir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--from-dir ${t.dir} is not a directory`);
      sources.push(dirSource(ctx, t.dir));
    }
    else sources.push(tableSource(ctx, t.target, await ctx.catalog.describeUserTable(t.target), t.baseDir));
  }
  return sources;
}
