import type { CardData } from './card-data.ts';

/** ICAO's fictional "Utopia", used on specimen documents. */
export const ISSUER_CODE = 'UTO';

const WIDTH = 30;

// ICAO 9303 transliterations for letters that do not decompose to A-Z.
const TRANSLIT: Record<string, string> = {
  Æ: 'AE', Ð: 'D', Đ: 'D', Ħ: 'H', Ł: 'L', Ŀ: 'L', Ø: 'O', Œ: 'OE', Þ: 'TH', ẞ: 'SS',
  А: 'A', Б: 'B', В: 'V', Г: 'G', Д: 'D', Е: 'E', Ж: 'ZH', З: 'Z', И: 'I', К: 'K', Л: 'L', М: 'M',
  Н: 'N', О: 'O', П: 'P', Р: 'R', С: 'S', Т: 'T', У: 'U', Ф: 'F', Х: 'KH', Ц: 'TS', Ч: 'CH', Ш: 'SH',
  Щ: 'SHCH', Ъ: 'IE', Ы: 'Y', Ь: '', Э: 'E', Ю: 'IU', Я: 'IA', Є: 'IE', І: 'I', Ї: 'I', Ґ: 'G',
};

export function mrzChars(s: string): string {
  let out = '';
  for (const ch of s.normalize('NFD').replace(/\p{M}/gu, '').toUpperCase()) {
    const t = TRANSLIT[ch] ?? ch;
    out += /^[A-Z0-9]*$/.test(t) ? t : '<';
  }
  return out;
}

function field(s: string, len: number): string {
  return s.slice(0, len).padEnd(len, '<');
}

function checkDigit(s: string): string {
  const weights = [7, 3, 1];
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c >= 65 ? c - 55 : c >= 48 && c <= 57 ? c - 48 : 0;
    sum += v * weights[i % 3]!;
  }
  return String(sum % 10);
}

function yymmdd(date: string | undefined): string {
  return date ? date.slice(2, 4) + date.slice(5, 7) + date.slice(8, 10) : '<<<<<<';
}

/** Three TD1-style lines (30 characters each) for the back of the card. */
export function mrzLines(d: CardData): [string, string, string] {
  const number = mrzChars(d.licenceNumber).replace(/</g, '');
  const num9 = field(number, 9);
  const line1 = field(`DL${ISSUER_CODE}${num9}${checkDigit(num9)}${number.slice(9)}`, WIDTH);

  const dob = yymmdd(d.dateOfBirth);
  const exp = yymmdd(d.expiryDate);
  const cats = field(mrzChars(d.categories.join('<')), 11);
  const body = `${dob}${checkDigit(dob)}<${exp}${checkDigit(exp)}${ISSUER_CODE}${cats}`;
  const line2 = body + checkDigit(line1.slice(5) + body);

  const words = mrzChars(d.holderName).split('<').filter(Boolean);
  const surname = words.pop() ?? '';
  const line3 = field(`${surname}<<${words.join('<')}`, WIDTH);
  return [line1, line2, line3];
}
