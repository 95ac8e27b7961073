// Parses and validates the jobs file of `generate --jobs`: a JSON array or NDJSON.
import { randomBytes } from 'node:crypto';
import { UsageError } from '../errors.ts';
import { JOB_STATUSES, type NewJob } from '../db/types.ts';
import { checkJobId } from '../storage/layout.ts';
import { validateCardData } from '../render/card.ts';

interface Located {
  where: string;
  value: unknown;
}

function records(text: string, source: string): Located[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`${source}: not valid JSON: ${(err as Error).message}`, undefined, 'bad_input');
    }
    return (parsed as unknown[]).map((value, i) => ({ where: `${source}: record ${i + 1}`, value }));
  }
  const out: Located[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push({ where: `${source}: line ${i + 1}`, value: JSON.parse(line) });
    } catch (err) {
      throw new UsageError(`${source}: line ${i + 1}: not valid JSON: ${(err as Error).message}`, undefined, 'bad_input');
    }
  });
  return out;
}

const fail = (where: string, field: string, message: string): never => {
  throw new UsageError(`${where}: field "${field}": ${message}`, undefined, 'bad_input');
};

function parseDate(where: string, field: string, v: unknown): Date {
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) fail(where, field, 'must be an ISO 8601 date-time');
  return new Date(v as string);
}

/** Every record validated before anything is written: a bad one fails the whole input. */
export function parseJobs(text: string, source: string, now: Date): NewJob[] {
  const seen = new Set<string>();
  const jobs = records(text, source).map(({ where, value }) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${where}: must be a JSON object`, undefined, 'bad_input');
    const r = value as Record<string, unknown>;
    const id = r.id === undefined ? `card-${randomBytes(6).toString('hex')}` : r.id;
    if (typeof id !== 'string') return fail(where, 'id', 'must be a string');
    try {
      checkJobId(id);
    } catch (err) {
      fail(where, 'id', (err as Error).message);
    }
    if (seen.has(id)) fail(where, 'id', `duplicate id ${JSON.stringify(id)} in the input`);
    seen.add(id);
    const kind = r.kind ?? 'card';
    if (kind !== 'card') fail(where, 'kind', `generate renders card jobs; got ${JSON.stringify(kind)}`);
    const status = r.status ?? 'queued';
    if (typeof status !== 'string' || !(JOB_STATUSES as readonly string[]).includes(status)) {
      fail(where, 'status', `must be one of ${JOB_STATUSES.join(', ')}`);
    }
    const owner = r.owner ?? '';
    if (typeof owner !== 'string' || owner.length > 200) fail(where, 'owner', 'must be a string of at most 200 characters');
    const createdAt = r.createdAt === undefined ? now : parseDate(where, 'createdAt', r.createdAt);
    const completedAt = r.completedAt === undefined || r.completedAt === null ? null : parseDate(where, 'completedAt', r.completedAt);
    const checked = validateCardData(r.data);
    if (!checked.ok) fail(where, `data.${checked.field}`, checked.message);
    return {
      id,
      kind: 'card',
      owner: owner as string,
      status: status as string,
      data: r.data as Record<string, unknown>,
      createdAt,
      updatedAt: createdAt,
      completedAt,
    } satisfies NewJob;
  });
  if (jobs.length === 0) throw new UsageError(`${source}: no jobs in the input`, undefined, 'bad_input');
  return jobs;
}
