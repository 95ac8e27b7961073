// Content type from the bytes (magic numbers, by file-type), not the file name.
import { fileTypeFromBuffer } from 'file-type';

/** Content type and extension of some bytes from their magic numbers (null: not recognised). */
export async function sniffType(bytes: Uint8Array): Promise<{ mime: string; ext: string } | null> {
  const t = await fileTypeFromBuffer(bytes);
  if (!t) return null;
  // An Illustrator file is a PDF with private data: for a .pdf role it is a PDF.
  if (t.ext === 'ai') return { mime: 'application/pdf', ext: 'pdf' };
  return { mime: t.mime, ext: t.ext };
}

/** Bytes file-type needs to see to recognise every format it knows. */
export const SNIFF_BYTES = 4100;

/** Whether the bytes look like text: valid UTF-8 without NULs or most control characters. */
export function looksLikeText(head: Uint8Array): boolean {
  for (const b of head) if (b === 0 || b < 0x09 || (b > 0x0d && b < 0x20 && b !== 0x1b)) return false;
  // The head may end inside a multi-byte character: check all but its last 3 bytes strictly.
  const body = head.length >= SNIFF_BYTES ? head.subarray(0, head.length - 3) : head;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(body);
    return true;
  } catch {
    return false;
  }
}
