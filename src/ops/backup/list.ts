// `backup list --dir DIR`: the backups in a directory, newest first, as their names and the
// directory say (time, format, good or partial or unverified, size), with what the store's own
// record of each backup adds (files archived, exit code) when the store is reachable. The
// directory alone is enough: after a disaster the catalog may be the thing that is gone.
import fs from 'node:fs';
import path from 'node:path';
import type { RunRecord } from '../../db/types.ts';
import { UsageError } from '../../errors.ts';

/** storectl-backup-<stamp>[-n][.partial|.unverified].<format> */
const NAME = /^storectl-backup-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-(\d+))?(?:\.(partial|unverified))?\.(tar\.gz|zip)$/;

/** good: complete (exit 0); partial: files were left out (exit 3/4); unverified: it was read back and did not verify (set aside). */
export type BackupStatus = 'good' | 'partial' | 'unverified';

export interface ListedBackup {
  name: string;
  path: string;
  createdAt: string;
  format: 'tar.gz' | 'zip';
  bytes: number;
  status: BackupStatus;
  /** Read back and checked after writing (backups with retention rules are): from the store's record; false for a set-aside one; null when unknown. */
  verified: boolean | null;
  /** From the store's record of the backup run, when there is one. */
  files: number | null;
  fileBytes: number | null;
  metadataOnly: boolean | null;
  exitCode: number | null;
}

export interface BackupListReport {
  dir: string;
  backups: ListedBackup[];
  /** Whether the store's records were read (false when no store was reachable). */
  recordsRead: boolean;
}

export function checkListDir(dir: string): void {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new UsageError(`--dir ${dir} is not a directory`, 'name the directory `storectl backup --dir` writes to');
}

export function listBackups(dir: string, records: readonly RunRecord[] | undefined): BackupListReport {
  checkListDir(dir);
  const byPath = new Map<string, RunRecord>();
  // Newest record first: a name written twice (an output replaced) shows its last run.
  for (const r of records ?? []) {
    const p = r.totals?.path;
    if (typeof p === 'string' && !byPath.has(p)) byPath.set(p, r);
  }
  const backups: (ListedBackup & { n: number })[] = [];
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const m = NAME.exec(d.name);
    if (!m || !d.isFile()) continue;
    const [, y, mo, dd, h, mi, s, n, mark, format] = m;
    const file = path.join(dir, d.name);
    const fst = fs.statSync(file, { throwIfNoEntry: false });
    if (!fst) continue; // pruned while listed
    const status: BackupStatus = mark === 'partial' ? 'partial' : mark === 'unverified' ? 'unverified' : 'good';
    // A set-aside archive was recorded under the name it was written with.
    const rec = byPath.get(file) ?? (mark === 'unverified' ? byPath.get(file.replace('.unverified.', '.')) : undefined);
    const t = rec?.totals ?? {};
    backups.push({
      name: d.name,
      path: file,
      createdAt: new Date(Date.UTC(+y!, +mo! - 1, +dd!, +h!, +mi!, +s!)).toISOString(),
      format: format as 'tar.gz' | 'zip',
      bytes: fst.size,
      status,
      verified: status === 'unverified' ? false : typeof t.verified === 'boolean' ? t.verified : null,
      files: typeof t.files === 'number' ? t.files : null,
      fileBytes: typeof t.fileBytes === 'number' ? t.fileBytes : null,
      metadataOnly: typeof t.metadataOnly === 'boolean' ? t.metadataOnly : null,
      exitCode: rec?.exitCode ?? null,
      n: Number(n ?? 0),
    });
  }
  backups.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.n - a.n);
  return { dir, backups: backups.map(({ n: _n, ...b }) => b), recordsRead: records !== undefined };
}
