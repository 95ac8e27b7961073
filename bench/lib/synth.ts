// Builds a synthetic store fast, at scale: bulk catalog rows and small random files laid out
// as the card tree, without rendering. For benchmarks only.
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { openCatalog } from '../../src/db/connect.ts';
import { parseDatabaseUrl } from '../../src/db/url.ts';
import type { NewFile, NewJob } from '../../src/db/types.ts';
import { CARD_ROLES, cardFilePath, contentTypeOf } from '../../src/storage/layout.ts';
import { prng } from '../../src/ops/sample.ts';

export interface SynthOptions {
  root: string;
  databaseUrl?: string;
  jobs: number;
  filesPerJob?: number;
  minBytes?: number;
  maxBytes?: number;
  /** Extra files on disk with no catalog row. */
  orphans?: number;
  days?: number;
  seed?: number;
  /** false: catalog rows only (stats at 1M rows needs no files). */
  withFiles?: boolean;
  now?: Date;
  /**
   * true (default): jobs are created in id order over the period, so ids, rows and dated
   * paths follow creation time, as in the card system (its ids carry the date and rows are
   * written as jobs are generated). false: creation times at random, unrelated to ids and rows.
   */
  timeOrdered?: boolean;
  onProgress?: (done: number) => void;
}

const STATUSES: [string, number][] = [
  ['completed', 60],
  ['qa_failed', 5],
  ['printed', 10],
  ['failed', 10],
  ['processing', 5],
  ['queued', 10],
];
const OWNERS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];

export async function buildSyntheticStore(o: SynthOptions): Promise<{ jobs: number; files: number; bytes: number; orphans: number }> {
  const filesPerJob = Math.min(o.filesPerJob ?? 5, CARD_ROLES.length);
  const minBytes = o.minBytes ?? 1024;
  const maxBytes = o.maxBytes ?? 8192;
  const days = o.days ?? 120;
  const now = o.now ?? new Date();
  const withFiles = o.withFiles ?? true;
  const timeOrdered = o.timeOrdered ?? true;
  const rnd = prng(o.seed ?? 1);
  fs.mkdirSync(o.root, { recursive: true, mode: 0o750 });
  const catalog = await openCatalog(parseDatabaseUrl(o.databaseUrl, o.root), { create: true, migrate: 'never' });
  await catalog.migrate();
  // One pool of random bytes, sliced at random offsets: files differ without paying for
  // randomBytes per file.
  const pool = randomBytes(4 << 20);
  let files = 0;
  let bytes = 0;
  const BATCH_JOBS = 2000;
  try {
    for (let start = 0; start < o.jobs; start += BATCH_JOBS) {
      const jobs: NewJob[] = [];
      const rows: NewFile[] = [];
      for (let i = start; i < Math.min(o.jobs, start + BATCH_JOBS); i++) {
        const span = days * 86_400_000;
        const at = timeOrdered ? ((i + rnd()) / o.jobs) * span : (1 - rnd()) * span;
        const createdAt = new Date(now.getTime() - span + Math.floor(at) - 3_600_000);
        const total = STATUSES.reduce((a, [, w]) => a + w, 0);
        let r = rnd() * total;
        const status = STATUSES.find(([, w]) => (r -= w) < 0)?.[0] ?? 'completed';
        const id = `job-${String(i).padStart(8, '0')}`;
        const owner = OWNERS[i % OWNERS.length]!;
        jobs.push({
          id,
          owner,
          status,
          data: { holderName: `Holder ${i}`, licenceNumber: `L${i}` },
          createdAt,
          updatedAt: createdAt,
          completedAt: status === 'completed' ? new Date(createdAt.getTime() + 600_000) : null,
          filesState: 'on_disk',
        });
        for (const role of CARD_ROLES.slice(0, filesPerJob)) {
          const size = minBytes + Math.floor(rnd() * (maxBytes - minBytes + 1));
          const off = Math.floor(rnd() * (pool.length - size));
          const content = pool.subarray(off, off + size);
          const rel = cardFilePath(id, createdAt, role);
          const at = new Date(createdAt.getTime() + 30_000);
          if (withFiles) {
            const abs = path.join(o.root, rel);
            fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o750 });
            fs.writeFileSync(abs, content, { mode: 0o600 });
          }
          rows.push({
            jobId: id,
            role,
            category: 'cards',
            owner,
            path: rel,
            contentType: contentTypeOf(rel),
            size,
            sha256: createHash('sha256').update(content).digest('hex'),
            mtime: at,
            createdAt: at,
          });
          files++;
          bytes += size;
        }
      }
      await catalog.insertJobs(jobs);
      await catalog.insertFiles(rows);
      o.onProgress?.(Math.min(o.jobs, start + BATCH_JOBS));
    }
  } finally {
    await catalog.close();
  }
  const orphans = o.orphans ?? 0;
  if (withFiles) {
    const old = new Date(now.getTime() - 2 * 86_400_000);
    for (let i = 0; i < orphans; i++) {
      const rel = `cards/2020/01/01/orphan-${String(Math.floor(i / 5)).padStart(7, '0')}/file-${i % 5}.png`;
      const abs = path.join(o.root, rel);
      fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o750 });
      fs.writeFileSync(abs, pool.subarray(i % 1000, (i % 1000) + minBytes), { mode: 0o600 });
      fs.utimesSync(abs, old, old);
    }
  }
  return { jobs: o.jobs, files, bytes, orphans: withFiles ? orphans : 0 };
}
