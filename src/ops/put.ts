// put: adds existing files to the store as a job's files. Each file is copied into staging
// with its SHA-256 computed while copying, checked against the sender's claim, typed from its
// bytes, placed by the layout (atomically, before its row), and checked for a duplicate of the
// same owner, which is linked, skipped or copied.
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import type { Context } from '../context.ts';
import { integrityCatalog, type ContentRow } from '../db/integrity.ts';
import type { EventRecord, Job, NewJob } from '../db/types.ts';
import { StorectlError, UsageError } from '../errors.ts';
import { stageCopy, SourceError } from '../storage/ingest.ts';
import { hashObject } from '../storage/blob-hash.ts';
import { CATEGORIES, checkJobId, contentTypeOf, exportPath, jobFilePath } from '../storage/layout.ts';
import { looksLikeText, sniffType } from '../storage/sniff.ts';
import { withStoreLock } from './store-lock.ts';
import { isQuotaExceeded } from '../db/usage.ts';
import { admissionRefusal, quotaExceededMessage } from './quota.ts';

export type DuplicateMode = 'link' | 'skip' | 'copy';
export const DUPLICATE_MODES: readonly DuplicateMode[] = ['link', 'skip', 'copy'];

export interface PutItem {
  /** A path, or 0 for stdin. */
  source: string | 0;
  jobId: string;
  role?: string;
  kind?: string;
  owner?: string;
  category?: string;
  exportType?: string;
  /** The SHA-256 the sender claims (hex). */
  sha256?: string;
}

export interface PutAdded {
  source: string;
  path: string;
  jobId: string;
  size: number;
  sha256: string;
  contentType: string;
  /** 'link': shares the content of `duplicateOf`; 'copy': a second copy of it. */
  duplicate?: {
    mode: 'link' | 'copy';
    of: { path: string; jobId: string | null };
    /** An S3 store has no hard links: --on-duplicate link made a server-side copy (CopyObject), an independent object. */
    serverSide?: boolean;
  };
}

export interface PutReport {
  onDuplicate: DuplicateMode;
  added: PutAdded[];
  /** Duplicates not recorded (--on-duplicate skip): the existing job and path. */
  skipped: { source: string; jobId: string; existing: { path: string; jobId: string | null } }[];
  /** Files whose bytes disagree with the SHA-256 the sender gave: refused, nothing written. */
  checksumMismatch: { source: string; expected: string; actual: string }[];
  /** Files whose name claims another type than their bytes show (recorded by the bytes). */
  nameMismatch: { source: string; claimed: string; detected: string }[];
  failed: { source: string; reason: string }[];
  jobsCreated: string[];
}

const label = (s: string | 0) => (s === 0 ? '-' : s);

class ItemError extends Error {}

export async function runPut(ctx: Context, items: readonly PutItem[], opts: { onDuplicate: DuplicateMode; waitMs: number }): Promise<PutReport> {
  const report: PutReport = { onDuplicate: opts.onDuplicate, added: [], skipped: [], checksumMismatch: [], nameMismatch: [], failed: [], jobsCreated: [] };
  return withStoreLock(ctx, 'put', opts.waitMs, async () => {
    const ic = integrityCatalog(ctx.catalog);
    // A local store stages on its own file system (the move into place is a rename); an S3
    // store has no .storectl/: a private temp directory, each file uploaded from there.
    const local = ctx.store.capabilities.kind === 'local';
    if (local) ctx.blobs.clearStaging();
    const staging = local ? ctx.blobs.stagingDir('put') : fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-put-'));
    const jobs = new Map<string, { job: Job | NewJob; isNew: boolean }>();
    const progress = ctx.progress('adding', items.length);
    try {
      for (const item of items) {
        try {
          await putOne(ctx, ic, item, opts.onDuplicate, staging, jobs, report);
        } catch (err) {
          if (err instanceof SourceError || err instanceof ItemError || (err instanceof StorectlError && err.exitCode === 2)) {
            report.failed.push({ source: label(item.source), reason: err.message });
          } else throw err;
        }
        progress.tick();
      }
    } finally {
      progress.done();
      fs.rmSync(staging, { recursive: true, force: true });
    }
    return report;
  });
}

async function resolveJob(ctx: Context, item: PutItem, jobs: Map<string, { job: Job | NewJob; isNew: boolean }>) {
  checkJobId(item.jobId);
  let entry = jobs.get(item.jobId);
  if (!entry) {
    const [existing] = await ctx.catalog.getJobs([item.jobId]);
    const now = ctx.clock();
    entry = existing
      ? { job: existing, isNew: false }
      : {
          job: {
            id: item.jobId,
            kind: item.kind ?? (item.category === 'exports' ? 'export' : 'upload'),
            owner: item.owner ?? '',
            status: 'completed',
            data: { source: 'put', ...(item.exportType ? { export_type: item.exportType } : {}) },
            createdAt: now,
            updatedAt: now,
            completedAt: now,
            filesState: 'none',
          },
          isNew: true,
        };
    jobs.set(item.jobId, entry);
  }
  const owner = entry.job.owner ?? '';
  if (item.owner !== undefined && item.owner !== owner) throw new ItemError(`job ${item.jobId} belongs to owner ${JSON.stringify(owner)}, not ${JSON.stringify(item.owner)}`);
  if (item.kind !== undefined && entry.job.kind !== undefined && item.kind !== entry.job.kind && !entry.isNew) {
    throw new ItemError(`job ${item.jobId} is of kind ${entry.job.kind}, not ${item.kind}`);
  }
  return entry;
}

async function putOne(
  ctx: Context,
  ic: ReturnType<typeof integrityCatalog>,
  item: PutItem,
  mode: DuplicateMode,
  staging: string,
  jobs: Map<string, { job: Job | NewJob; isNew: boolean }>,
  report: PutReport,
): Promise<void> {
  const source = label(item.source);
  if (item.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(item.sha256)) throw new ItemError(`--sha256 ${JSON.stringify(item.sha256)} is not 64 hex digits`);
  if (item.category !== undefined && !(CATEGORIES as readonly string[]).includes(item.category)) {
    throw new ItemError(`unknown category ${JSON.stringify(item.category)} (one of ${CATEGORIES.join(', ')})`);
  }
  if (item.source === 0 && !item.role) throw new ItemError('reading stdin needs --role (the file name within the job)');
  const entry = await resolveJob(ctx, item, jobs);
  const job = entry.job;
  const staged = stageCopy(item.source, staging);
  let placed: string | undefined;
  try {
    if (item.sha256 !== undefined && item.sha256.toLowerCase() !== staged.sha256) {
      report.checksumMismatch.push({ source, expected: item.sha256.toLowerCase(), actual: staged.sha256 });
      return;
    }
    const name = item.role ?? path.basename(String(item.source));
    const claimed = contentTypeOf(name);
    const type = await sniffType(staged.head);
    const sniffed = type?.mime ?? null;
    const textual = claimed.startsWith('text/') || claimed === 'application/json';
    const contentType = sniffed ?? (textual && looksLikeText(staged.head) ? claimed : 'application/octet-stream');
    if (sniffed && claimed !== 'application/octet-stream' && claimed !== sniffed) report.nameMismatch.push({ source, claimed, detected: sniffed });
    const category = item.category ?? (job.kind === 'export' ? 'exports' : 'uploads');
    const now = ctx.clock();
    let rel: string;
    if (category === 'exports') {
      const nameExt = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
      const ext = nameExt && contentTypeOf(`x.${nameExt}`) === contentType ? nameExt : (type?.ext ?? (nameExt || 'bin'));
      const exportType = item.exportType ?? String((job.data as Record<string, unknown>)?.export_type ?? job.kind ?? 'export');
      rel = exportPath(exportType, job.id, now, ext);
    } else {
      rel = jobFilePath(category, job.id, job.createdAt, name);
    }
    const [taken] = await ctx.catalog.filesByPaths([rel]);
    if (taken) throw new ItemError(`${rel} is already in the catalog (${taken.state})`);
    const local = ctx.store.capabilities.kind === 'local';
    if (local ? ctx.blobs.stat(rel) : await ctx.store.stat(rel)) throw new ItemError(`${rel} already exists ${local ? 'on disk' : 'in the bucket'} (not catalogued): left as it is`);

    let original: ContentRow | null = await ic.findCopy(staged.sha256, staged.size, job.owner ?? '');
    if (original && (mode === 'skip' || (mode === 'link' && local))) {
      // The original must still hold this content before anything is shared with it (or it is
      // skipped for it). On S3 a link is a server-side copy, checked by reading the copy back.
      const back = local ? (ctx.blobs.stat(original.path) ? ctx.blobs.hash(original.path) : null) : await hashObject(ctx.store, original.path);
      if (!back || !('sha256' in back) || back.sha256 !== staged.sha256 || back.size !== staged.size) original = null;
    }
    if (original && mode === 'skip') {
      report.skipped.push({ source, jobId: job.id, existing: { path: original.path, jobId: original.jobId } });
      return;
    }
    let link = original !== null && mode === 'link';
    // Admission before the file is placed; the catalog's check when the row is written stays the authority.
    const owner = job.owner ?? '';
    const refusal = await admissionRefusal(ctx, owner, staged.size, 1);
    if (refusal) throw new ItemError(refusal);
    let st: { mtime: Date };
    let serverCopy = false;
    if (local) {
      st = link ? ctx.blobs.linkFrom(rel, original!.path, staging) : ctx.blobs.adopt(rel, staged.file);
      placed = rel;
    } else {
      const copied = link ? await serverSideCopy(ctx, original!.path, rel, staged, contentType) : null;
      if (copied) {
        serverCopy = true;
        st = copied;
        placed = rel;
      } else {
        placed = rel;
        st = await uploadStaged(ctx, rel, staged, contentType);
      }
      // An independent object either way: no content is shared, so no content group.
      link = false;
    }
    const events: EventRecord[] = [
      {
        runId: ctx.runId,
        at: now,
        action: link ? 'put-link' : 'put',
        path: rel,
        jobId: job.id,
        bytes: staged.size,
        reason: link ? `shares the content of ${original!.path}` : serverCopy ? `from ${source}; a server-side copy of ${original!.path} (an S3 store has no hard links)` : `from ${source}`,
      },
    ];
    try {
      await ic.recordPut(
        { id: job.id, at: now, newJob: entry.isNew ? (job as NewJob) : undefined },
        [{ jobId: job.id, role: name, category, owner, path: rel, contentType, size: staged.size, sha256: staged.sha256, mtime: st.mtime, createdAt: now, ...(link ? { shareWith: original!.id } : {}) }],
        events,
      );
    } catch (err) {
      // Another writer took the last bytes since the admission: the catalog refused the row (the
      // file placed for it is removed below), and this file fails alone.
      if (!isQuotaExceeded(err)) throw err;
      throw new ItemError(quotaExceededMessage(await ctx.catalog.usage.ownerUsage(owner), staged.size, 1));
    }
    placed = undefined;
    if (entry.isNew) {
      report.jobsCreated.push(job.id);
      entry.isNew = false;
    }
    report.added.push({
      source,
      path: rel,
      jobId: job.id,
      size: staged.size,
      sha256: staged.sha256,
      contentType,
      ...(original ? { duplicate: { mode: link ? 'link' : 'copy', of: { path: original.path, jobId: original.jobId }, ...(serverCopy ? { serverSide: true } : {}) } } : {}),
    });
  } finally {
    fs.rmSync(staged.file, { force: true });
    // A file placed whose row could not be written is removed again: nothing half-done stays.
    if (placed) {
      if (ctx.store.capabilities.kind === 'local') ctx.blobs.remove(placed);
      else await ctx.store.remove(placed);
    }
  }
}

/** Up to this size an upload is one PutObject carrying the SHA-256 (the server checks it where it can); above, multipart. */
const SINGLE_PUT = 8 << 20;

/** Uploads the staged bytes to rel (whole or not at all); the stored size must be the staged one. */
async function uploadStaged(ctx: Context, rel: string, staged: { file: string; size: number; sha256: string }, contentType: string): Promise<{ mtime: Date }> {
  const data = staged.size <= SINGLE_PUT ? fs.readFileSync(staged.file) : fs.createReadStream(staged.file, { highWaterMark: 1 << 20 });
  const put = await ctx.store.put(rel, data, { sha256: staged.sha256, contentType });
  if (put.size !== staged.size) throw new Error(`${rel}: the store holds ${put.size} bytes after the upload, not ${staged.size}`);
  return { mtime: put.mtime };
}

/**
 * --on-duplicate link on a store without hard links: the original copied inside the storage
 * (no bytes uploaded), then the copy read back. null when the backend cannot copy or the copy
 * is not the content (the original changed): the caller uploads the staged bytes instead.
 */
async function serverSideCopy(ctx: Context, from: string, rel: string, staged: { size: number; sha256: string }, contentType: string): Promise<{ mtime: Date } | null> {
  if (!ctx.store.copy) return null;
  let head;
  try {
    head = await ctx.store.copy(from, rel, { contentType });
  } catch (err) {
    ctx.log.debug('server-side copy failed; uploading instead', { from, to: rel, error: (err as Error).message });
    return null;
  }
  const back = await hashObject(ctx.store, rel);
  if (back.ok && back.sha256 === staged.sha256 && back.size === staged.size) return { mtime: head.mtime };
  await ctx.store.remove(rel);
  return null;
}

const LIST_KEYS = ['path', 'job', 'role', 'kind', 'owner', 'category', 'export_type', 'sha256'] as const;

/**
 * Reads a --from-list file: one JSON object a line, {path, job, role, kind, owner, category,
 * export_type, sha256}; flags given on the command line fill what a line leaves out.
 */
export function readPutList(file: string, defaults: Omit<PutItem, 'source' | 'jobId'> & { jobId?: string }): PutItem[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --from-list ${file}: ${(err as Error).message}`);
  }
  const items: PutItem[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      throw new UsageError(`--from-list ${file} line ${i + 1} is not JSON`);
    }
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`--from-list ${file} line ${i + 1} is not an object`);
    const unknown = Object.keys(o).filter((k) => !(LIST_KEYS as readonly string[]).includes(k));
    if (unknown.length) throw new UsageError(`--from-list ${file} line ${i + 1}: unknown field ${JSON.stringify(unknown[0])} (fields: ${LIST_KEYS.join(', ')})`);
    for (const k of LIST_KEYS) if (o[k] !== undefined && typeof o[k] !== 'string') throw new UsageError(`--from-list ${file} line ${i + 1}: ${k} must be a string`);
    const str = (k: (typeof LIST_KEYS)[number]) => o[k] as string | undefined;
    const jobId = str('job') ?? defaults.jobId;
    if (!str('path')) throw new UsageError(`--from-list ${file} line ${i + 1} has no path`);
    if (!jobId) throw new UsageError(`--from-list ${file} line ${i + 1} has no job (and no --job was given)`);
    items.push({
      source: path.resolve(path.dirname(file), str('path')!),
      jobId,
      role: str('role') ?? defaults.role,
      kind: str('kind') ?? defaults.kind,
      owner: str('owner') ?? defaults.owner,
      category: str('category') ?? defaults.category,
      exportType: str('export_type') ?? defaults.exportType,
      sha256: str('sha256'),
    });
  });
  return items;
}
