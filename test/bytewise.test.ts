// compareBytewise orders as UTF-8 bytes do, judged by GNU sort in the C locale, not by itself.
import { test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import { compareBytewise } from '../src/bytewise.ts';
import { cSorted } from './helpers/c-sort.ts';
import { prng } from '../src/prng.ts';

test('compareBytewise sorts as LC_ALL=C sort: ASCII, accents, CJK, astral plane, U+FFFD, separators', () => {
  const rnd = prng(42);
  const alphabet = ['a', 'B', 'z', '-', '.', '/', '_', ' ', '0', '~', 'é', 'ｚ', '日', '😀', '\u{10FFFF}', '\uFFFD', 'Ω', '\u007f'];
  const names = new Set<string>();
  while (names.size < 3000) {
    let s = '';
    const n = 1 + Math.floor(rnd() * 8);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    names.add(s);
  }
  const list = [...names];
  assert.deepEqual([...list].sort(compareBytewise), cSorted(list));
  // Where UTF-16 order (JavaScript's default) and byte order disagree, byte order wins.
  assert.deepEqual(['😀', 'ｚ'].sort(compareBytewise), ['ｚ', '😀']);
  assert.deepEqual(['😀', 'ｚ'].sort(), ['😀', 'ｚ']);
});
