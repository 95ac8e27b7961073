// A small store where every cleanup rule fires (and every keep-case is present), built through
// the catalog and plain file writes, with times relative to now (the CLI runs on the real clock).
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Catalog } from '../../src/db/catalog.ts';
import type { NewFile, NewJob } from '../../src/db/types.ts';
import { cardFilePath } from '../../src/storage/layout.ts';

const H = 3_600_000;
const D = 24 * H;

export interface FixtureJob {
  id: string;
  kind: 'card' | 'export';
  status: string;
  updatedAgo: number;
  completedAgo?: number;
  files: number;
}

/** Jobs and what the default rules do to them now. */
export const FIXTURE_JOBS: (FixtureJob & { expect: 'delete' | 'keep' | 'mark'; dueWithin?: number })[] = [
  { id: 'c-done', kind: 'card', status: 'completed', updatedAgo: 2 * H, completedAgo: 2 * H, files: 3, expect: 'delete' },
  { id: 'c-qa', kind: 'card', status: 'qa_failed', updatedAgo: 30 * D, files: 2, expect: 'keep' },
  { id: 'c-reprint', kind: 'card', status: 'reprint', updatedAgo: 30 * D, files: 2, expect: 'keep' },
  { id: 'c-printed', kind: 'card', status: 'printed', updatedAgo: 30 * D, files: 2, expect: 'keep' },
  { id: 'e-done-old', kind: 'export', status: 'completed', updatedAgo: 30 * H, completedAgo: 30 * H, files: 1, expect: 'delete' },
  { id: 'e-done-new', kind: 'export', status: 'completed', updatedAgo: 2 * H, completedAgo: 2 * H, files: 1, expect: 'keep', dueWithin: 1 * D },
  { id: 'e-failed', kind: 'export', status: 'failed', updatedAgo: 2 * H, files: 1, expect: 'delete' },
  { id: 'c-failed-old', kind: 'card', status: 'failed', updatedAgo: 8 * D, files: 2, expect: 'delete' },
  { id: 'c-failed-new', kind: 'card', status: 'failed', updatedAgo: 2 * D, files: 2, expect: 'keep', dueWithin: 6 * D },
  { id: 'c-stuck', kind: 'card', status: 'processing', updatedAgo: 2 * D, files: 2, expect: 'mark' },
  { id: 'c-live', kind: 'card', status: 'processing', updatedAgo: 1 * H, files: 2, expect: 'keep' },
];

export const FIXTURE_TEMP = [
  { path: 'temp/up-old/a.tmp', ago: 2 * D, expect: 'delete' as const },
  { path: 'temp/up-new/b.tmp', ago: 1 * H, expect: 'keep' as const },
];

const ROLES = ['front.png', 'back.png', 'combined.pdf'];

export function writeFile(root: string, rel: string, content: Buffer, at?: Date): { size: number; mtime: Date } {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o750 });
  fs.writeFileSync(abs, content, { mode: 0o600 });
  if (at) fs.utimesSync(abs, at, at);
  const st = fs.statSync(abs);
  return { size: st.size, mtime: st.mtime };
}

export function pathsOf(j: FixtureJob, createdAt: Date): string[] {
  if (j.kind === 'export') return [`exports/report_${j.id}_20260101_000000.csv`];
  return ROLES.slice(0, j.files).map((r) => cardFilePath(j.id, createdAt, r));
}

/** Builds the fixture; returns every job's file paths. */
export async function buildCleanupStore(root: string, catalog: Catalog, now = Date.now()): Promise<Map<string, string[]>> {
  const jobs: NewJob[] = [];
  const rows: NewFile[] = [];
  const out = new Map<string, string[]>();
  for (const j of FIXTURE_JOBS) {
    const createdAt = new Date(now - j.updatedAgo - H);
    jobs.push({
      id: j.id,
      kind: j.kind,
      owner: 'acme',
      status: j.status,
      data: {},
      createdAt,
      updatedAt: new Date(now - j.updatedAgo),
      completedAt: j.completedAgo !== undefined ? new Date(now - j.completedAgo) : null,
      filesState: 'on_disk',
    });
    const paths = pathsOf(j, createdAt);
    out.set(j.id, paths);
    for (const p of paths) {
      const content = Buffer.from(`${j.id} ${p}\n`.repeat(20));
      const st = writeFile(root, p, content, createdAt);
      rows.push({ jobId: j.id, role: path.basename(p), category: p.split('/')[0]!, owner: 'acme', path: p, contentType: 'application/octet-stream', size: st.size, sha256: createHash('sha256').update(content).digest('hex'), mtime: st.mtime, createdAt });
    }
  }
  for (const t of FIXTURE_TEMP) {
    const at = new Date(now - t.ago);
    const content = Buffer.from(`temp ${t.path}\n`);
    const st = writeFile(root, t.path, content, at);
    rows.push({ jobId: null, role: 'upload.tmp', category: 'temp', owner: '', path: t.path, contentType: 'application/octet-stream', size: st.size, sha256: createHash('sha256').update(content).digest('hex'), mtime: st.mtime, createdAt: at });
  }
  await catalog.insertJobs(jobs);
  await catalog.insertFiles(rows);
  return out;
}

export function exists(root: string, rel: string): boolean {
  return fs.existsSync(path.join(root, rel));
}

/** Runs a read-only SQL query on either dialect (tests only: events have no reader method). */
export async function sqlRows<T = Record<string, unknown>>(c: Catalog, query: string): Promise<T[]> {
  const anyC = c as unknown as { raw?: { prepare(q: string): { all(): unknown[] } }; pool?: { query(q: string): Promise<{ rows: unknown[] }> } };
  if (anyC.raw) return anyC.raw.prepare(query).all() as T[];
  return (await anyC.pool!.query(query)).rows as T[];
}

/** Runs a statement that returns no rows (DDL) on either dialect. */
export async function sqlExec(c: Catalog, statement: string): Promise<void> {
  const anyC = c as unknown as { raw?: { exec(q: string): unknown }; pool?: { query(q: string): Promise<unknown> } };
  if (anyC.raw) anyC.raw.exec(statement);
  else await anyC.pool!.query(statement);
}
