// Quotas per owner: set, list, check, recount, and the admission check a writer makes
// before it writes (the authoritative check is the catalog's, in the writing transaction).
import type { Context } from '../context.ts';
import type { OwnerUsage, Quota, UsageDrift } from '../db/usage.ts';
import { formatBytes, percent } from '../format.ts';

export type QuotaState = 'ok' | 'warn' | 'over' | 'none';

export interface QuotaRow {
  owner: string;
  bytes: number;
  files: number;
  quota: { maxBytes: number; maxFiles: number | null; warnPercent: number; updatedAt: string } | null;
  /** Percent of the byte quota used (or of the file quota, whichever is higher). */
  percent: number | null;
  state: QuotaState;
}

export function quotaState(u: Pick<OwnerUsage, 'bytes' | 'files' | 'quota'>): { state: QuotaState; percent: number | null } {
  const q = u.quota;
  if (!q) return { state: 'none', percent: null };
  const pct = Math.max(percent(u.bytes, q.maxBytes), q.maxFiles ? percent(u.files, q.maxFiles) : 0);
  const over = u.bytes > q.maxBytes || (q.maxFiles !== null && u.files > q.maxFiles);
  return { state: over ? 'over' : pct >= q.warnPercent ? 'warn' : 'ok', percent: pct };
}

export function quotaRow(u: OwnerUsage): QuotaRow {
  const s = quotaState(u);
  return {
    owner: u.owner,
    bytes: u.bytes,
    files: u.files,
    quota: u.quota && { maxBytes: u.quota.maxBytes, maxFiles: u.quota.maxFiles, warnPercent: u.quota.warnPercent, updatedAt: u.quota.updatedAt.toISOString() },
    percent: s.percent,
    state: s.state,
  };
}

export async function setQuota(ctx: Context, q: Omit<Quota, 'updatedAt'>): Promise<QuotaRow> {
  await ctx.catalog.usage.setQuota(q, ctx.clock());
  return quotaRow(await ctx.catalog.usage.ownerUsage(q.owner));
}

export async function unsetQuota(ctx: Context, owner: string): Promise<{ owner: string; removed: boolean }> {
  return { owner, removed: await ctx.catalog.usage.unsetQuota(owner) };
}

export async function showQuota(ctx: Context, owner: string): Promise<QuotaRow> {
  return quotaRow(await ctx.catalog.usage.ownerUsage(owner));
}

export async function listQuotas(ctx: Context): Promise<QuotaRow[]> {
  return (await ctx.catalog.usage.owners()).map(quotaRow);
}

export interface QuotaCheckReport {
  owners: number;
  withQuota: number;
  over: QuotaRow[];
  warn: QuotaRow[];
}

export async function checkQuotas(ctx: Context): Promise<QuotaCheckReport> {
  const rows = await listQuotas(ctx);
  return {
    owners: rows.length,
    withQuota: rows.filter((r) => r.quota).length,
    over: rows.filter((r) => r.state === 'over'),
    warn: rows.filter((r) => r.state === 'warn'),
  };
}

export interface RecountReport {
  owner: string | null;
  corrected: UsageDrift[];
}

export async function recountUsage(ctx: Context, owner?: string): Promise<RecountReport> {
  return { owner: owner ?? null, corrected: await ctx.catalog.usage.recount(owner) };
}

/** The line a refused job reports: what the owner uses, of what, and what the job needs. */
export function quotaExceededMessage(u: OwnerUsage, needBytes: number, needFiles: number): string {
  const q = u.quota!;
  const files = q.maxFiles !== null && u.files + needFiles > q.maxFiles ? `, ${u.files} of ${q.maxFiles} files` : '';
  return `quota exceeded: owner ${u.owner || '(none)'} uses ${formatBytes(u.bytes)} of ${formatBytes(q.maxBytes)}${files}, this job needs ${formatBytes(needBytes)}`;
}

/**
 * Admission before writing: the reason a write of `bytes` in `files` new files would be
 * refused, or undefined. A failure to read usage is thrown (fail closed), never taken as zero.
 * A write that passes here can still be refused by the catalog if another writer got there
 * first; the writer then removes what it wrote.
 */
export async function admissionRefusal(ctx: Context, owner: string, bytes: number, files: number): Promise<string | undefined> {
  const u = await ctx.catalog.usage.ownerUsage(owner);
  if (!u.quota) return undefined;
  const over = u.bytes + bytes > u.quota.maxBytes || (u.quota.maxFiles !== null && u.files + files > u.quota.maxFiles);
  return over ? quotaExceededMessage(u, bytes, files) : undefined;
}

/** A job's place among its owner's jobs in one run: wait for the one before, release when admitted. */
export interface AdmissionTurn {
  readonly before: Promise<void>;
  release(): void;
}

/**
 * Admission for a run that writes many jobs with several in flight: jobs of one owner are
 * admitted in the order they were taken, whichever finished rendering first, and each admitted
 * job holds its bytes reserved until it is committed or abandoned. So in a batch that overruns
 * a quota it is always the later jobs that are refused, run after run. The catalog's check in
 * the writing transaction stays the authority (another process may write too).
 */
export class OrderedAdmission {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly reserved = new Map<string, { bytes: number; files: number }>();

  constructor(private readonly ctx: Context) {}

  /** Called in job order, before the job's first await. */
  turn(owner: string): AdmissionTurn {
    const before = this.tails.get(owner) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.tails.set(owner, mine);
    return { before, release };
  }

  /**
   * Waits for the turn, then decides. Returns the refusal, or a settle function that drops the
   * reservation (call it once the rows are committed or the write abandoned). Always releases
   * the turn. A failure to read usage is thrown (fail closed).
   */
  async admit(turn: AdmissionTurn, owner: string, bytes: number, files: number): Promise<{ refusal?: string; settle: () => void }> {
    await turn.before;
    try {
      const u = await this.ctx.catalog.usage.ownerUsage(owner);
      if (!u.quota) return { settle: () => {} };
      const r = this.reserved.get(owner) ?? { bytes: 0, files: 0 };
      const seen = { ...u, bytes: u.bytes + r.bytes, files: u.files + r.files };
      const over = seen.bytes + bytes > u.quota.maxBytes || (u.quota.maxFiles !== null && seen.files + files > u.quota.maxFiles);
      if (over) return { refusal: quotaExceededMessage(seen, bytes, files), settle: () => {} };
      r.bytes += bytes;
      r.files += files;
      this.reserved.set(owner, r);
      let settled = false;
      return {
        settle: () => {
          if (settled) return;
          settled = true;
          r.bytes -= bytes;
          r.files -= files;
        },
      };
    } finally {
      turn.release();
    }
  }
}
