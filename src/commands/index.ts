// The command registry. Command files are light (commander options and rendering); each
// imports its operation, the catalog drivers and sharp lazily, so --help stays instant.
import type { CommandSpec } from './define.ts';
import backup from './backup.ts';
import cleanupExpired from './cleanup-expired.ts';
import cleanupOrphaned from './cleanup-orphaned.ts';
import completion from './completion.ts';
import config from './config.ts';
import generate from './generate.ts';
import migrate from './migrate.ts';
import migrateImagesToDb from './migrate-images-to-db.ts';
import migrateStore from './migrate-store.ts';
import importFromDb from './import-from-db.ts';
import quota from './quota.ts';
import restore from './restore.ts';
import show from './show.ts';
import get from './get.ts';
import url from './url.ts';
import exportCmd from './export.ts';
import deleteCmd from './delete.ts';
import stats from './stats.ts';
import verify from './verify.ts';
import put from './put.ts';
import dedup from './dedup.ts';
import unlock from './unlock.ts';
import jobs from './jobs.ts';
import s3Lifecycle from './s3-lifecycle.ts';
import tier from './tier.ts';

export const COMMANDS: CommandSpec[] = [
  generate,
  stats,
  jobs,
  show,
  get,
  url,
  exportCmd,
  deleteCmd,
  cleanupExpired,
  cleanupOrphaned,
  tier,
  backup,
  restore,
  verify,
  put,
  dedup,
  migrateImagesToDb,
  migrateStore,
  quota,
  importFromDb,
  s3Lifecycle,
  unlock,
  migrate,
  config,
  completion,
];
