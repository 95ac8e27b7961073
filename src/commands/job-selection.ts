// The job choice delete and export share (JOB_IDs, --from FILE|-, and filters), and the filters
// jobs lists by: each option defined once, parsed once.
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.ts';
import { parseIdList, type JobSelection } from '../ops/access/select.ts';
import { JOB_STATUSES } from '../db/types.ts';
import { readInput } from '../ui/input.ts';
import type { IO } from '../ui/io.ts';
import { durationOption, num, text, texts } from './common-options.ts';
import type { RawOptions } from './define.ts';

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

/** The job filters, one Option each (jobs puts its own between them). */
export const JOB_FILTER_OPTIONS = {
  owner: () => new Option('--owner <owner>', 'only jobs of this owner (repeat, or a comma list)').argParser(list),
  status: () => new Option('--status <status>', 'only jobs in this status (repeat, or a comma list)').argParser(list),
  kind: () => new Option('--kind <kind>', 'only jobs of this kind: card, export, ... (repeat, or a comma list)').argParser(list),
  olderThan: () => new Option('--older-than <age>', 'only jobs completed (or, never completed, created) longer ago than AGE (e.g. 30d)').argParser(durationOption),
};

/** A comma-list option (repeatable), for the filters commands add beside these. */
export const listOption = (flags: string, help: string) => new Option(flags, help).argParser(list);

export interface JobFilter {
  owners?: string[];
  statuses?: string[];
  kinds?: string[];
  olderThanMs?: number;
}

/** The job filters, with every --status checked against the statuses a job can have. */
export function parseJobFilter(raw: RawOptions): JobFilter {
  const statuses = texts(raw, 'status');
  for (const s of statuses ?? []) {
    if (!(JOB_STATUSES as readonly string[]).includes(s)) throw new UsageError(`unknown --status ${JSON.stringify(s)}`, `one of ${JOB_STATUSES.join(', ')}`);
  }
  return { owners: texts(raw, 'owner'), statuses, kinds: texts(raw, 'kind'), olderThanMs: num(raw, 'olderThan') };
}

export function jobSelectionOptions(cmd: Command): Command {
  return cmd
    .option('--from <file>', "read job ids from FILE, one a line ('-' for stdin)")
    .addOption(JOB_FILTER_OPTIONS.owner())
    .addOption(JOB_FILTER_OPTIONS.status())
    .addOption(JOB_FILTER_OPTIONS.kind())
    .addOption(JOB_FILTER_OPTIONS.olderThan());
}

/** The job selection as parsed: ids given, the --from file still to read, the filters. */
export interface JobSelectionOptions extends JobFilter {
  ids: string[];
  from?: string;
}

export function parseJobSelection(args: string[], raw: RawOptions): JobSelectionOptions {
  return { ids: [...args], from: text(raw, 'from'), ...parseJobFilter(raw) };
}

/** The selection an operation takes: the ids of --from read (a file, or stdin) and added. */
export async function readJobSelection(o: JobSelectionOptions, io: IO): Promise<JobSelection> {
  const ids = [...o.ids];
  if (o.from !== undefined) ids.push(...parseIdList(await readInput(o.from, io)));
  if (o.from !== undefined && !ids.length) throw new UsageError(`--from ${o.from} names no job ids`);
  return { ids, owners: o.owners, statuses: o.statuses, kinds: o.kinds, olderThanMs: o.olderThanMs };
}
