// Where files live in the tree, as the card system keeps it.
import { UsageError } from '../errors.ts';

/** Directories the data tree has at its top level; `.storectl/` is reserved and never data. */
export const CATEGORIES = ['cards', 'exports', 'temp', 'uploads'] as const;
export const RESERVED_DIR = '.storectl';
export const CARD_ROLES = ['front.png', 'back.png', 'front.pdf', 'back.pdf', 'combined.pdf'] as const;

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Job ids name directories: letters, digits, '.', '_' and '-', not starting with a dot. */
export function checkJobId(id: string): string {
  if (!JOB_ID.test(id) || id.includes('..')) {
    throw new UsageError(`invalid job id ${JSON.stringify(id)}: use 1-128 letters, digits, '.', '_' or '-'`);
  }
  return id;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** cards/YYYY/MM/DD/<job_id>, dated by the job's creation in UTC. */
export function cardDir(jobId: string, createdAt: Date): string {
  return jobDir('cards', jobId, createdAt);
}

/** <category>/YYYY/MM/DD/<job_id>: the card layout, for a job's files in any category. */
export function jobDir(category: string, jobId: string, createdAt: Date): string {
  if (!(CATEGORIES as readonly string[]).includes(category)) throw new UsageError(`unknown category ${JSON.stringify(category)}`, `use one of ${CATEGORIES.join(', ')}`);
  const d = createdAt;
  return `${category}/${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${checkJobId(jobId)}`;
}

const ROLE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A role names a file in its job's directory: letters, digits, '.', '_' and '-', not starting with a dot. */
export function isRoleName(role: string): boolean {
  return ROLE.test(role) && !role.includes('..');
}

/** A role, checked: a UsageError naming the rule when it is not one. */
export function checkRole(role: string): string {
  if (!isRoleName(role)) {
    throw new UsageError(`invalid role ${JSON.stringify(role)}: use 1-128 letters, digits, '.', '_' or '-', not starting with a dot`);
  }
  return role;
}

/** <category>/YYYY/MM/DD/<job_id>/<role>, dated by the job's creation in UTC (cards, uploads, temp). */
export function jobFilePath(category: string, jobId: string, createdAt: Date, role: string): string {
  return `${jobDir(category, jobId, createdAt)}/${checkRole(role)}`;
}

export function cardFilePath(jobId: string, createdAt: Date, role: string): string {
  return `${cardDir(jobId, createdAt)}/${role}`;
}

/** exports/<type>_<job_id>_<YYYYMMDD_HHMMSS>.<ext> */
export function exportPath(exportType: string, jobId: string, at: Date, ext: string): string {
  if (!/^[a-z0-9_-]{1,40}$/i.test(exportType)) throw new UsageError(`invalid export type ${JSON.stringify(exportType)}`);
  if (!/^[a-z0-9]{1,10}$/i.test(ext)) throw new UsageError(`invalid extension ${JSON.stringify(ext)}`);
  const stamp = `${at.getUTCFullYear()}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}_${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}`;
  return `exports/${exportType}_${checkJobId(jobId)}_${stamp}.${ext}`;
}

export function categoryOf(relPath: string): string {
  const top = relPath.split('/', 1)[0]!;
  return (CATEGORIES as readonly string[]).includes(top) ? top : 'other';
}

const CONTENT_TYPES: Record<string, string> = {
  png: 'image/png',
  pdf: 'application/pdf',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  csv: 'text/csv',
  json: 'application/json',
  zip: 'application/zip',
  txt: 'text/plain',
};

export function contentTypeOf(relPath: string): string {
  const ext = relPath.slice(relPath.lastIndexOf('.') + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}
