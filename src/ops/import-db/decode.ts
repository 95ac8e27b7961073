// Turning one row's data value into the files of a job: the shapes of the column, strict
// base64, the role mapping, and the content type read from the bytes (file-type's magic
// numbers), checked against what the role's name says. A row that fails decodes to a reason.
import type { SourceShape } from '../../db/source-rows.ts';
import { UsageError } from '../../errors.ts';
import { sha256 } from '../../storage/hash.ts';
import { contentTypeOf, isRoleName } from '../../storage/layout.ts';
import { sniffType } from '../../storage/sniff.ts';

/** The card system's `card_files_data` keys and the files they become. */
export const DEFAULT_ROLE_MAP: Readonly<Record<string, string>> = {
  front_image: 'front.png',
  back_image: 'back.png',
  front_pdf: 'front.pdf',
  back_pdf: 'back.pdf',
  combined_pdf: 'combined.pdf',
};

/**
 * Which file each part of a value becomes: by JSON key (json-base64), or by position
 * (bytea-array, and the one value of bytea/base64). A position without a name becomes
 * `file` (`file-N` in an array) with the extension of the bytes' type.
 */
export type RoleMap = { by: 'key'; roles: Record<string, string> } | { by: 'position'; roles: string[] };

function roleMapError(message: string): UsageError {
  return new UsageError(
    `--role-map: ${message}`,
    'give a JSON object of key -> file name for json-base64 (e.g. {"front_image":"front.png"}), or a JSON array of file names by position for the other shapes',
    'bad_role_map',
  );
}

/** Parses --role-map for a shape (undefined: the default); exit 2 when it cannot be used. */
export function parseRoleMap(text: string | undefined, shape: SourceShape): RoleMap {
  if (text === undefined) return shape === 'json-base64' ? { by: 'key', roles: { ...DEFAULT_ROLE_MAP } } : { by: 'position', roles: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw roleMapError('not valid JSON');
  }
  const names = (list: unknown[]) => {
    for (const r of list) if (typeof r !== 'string' || !isRoleName(r)) throw roleMapError(`${JSON.stringify(r)} is not a file name (letters, digits, '.', '_', '-')`);
    const seen = new Set<string>();
    for (const r of list as string[]) {
      if (seen.has(r)) throw roleMapError(`${r} is named twice`);
      seen.add(r);
    }
    return list as string[];
  };
  if (shape === 'json-base64') {
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw roleMapError('json-base64 needs a JSON object of key -> file name');
    const roles = value as Record<string, unknown>;
    if (!Object.keys(roles).length) throw roleMapError('is empty');
    names(Object.values(roles));
    return { by: 'key', roles: roles as Record<string, string> };
  }
  if (!Array.isArray(value) || !value.length) throw roleMapError(`--shape ${shape} needs a non-empty JSON array of file names by position`);
  if (shape !== 'bytea-array' && value.length > 1) throw roleMapError(`--shape ${shape} holds one file a row: give one name`);
  return { by: 'position', roles: names(value) };
}

export interface DecodedFile {
  role: string;
  /** Where the bytes came from in the value: its JSON key or array position. */
  part: string;
  bytes: Buffer;
  contentType: string;
  sha256: string;
}

export type Decoded = { ok: true; files: DecodedFile[] } | { ok: false; reason: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (a `data:...;base64,` prefix and line breaks allowed): bytes, or why not. */
export function decodeBase64(text: string): Buffer | { problem: string } {
  let body = text;
  const dataUrl = /^data:[^,]*?(;base64)?,/.exec(body);
  if (dataUrl) {
    if (!dataUrl[1]) return { problem: 'a data: URL that is not base64' };
    body = body.slice(dataUrl[0].length);
  }
  // Fast path: canonical base64 re-encodes to itself (a regular expression over megabytes cost more).
  const fast = Buffer.from(body, 'base64');
  if (body.length > 0 && fast.toString('base64') === body) return fast;
  body = body.replace(/[\r\n\t ]+/g, '');
  if (body === '') return { problem: 'empty value' };
  if (!BASE64.test(body)) {
    const at = body.search(/[^A-Za-z0-9+/=]|=(?=[^=])/);
    return { problem: `invalid base64: ${at >= 0 ? `character ${JSON.stringify(body[at])} at offset ${at}` : 'misplaced padding'}` };
  }
  if (body.length % 4 !== 0) return { problem: `invalid base64: length ${body.length} is not a multiple of 4 (truncated?)` };
  return Buffer.from(body, 'base64');
}

const TYPE_NAMES: Record<string, string> = { 'image/png': 'PNG', 'application/pdf': 'PDF', 'image/jpeg': 'JPEG', 'image/webp': 'WebP' };
const typeName = (mime: string) => TYPE_NAMES[mime] ?? mime;


/** One part's bytes as a file of a role: the role's type must be what the bytes are. */
async function toFile(part: string, role: string | undefined, fallback: string, bytes: Buffer): Promise<DecodedFile | { problem: string }> {
  if (bytes.length === 0) return { problem: `${part}: empty value` };
  const sniffed = await sniffType(bytes);
  const name = role ?? `${fallback}.${sniffed?.ext ?? 'bin'}`;
  const expected = contentTypeOf(name);
  if (expected !== 'application/octet-stream' && sniffed?.mime !== expected) {
    return { problem: `${part}: bytes are ${sniffed ? typeName(sniffed.mime) : 'not of a recognised type'}, not ${typeName(expected)} as ${name} says` };
  }
  return { role: name, part, bytes, contentType: sniffed?.mime ?? expected, sha256: sha256(bytes) };
}

function asBytes(v: unknown, part: string): Buffer | { problem: string } {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return { problem: `${part}: value is ${typeof v}, not bytes` };
}

/** Decodes a row's data value into its files (every part, or the first reason it cannot be). */
export async function decodeValue(value: unknown, shape: SourceShape, map: RoleMap): Promise<Decoded> {
  const parts: { part: string; role?: string; fallback: string; bytes: Buffer | { problem: string } }[] = [];
  const positional = map.by === 'position' ? map.roles : [];
  if (shape === 'bytea' || shape === 'base64') {
    const bytes = shape === 'bytea' ? asBytes(value, 'value') : typeof value === 'string' ? decodeBase64(value) : { problem: `value is ${typeof value}, not base64 text` };
    parts.push({ part: 'value', role: positional[0], fallback: 'file', bytes });
  } else if (shape === 'bytea-array') {
    if (!Array.isArray(value)) return { ok: false, reason: 'value is not an array' };
    if (value.length === 0) return { ok: false, reason: 'empty value (an empty array)' };
    if (positional.length && value.length > positional.length) return { ok: false, reason: `${value.length} elements, but --role-map names ${positional.length}` };
    value.forEach((v, i) => {
      if (v === null) return; // a NULL element is no file
      parts.push({ part: `[${i}]`, role: positional[i], fallback: `file-${i + 1}`, bytes: asBytes(v, `[${i}]`) });
    });
  } else {
    let obj: unknown = value;
    if (typeof value === 'string' || Buffer.isBuffer(value)) {
      try {
        obj = JSON.parse(String(value));
      } catch {
        return { ok: false, reason: 'value is not valid JSON' };
      }
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return { ok: false, reason: 'value is not a JSON object of base64 strings' };
    const roles = map.by === 'key' ? map.roles : {};
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
      if (v === null) continue; // a key set to null is no file
      const role = Object.hasOwn(roles, k) ? roles[k] : undefined;
      if (role === undefined) return { ok: false, reason: `key ${JSON.stringify(k)} has no file name in --role-map` };
      parts.push({ part: k, role, fallback: k, bytes: typeof v === 'string' ? decodeBase64(v) : { problem: `value is ${typeof v}, not base64 text` } });
    }
  }
  if (!parts.length) return { ok: false, reason: 'empty value (no files in it)' };
  const files: DecodedFile[] = [];
  for (const p of parts) {
    if (!Buffer.isBuffer(p.bytes)) return { ok: false, reason: p.bytes.problem.startsWith(p.part) ? p.bytes.problem : `${p.part}: ${p.bytes.problem}` };
    const f = await toFile(p.part, p.role, p.fallback, p.bytes);
    if ('problem' in f) return { ok: false, reason: f.problem };
    files.push(f);
  }
  const roles = new Set<string>();
  for (const f of files) {
    if (roles.has(f.role)) return { ok: false, reason: `two parts become ${f.role}` };
    roles.add(f.role);
  }
  return { ok: true, files };
}
