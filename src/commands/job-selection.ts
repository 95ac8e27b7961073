// The job choice delete and export share: JOB_IDs, --from FILE|-, and filters.
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { parseIdList, type JobSelection } from '../ops/access/select.ts';
import { JOB_STATUSES } from '../db/types.ts';
import { readInput } from '../ui/input.ts';
import type { IO } from '../ui/io.ts';
import { durationOption } from './common-options.ts';

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

export function jobSelectionOptions(cmd: Command): Command {
  return cmd
    .option('--from <file>', "read job ids from FILE, one a line ('-' for stdin)")
    .option('--owner <owner>', 'only jobs of this owner (repeat, or a comma list)', list)
    .option('--status <status>', 'only jobs in this status (repeat, or a comma list)', list)
    .option('--kind <kind>', 'only jobs of this kind: card, export, ... (repeat, or a comma list)', list)
    .option('--older-than <age>', 'only jobs completed (or, never completed, created) longer ago than AGE (e.g. 30d)', durationOption);
}

export async function readJobSelection(args: string[], opts: Record<string, unknown>, io: IO): Promise<JobSelection> {
  const ids = [...args];
  if (opts.from !== undefined) ids.push(...parseIdList(await readInput(String(opts.from), io)));
  const statuses = opts.status as string[] | undefined;
  for (const s of statuses ?? []) {
    if (!(JOB_STATUSES as readonly string[]).includes(s)) throw new UsageError(`unknown --status ${JSON.stringify(s)}`, `one of ${JOB_STATUSES.join(', ')}`);
  }
  if (opts.from !== undefined && !ids.length) throw new UsageError(`--from ${opts.from} names no job ids`);
  return {
    ids,
    owners: opts.owner as string[] | undefined,
    statuses,
    kinds: opts.kind as string[] | undefined,
    olderThanMs: opts.olderThan as number | undefined,
  };
}
