// The pack object: a job's small files in one object on an S3 tier with `pack: true` (fewer
// objects, fewer requests), each still readable alone with a ranged GET of its bytes.
//
// Key:    <tier prefix>.packs/<job id>-<12 hex>.pack   (job id characters other than
//         A-Z a-z 0-9 . _ - written as _; the hex names this pack among the job's packs)
// Layout: member 0's stored bytes | member 1's | ... | index | footer
//   - a member's stored bytes are what the file's row says is stored (compressed bytes for a row
//     with an encoding), back to back from offset 0, nothing between them;
//   - index: UTF-8 JSON {"format":"storectl-pack/1","jobId":..,"members":[{"path","offset",
//     "length","size","sha256","encoding"}]} (size and sha256 of the original bytes);
//   - footer: 32 ASCII bytes "STORECTL-PACK1 " + the index's offset as 16 hex digits + "\n".
// The catalog is the authority (files.pack, files.pack_offset, stored_size): the index is there
// so that an operator holding only the bucket can still take a pack apart.
import { createHash } from 'node:crypto';

export const PACKS_PREFIX = '.packs/';
const MAGIC = 'STORECTL-PACK1 ';
export const FOOTER_BYTES = 32;

export interface PackMember {
  path: string;
  /** The stored bytes (encoded where the row has an encoding). */
  stored: Buffer;
  size: number;
  sha256: string;
  encoding: string | null;
}

export interface PackIndexEntry {
  path: string;
  offset: number;
  length: number;
  size: number;
  sha256: string;
  encoding: string | null;
}

export interface BuiltPack {
  body: Buffer;
  entries: PackIndexEntry[];
  sha256: string;
}

/** Is this key (relative to a tier's prefix) a pack object? */
export const isPackKey = (key: string) => key.startsWith(PACKS_PREFIX);

/** The key of a new pack of `jobId`'s files; `salt` (the run, the member list) makes it unique. */
export function packKey(jobId: string, salt: string): string {
  const safe = jobId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120) || '_';
  const h = createHash('sha256').update(`${jobId}\0${salt}`).digest('hex').slice(0, 12);
  return `${PACKS_PREFIX}${safe}-${h}.pack`;
}

export function buildPack(jobId: string, members: readonly PackMember[]): BuiltPack {
  const entries: PackIndexEntry[] = [];
  let offset = 0;
  for (const m of members) {
    entries.push({ path: m.path, offset, length: m.stored.length, size: m.size, sha256: m.sha256, encoding: m.encoding });
    offset += m.stored.length;
  }
  const index = Buffer.from(JSON.stringify({ format: 'storectl-pack/1', jobId, members: entries }), 'utf8');
  const footer = Buffer.from(`${MAGIC}${offset.toString(16).padStart(16, '0')}\n`, 'ascii');
  const body = Buffer.concat([...members.map((m) => m.stored), index, footer]);
  return { body, entries, sha256: createHash('sha256').update(body).digest('hex') };
}

/** Reads a whole pack's index back (tests, operators' tools); throws on a body that is not a pack. */
export function readPackIndex(body: Buffer): { jobId: string; members: PackIndexEntry[] } {
  if (body.length < FOOTER_BYTES) throw new Error('not a storectl pack: too short');
  const footer = body.subarray(body.length - FOOTER_BYTES).toString('ascii');
  if (!footer.startsWith(MAGIC) || !footer.endsWith('\n')) throw new Error('not a storectl pack: no footer');
  const at = Number.parseInt(footer.slice(MAGIC.length, MAGIC.length + 16), 16);
  if (!Number.isSafeInteger(at) || at > body.length - FOOTER_BYTES) throw new Error('not a storectl pack: bad index offset');
  const index = JSON.parse(body.subarray(at, body.length - FOOTER_BYTES).toString('utf8')) as { format?: string; jobId: string; members: PackIndexEntry[] };
  if (index.format !== 'storectl-pack/1') throw new Error(`not a storectl pack: format ${String(index.format)}`);
  return { jobId: index.jobId, members: index.members };
}
