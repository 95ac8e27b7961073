// What a backup archive holds and in which order. The manifest is in three entries because
// what it must say is known at three moments, and none of them may be held in memory whole:
//
//   manifest.json             first: format and schema versions, tool, source dialect, time
//   catalog/<table>.ndjson    the catalog, one JSON row a line, from one snapshot
//   files/<path>              the files of every `present` row, in path byte order; a row that
//                             shares content (content_group) with a name archived before has none
//   manifest-files.ndjson     path, size and SHA-256 of every file archived, in archive order;
//                             a shared name's line adds `link`: the earlier path holding its bytes
//   manifest-summary.json     counts, bytes, each table's rows and SHA-256, files skipped
//
// Restore reads exactly this sequence and refuses anything else.
import type { DumpTable } from '../../db/dump.ts';

/** Bump when the layout changes; an archive with a higher number is refused. */
// 2: a name recorded as sharing content with an earlier archived name (files.content_group) has
// no entry of its own; its manifest-files line names that entry (`link`), restore links it.
export const ARCHIVE_FORMAT = 2;
/**
 * What a backup writes when no two present rows share content (nothing to store as a link):
 * format 1, the layout every storectl reads, so an older storectl still restores it.
 */
export const PLAIN_FORMAT = 1;

export const MANIFEST = 'manifest.json';
export const MANIFEST_FILES = 'manifest-files.ndjson';
export const MANIFEST_SUMMARY = 'manifest-summary.json';
export const CATALOG_PREFIX = 'catalog/';
export const FILES_PREFIX = 'files/';

export interface ManifestHead {
  format: number;
  tool: { name: 'storectl'; version: string };
  createdAt: string;
  source: { dialect: string };
  schemaVersion: number;
  metadataOnly: boolean;
  tables: DumpTable[];
}

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  /** Format 2: no entry of its own; its content is the entry of this earlier path (same content_group). */
  link?: string;
}

export interface SkippedFile {
  path: string;
  reason: 'vanished' | 'mismatch' | 'unreadable' | 'unsafe';
  detail: string;
}

export interface ManifestSummary {
  format: number;
  finishedAt: string;
  tables: Record<string, { rows: number; bytes: number; sha256: string }>;
  /** File entries (content held) and their bytes. */
  files: { count: number; bytes: number };
  /** Format 2: names stored as links to an earlier entry, and their (logical) bytes; absent means none. */
  linked?: { count: number; bytes: number };
  /** SHA-256 of manifest-files.ndjson as written. */
  filesListSha256: string;
  /** Present rows whose file could not be archived as good (the archive still carries the rows). */
  skipped: SkippedFile[];
}

export function fileLine(f: ManifestFile): string {
  return JSON.stringify(f.link === undefined ? { path: f.path, size: f.size, sha256: f.sha256 } : { path: f.path, size: f.size, sha256: f.sha256, link: f.link }) + '\n';
}
