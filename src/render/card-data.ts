export interface CardData {
  holderName: string;
  licenceNumber: string;
  categories: string[];
  /** YYYY-MM-DD */
  issueDate: string;
  /** YYYY-MM-DD */
  expiryDate: string;
  /** YYYY-MM-DD */
  dateOfBirth?: string;
  address?: string;
  /** Path to the holder photo, absolute or relative to `baseDir`. */
  photo?: string;
}

export type CardDataResult = { ok: true; data: CardData } | { ok: false; field: string; message: string };

export const LIMITS = {
  holderName: 80,
  licenceNumber: 24,
  categories: 16,
  category: 5,
  address: 200,
  addressLines: 4,
  photo: 4096,
} as const;

class Invalid extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

// Lone surrogates cannot be encoded as UTF-8 for Pango; control characters and line separators would break the layout.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;
const CONTROL_EXCEPT_NEWLINE = /(?!\n)[\p{Cc}\p{Zl}\p{Zp}]/u;
// Real scripts stack at most a few marks on one base; "Zalgo" text would overflow the layout.
const MARK_STACK = /\p{M}{5}/u;
const CATEGORY = /^[\p{L}\p{N}+]+$/u;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function text(obj: Record<string, unknown>, field: string, max: number, control = CONTROL): string {
  const v = obj[field];
  if (typeof v !== 'string') throw new Invalid(field, v === undefined ? 'is required' : 'must be a string');
  if (v.trim() === '') throw new Invalid(field, 'must not be empty');
  if ([...v].length > max) throw new Invalid(field, `must be at most ${max} characters`);
  if (LONE_SURROGATE.test(v)) throw new Invalid(field, 'contains invalid Unicode');
  if (control.test(v)) throw new Invalid(field, 'must not contain control characters');
  if (MARK_STACK.test(v)) throw new Invalid(field, 'has too many combining marks on one character');
  return v;
}

function date(obj: Record<string, unknown>, field: string): string {
  const v = obj[field];
  if (typeof v !== 'string') throw new Invalid(field, v === undefined ? 'is required' : 'must be a string');
  const m = DATE.exec(v);
  if (!m) throw new Invalid(field, 'must be a date in YYYY-MM-DD format');
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1900 || y > 2199 || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) {
    throw new Invalid(field, `is not a valid date: ${v}`);
  }
  return v;
}

function categories(obj: Record<string, unknown>): string[] {
  const v = obj.categories;
  if (!Array.isArray(v)) throw new Invalid('categories', v === undefined ? 'is required' : 'must be an array of strings');
  if (v.length === 0) throw new Invalid('categories', 'must contain at least one category');
  if (v.length > LIMITS.categories) throw new Invalid('categories', `must contain at most ${LIMITS.categories} entries`);
  const seen = new Set<string>();
  v.forEach((c: unknown, i) => {
    if (typeof c !== 'string' || c.length === 0 || c.length > LIMITS.category || !CATEGORY.test(c)) {
      throw new Invalid('categories', `entry ${i} must be 1-${LIMITS.category} letters, digits or +`);
    }
    if (seen.has(c)) throw new Invalid('categories', `duplicate category ${c}`);
    seen.add(c);
  });
  return [...(v as string[])];
}

export function validateCardData(value: unknown): CardDataResult {
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Invalid('card', 'must be an object');
    }
    const obj = value as Record<string, unknown>;
    const data: CardData = {
      holderName: text(obj, 'holderName', LIMITS.holderName),
      licenceNumber: text(obj, 'licenceNumber', LIMITS.licenceNumber),
      categories: categories(obj),
      issueDate: date(obj, 'issueDate'),
      expiryDate: date(obj, 'expiryDate'),
    };
    if (obj.dateOfBirth !== undefined) data.dateOfBirth = date(obj, 'dateOfBirth');
    if (obj.address !== undefined) {
      data.address = text(obj, 'address', LIMITS.address, CONTROL_EXCEPT_NEWLINE);
      if (data.address.split('\n').length > LIMITS.addressLines) {
        throw new Invalid('address', `must have at most ${LIMITS.addressLines} lines`);
      }
    }
    if (obj.photo !== undefined) data.photo = text(obj, 'photo', LIMITS.photo);

    // ISO dates compare correctly as strings.
    if (data.expiryDate < data.issueDate) throw new Invalid('expiryDate', 'must not be before issueDate');
    if (data.dateOfBirth !== undefined && data.dateOfBirth >= data.issueDate) {
      throw new Invalid('dateOfBirth', 'must be before issueDate');
    }
    return { ok: true, data };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, field: err.field, message: err.message };
    throw err;
  }
}
