// Content type from the bytes (magic numbers), not the file name.

const EXT_BY_TYPE: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'application/pdf': 'pdf',
  'application/zip': 'zip',
  'application/gzip': 'gz',
  'video/mp4': 'mp4',
  'video/webm': 'webm',
  'application/json': 'json',
  'text/csv': 'csv',
  'text/plain': 'txt',
  'application/octet-stream': 'bin',
};

const starts = (b: Uint8Array, sig: readonly number[], at = 0) => b.length >= at + sig.length && sig.every((x, i) => b[at + i] === x);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/**
 * The content type the first bytes (up to 4 KiB) show, or null when they show none of the
 * binary formats storectl knows (text and unknown binaries: the caller decides from the name).
 */
export function sniffContentType(head: Uint8Array): string | null {
  if (starts(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (starts(head, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (starts(head, ascii('%PDF-'))) return 'application/pdf';
  if (starts(head, ascii('RIFF')) && starts(head, ascii('WEBP'), 8)) return 'image/webp';
  if (starts(head, ascii('GIF87a')) || starts(head, ascii('GIF89a'))) return 'image/gif';
  if (starts(head, [0x50, 0x4b, 0x03, 0x04]) || starts(head, [0x50, 0x4b, 0x05, 0x06])) return 'application/zip';
  if (starts(head, [0x1f, 0x8b])) return 'application/gzip';
  if (starts(head, ascii('ftyp'), 4)) return 'video/mp4';
  if (starts(head, [0x1a, 0x45, 0xdf, 0xa3])) return 'video/webm';
  return null;
}

/** Whether the bytes look like text (UTF-8 without NULs or most control characters). */
export function looksLikeText(head: Uint8Array): boolean {
  for (const b of head) if (b === 0 || (b < 0x09) || (b > 0x0d && b < 0x20 && b !== 0x1b)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.length >= 4096 ? head.subarray(0, 4000) : head);
    return true;
  } catch {
    return false;
  }
}

/** The usual extension of a content type ('bin' when unknown). */
export function extensionOf(contentType: string): string {
  return EXT_BY_TYPE[contentType] ?? 'bin';
}
