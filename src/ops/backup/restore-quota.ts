// Restore against the target's quotas. A restore is all or nothing (the present rows must
// match the archive's files), so an archive whose files would put owners over the target's
// quotas is refused whole, before anything moves, naming the owners. An archive that carries
// its own quotas (every archive since backups carry them) restores them with its files, as the
// store was, and is not checked against the target's.
import path from 'node:path';
import type { Context } from '../../context.ts';
import { HELD_STATES } from '../../db/usage.ts';
import { QuotaExceededError } from '../../errors.ts';
import { formatBytes } from '../../format.ts';
import { stagedRows } from './verify.ts';

export interface OwnerOverQuota {
  owner: string;
  bytes: number;
  files: number;
  maxBytes: number;
  maxFiles: number | null;
}

/** Owners the staged archive's held files would put over the target's quotas. */
export async function ownersOverQuota(ctx: Context, staging: string, carriesQuotas: boolean): Promise<OwnerOverQuota[]> {
  if (carriesQuotas) return [];
  const quotas = (await ctx.catalog.usage.owners()).filter((o) => o.quota);
  if (!quotas.length) return [];
  const held = new Set<string>(HELD_STATES);
  const sums = new Map<string, { bytes: number; files: number }>();
  for (const batch of stagedRows(path.join(staging, 'catalog', 'files.ndjson'), 'files')) {
    for (const row of batch) {
      if (!held.has(String(row.state))) continue;
      const owner = String(row.owner ?? '');
      const s = sums.get(owner) ?? { bytes: 0, files: 0 };
      s.bytes += Number(row.size ?? 0);
      s.files += 1;
      sums.set(owner, s);
    }
  }
  const over: OwnerOverQuota[] = [];
  for (const o of quotas) {
    const q = o.quota!;
    const s = sums.get(o.owner) ?? { bytes: 0, files: 0 };
    if (s.bytes > q.maxBytes || (q.maxFiles !== null && s.files > q.maxFiles)) over.push({ owner: o.owner, ...s, maxBytes: q.maxBytes, maxFiles: q.maxFiles });
  }
  return over;
}

/** Throws (exit 7) when the archive would put owners over the target's quotas; nothing has moved yet. */
export async function refuseOverQuota(ctx: Context, archive: string, staging: string, carriesQuotas: boolean): Promise<void> {
  const over = await ownersOverQuota(ctx, staging, carriesQuotas);
  if (!over.length) return;
  const first = over[0]!;
  const files = first.maxFiles !== null && first.files > first.maxFiles ? `, ${first.files} of ${first.maxFiles} files` : '';
  throw new QuotaExceededError(
    `restore refused: ${path.basename(archive)} holds ${formatBytes(first.bytes)} for owner ${first.owner || '(none)'}, over its quota of ${formatBytes(first.maxBytes)}${files}` +
      `${over.length > 1 ? ` (and ${over.length - 1} more owner(s))` : ''}; nothing was restored`,
    `raise or unset the quota (\`storectl quota set ${first.owner} --bytes SIZE\` or \`storectl quota unset ${first.owner}\`), then restore again`,
    { owners: over },
  );
}
