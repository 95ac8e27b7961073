// Which file row a `get`/`url` names, and the outcome when it cannot be served:
// not_found (no such job, or it never had that file: HTTP 404), gone (a tombstone: 410),
// integrity (the row says present or missing but the file is not there: exit 4).
import type { AccessCatalog, FilesCatalog, JobsCatalog } from '../../db/catalog.ts';
import type { FileRecord, PathEvent } from '../../db/types.ts';
import { GoneError, IntegrityError, NotFoundError } from '../../errors.ts';

export type FileTarget = { jobId: string; role: string } | { path: string };

export function describeTarget(t: FileTarget): string {
  return 'path' in t ? t.path : `${t.jobId} ${t.role}`;
}

/** Who deleted a file and why, read from its tombstone and the delete event's run. */
export interface Tombstone {
  path: string;
  role: string;
  deletedAt: string | null;
  reason: string | null;
  /** The lifecycle rule when a rule deleted it (`expired: rule X`). */
  rule: string | null;
  /** The command of the run that deleted it (cleanup-expired, delete, ...). */
  command: string | null;
  runId: string | null;
  user: string | null;
  host: string | null;
}

const RULE_REASON = /^expired: rule ([^\s(]+)/;

/** Tombstones of deleted (or being deleted) rows, each with its delete event's run when recorded. */
export async function tombstonesOf(catalog: AccessCatalog, rows: readonly FileRecord[]): Promise<Tombstone[]> {
  const dead = rows.filter((f) => f.state === 'deleted' || f.state === 'deleting');
  if (!dead.length) return [];
  const events = await catalog.eventsOfPaths(dead.map((f) => f.path));
  const lastDelete = new Map<string, PathEvent>();
  for (const e of events) if (e.path && /^delete/.test(e.action)) lastDelete.set(e.path, e);
  return dead.map((f) => {
    const e = lastDelete.get(f.path);
    const reason = f.deleteReason ?? e?.reason ?? null;
    return {
      path: f.path,
      role: f.role,
      deletedAt: f.deletedAt?.toISOString() ?? (f.state === 'deleting' ? null : e?.at.toISOString() ?? null),
      reason: f.state === 'deleting' ? `being deleted${reason ? ` (${reason})` : ''}` : reason,
      rule: RULE_REASON.exec(reason ?? '')?.[1] ?? null,
      command: e?.run?.command ?? null,
      runId: e?.runId ?? null,
      user: e?.run?.user ?? null,
      host: e?.run?.host ?? null,
    };
  });
}

export function goneSentence(t: Tombstone): string {
  const by = [t.rule && !t.reason?.includes(`rule ${t.rule}`) ? `rule ${t.rule}` : null, t.command ? `by ${t.command}` : null, t.user ? `as ${t.user}${t.host ? `@${t.host}` : ''}` : null, t.runId ? `run ${t.runId}` : null]
    .filter(Boolean)
    .join(', ');
  return `${t.path} was deleted${t.deletedAt ? ` at ${t.deletedAt}` : ''}${t.reason ? `: ${t.reason}` : ''}${by ? ` (${by})` : ''}`;
}

/**
 * The present row a target names, or the typed error saying why there is none. With a role,
 * the newest row of that role (a reprint replaces by path, so there is one per path).
 */
export async function resolveFile(catalog: Pick<JobsCatalog, 'getJobs'> & Pick<FilesCatalog, 'filesOfJob' | 'filesByPaths'> & AccessCatalog, t: FileTarget): Promise<FileRecord> {
  let rows: FileRecord[];
  if ('path' in t) {
    rows = await catalog.filesByPaths([t.path]);
    if (!rows.length) throw new NotFoundError(`no file ${JSON.stringify(t.path)} in the catalog`, 'paths are relative to the store root, as storectl show lists them');
  } else {
    const [job] = await catalog.getJobs([t.jobId]);
    if (!job) throw new NotFoundError(`no job ${JSON.stringify(t.jobId)} in the catalog`, 'check the id: storectl jobs lists the jobs of this catalog');
    rows = (await catalog.filesOfJob(t.jobId)).filter((f) => f.role === t.role);
    if (!rows.length) {
      const roles = [...new Set((await catalog.filesOfJob(t.jobId)).map((f) => f.role))];
      throw new NotFoundError(
        `job ${t.jobId} has no file ${JSON.stringify(t.role)} (files_state ${job.filesState})`,
        roles.length ? `its roles: ${roles.join(', ')}` : 'its files were never generated',
        { jobId: t.jobId, role: t.role },
      );
    }
  }
  const live = rows.find((f) => f.state === 'present') ?? rows.find((f) => f.state !== 'deleted' && f.state !== 'deleting');
  if (live?.state === 'present') return live;
  if (live) {
    throw new IntegrityError(`${live.path} is recorded as ${live.state}: the catalog has its row but not its good bytes on disk`, 'storectl stats --check-disk shows the drift; restore it from a backup');
  }
  const [tomb] = await tombstonesOf(catalog, rows);
  throw new GoneError(goneSentence(tomb!), 'its row is kept for audit: storectl show ' + (rows[0]!.jobId ?? tomb!.path), { tombstone: tomb });
}
