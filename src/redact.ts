// The one place secrets are hidden before anything is printed, logged or recorded: database
// passwords (URL userinfo, ?password=, libpq key=value), S3 credentials (secret keys, session
// tokens, presigned-URL signatures) and any value registered as a secret at run time.
// Errors, --json errors, `storectl config`, --log-file and the `runs` table all go through it.

export const REDACTED = '***';

/** Literal secret values known this run (a URL's password, an S3 secret key): hidden wherever they appear. */
const known = new Set<string>();

/**
 * Registers a secret value so that redactText hides it wherever it appears, also in forms the
 * patterns below cannot recognise (a driver quoting it). Values shorter than 4 characters are
 * not registered: hiding every "ab" in a message would garble it and hide nothing.
 */
export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < 4) return;
  known.add(value);
  try {
    const decoded = decodeURIComponent(value);
    if (decoded.length >= 4) known.add(decoded);
  } catch {
    /* not percent-encoded */
  }
  known.add(encodeURIComponent(value));
}

/** Query parameters and key=value keys whose value is a secret (lower case). */
const SECRET_PARAMS = [
  'password',
  'passwd',
  'pwd',
  'sslpassword',
  'secret',
  'token',
  'access_token',
  'session_token',
  'x-amz-signature',
  'x-amz-security-token',
  'signature',
  'aws_secret_access_key',
  'aws_session_token',
  'secret_access_key',
  'secretaccesskey',
  'sessiontoken',
  'url.secret',
];

/** Object keys whose value is a secret (redactValue). */
const SECRET_KEY = /(pass(word|wd)?$|secret|token|credential|signature|^pwd$|private.?key)/i;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const PARAM_ALT = SECRET_PARAMS.map(escapeRe).join('|');
// key=value (libpq, env, URL query), value quoted or bare; and "key": value (JSON).
const VALUE = `("(?:[^"\\\\]|\\\\.)*"|'(?:[^'\\\\]|\\\\.)*'|[^\\s&,;)}"']+)`;
const KEY_VALUE = new RegExp(`((?:^|[\\s,;{(&?])(?:${PARAM_ALT})\\s*=\\s*)${VALUE}`, 'gi');
const JSON_KEY_VALUE = new RegExp(`("(?:${PARAM_ALT})"\\s*:\\s*)${VALUE}`, 'gi');
// scheme://userinfo@host...: the userinfo ends at the LAST @ of the token (passwords hold unencoded @ and :).
const URL_TOKEN = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s"'<>]+)/gi;

function redactUserinfo(rest: string): string {
  // The authority ends at the first '/', '?' or '#' after the last '@' ... but an unencoded
  // '/' may sit in a password, so take the last '@' before the first '?' or '#'.
  const q = rest.search(/[?#]/);
  const head = q < 0 ? rest : rest.slice(0, q);
  const at = head.lastIndexOf('@');
  if (at < 0) return rest;
  const userinfo = head.slice(0, at);
  const colon = userinfo.indexOf(':');
  if (colon < 0) return rest;
  return `${userinfo.slice(0, colon)}:${REDACTED}${rest.slice(at)}`;
}

/** Hides every secret inside free text: URLs' passwords and secret parameters, key=value secrets, registered values. */
export function redactText(text: string): string {
  let out = text.replace(URL_TOKEN, (_m, scheme: string, rest: string) => scheme + redactUserinfo(rest));
  out = out.replace(KEY_VALUE, (_m, key: string) => `${key}${REDACTED}`);
  out = out.replace(JSON_KEY_VALUE, (_m, key: string) => `${key}"${REDACTED}"`);
  if (known.size) {
    for (const secret of [...known].sort((a, b) => b.length - a.length)) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    }
  }
  return out;
}

/** Hides the password of one URL or connection string; anything else passes through redactText. */
export function redactUrl(value: string): string {
  return redactText(value);
}

/** A deep copy of a value for JSON, logs or the runs table: secret keys' values hidden, strings redacted. */
export function redactValue<T>(value: T): T {
  return walk(value, 0) as T;
}

function walk(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEY.test(k) && v !== null && v !== undefined && typeof v !== 'object' && typeof v !== 'boolean' ? REDACTED : walk(v, depth + 1);
  }
  return out;
}

/** Registers the password of a connection URL or libpq string (decoded), so that every output hides it. */
export function registerUrlSecrets(value: string | undefined): void {
  if (!value) return;
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^?#]*)/i.exec(value);
  if (m) {
    const at = m[1]!.lastIndexOf('@');
    if (at >= 0) {
      const userinfo = m[1]!.slice(0, at);
      const colon = userinfo.indexOf(':');
      if (colon >= 0) registerSecret(userinfo.slice(colon + 1));
    }
  }
  for (const kv of value.matchAll(KEY_VALUE)) {
    const raw = kv[2]!;
    registerSecret(/^["']/.test(raw) ? raw.slice(1, -1) : raw);
  }
}
