// ETags as S3 reports them: a plain object's (one PutObject, no SSE-KMS / SSE-C) is the MD5 of its
// bytes, in quotes; a multipart object's is "<md5 of the parts' md5s>-<parts>", an SSE-KMS or
// SSE-C object's something else. No SDK here: the operations use it without loading one.

/** True when the ETag (quoted or not) is exactly this MD5 (hex). */
export function etagIsMd5Of(etag: string | undefined, md5Hex: string): boolean {
  return etag !== undefined && etag.replace(/^W\//, '').replace(/"/g, '').toLowerCase() === md5Hex.toLowerCase();
}
