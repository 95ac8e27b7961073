// import-from-db's decoding of one value: strict base64, the shapes, the role map and the
// content type read from the bytes (checked against what the role's name says).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { DEFAULT_ROLE_MAP, decodeBase64, decodeValue, parseRoleMap } from '../src/ops/import-db/decode.ts';
import { toTime } from '../src/ops/import-db/run.ts';

const PDF = Buffer.from('%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n');
const png = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#336699' } }).png().toBuffer();
const jpeg = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#336699' } }).jpeg().toBuffer();

test('base64 is decoded strictly: line breaks and data: URLs are fine, anything else is named', () => {
  const bytes = Buffer.from('hello, store');
  const b64 = bytes.toString('base64');
  assert.deepEqual(decodeBase64(b64), bytes);
  assert.deepEqual(decodeBase64(`${b64.slice(0, 4)}\r\n${b64.slice(4)}\n`), bytes);
  assert.deepEqual(decodeBase64(`data:application/octet-stream;base64,${b64}`), bytes);
  assert.deepEqual(decodeBase64('data:text/plain,hello'), { problem: 'a data: URL that is not base64' });
  assert.deepEqual(decodeBase64(''), { problem: 'empty value' });
  assert.deepEqual(decodeBase64(' \n'), { problem: 'empty value' });
  assert.deepEqual(decodeBase64(`${b64.slice(0, 5)}$${b64.slice(5)}`), { problem: 'invalid base64: character "$" at offset 5' });
  assert.deepEqual(decodeBase64('aGk=aGk='), { problem: 'invalid base64: character "=" at offset 3' });
  assert.deepEqual(decodeBase64(b64.slice(0, -1)), { problem: `invalid base64: length ${b64.length - 1} is not a multiple of 4 (truncated?)` });
  // URL-safe base64 is another alphabet: refused rather than half-decoded.
  assert.ok('problem' in (decodeBase64(Buffer.from([0xfb, 0xff, 0xfe]).toString('base64url')) as object));
});

test('json-base64 with the default role map: the card files, null keys skipped, unknown keys and wrong types refused', async () => {
  const map = parseRoleMap(undefined, 'json-base64');
  assert.deepEqual(map, { by: 'key', roles: DEFAULT_ROLE_MAP });
  const front = await png();
  const value = { front_image: front.toString('base64'), back_image: null, front_pdf: PDF.toString('base64') };
  const d = await decodeValue(value, 'json-base64', map);
  assert.ok(d.ok);
  assert.deepEqual(
    d.files.map((f) => [f.role, f.part, f.contentType, f.bytes.length]),
    [
      ['front.png', 'front_image', 'image/png', front.length],
      ['front.pdf', 'front_pdf', 'application/pdf', PDF.length],
    ],
  );
  // The same as JSON text (SQLite, PostgreSQL text).
  assert.ok((await decodeValue(JSON.stringify(value), 'json-base64', map)).ok);
  const bad = async (v: unknown) => {
    const r = await decodeValue(v, 'json-base64', map);
    assert.ok(!r.ok);
    return r.reason;
  };
  assert.equal(await bad({ front_pdf: front.toString('base64') }), 'front_pdf: bytes are PNG, not PDF as front.pdf says');
  assert.equal(await bad({ front_image: (await jpeg()).toString('base64') }), 'front_image: bytes are JPEG, not PNG as front.png says');
  assert.equal(await bad({ front_image: Buffer.from('just text').toString('base64') }), 'front_image: bytes are not of a recognised type, not PNG as front.png says');
  assert.equal(await bad({ front_image: '' }), 'front_image: empty value');
  assert.equal(await bad({ front_image: null }), 'empty value (no files in it)');
  assert.equal(await bad({}), 'empty value (no files in it)');
  assert.equal(await bad({ front_image: 12 }), 'front_image: value is number, not base64 text');
  assert.equal(await bad({ thumbnail: front.toString('base64') }), 'key "thumbnail" has no file name in --role-map');
  assert.equal(await bad('{"front_image": '), 'value is not valid JSON');
  assert.equal(await bad([front.toString('base64')]), 'value is not a JSON object of base64 strings');
});

test('bytea, base64 and bytea-array values: named by --role-map or by their type', async () => {
  const p = await png();
  const one = await decodeValue(p, 'bytea', parseRoleMap(undefined, 'bytea'));
  assert.ok(one.ok);
  assert.deepEqual(one.files.map((f) => [f.role, f.contentType]), [['file.png', 'image/png']]);
  const named = await decodeValue(p.toString('base64'), 'base64', parseRoleMap('["photo.png"]', 'base64'));
  assert.ok(named.ok);
  assert.equal(named.files[0]!.role, 'photo.png');
  const unknown = await decodeValue(Buffer.from('plain bytes'), 'bytea', parseRoleMap(undefined, 'bytea'));
  assert.ok(unknown.ok);
  assert.deepEqual(unknown.files.map((f) => [f.role, f.contentType]), [['file.bin', 'application/octet-stream']]);
  const arr = await decodeValue([p, null, PDF], 'bytea-array', parseRoleMap(undefined, 'bytea-array'));
  assert.ok(arr.ok);
  assert.deepEqual(arr.files.map((f) => [f.role, f.part]), [['file-1.png', '[0]'], ['file-3.pdf', '[2]']]);
  const tooMany = await decodeValue([p, PDF, p], 'bytea-array', parseRoleMap('["a.png","b.pdf"]', 'bytea-array'));
  assert.deepEqual(tooMany, { ok: false, reason: '3 elements, but --role-map names 2' });
  assert.deepEqual(await decodeValue([], 'bytea-array', parseRoleMap(undefined, 'bytea-array')), { ok: false, reason: 'empty value (an empty array)' });
  assert.deepEqual(await decodeValue(Buffer.alloc(0), 'bytea', parseRoleMap(undefined, 'bytea')), { ok: false, reason: 'value: empty value' });
  assert.deepEqual(await decodeValue('text', 'bytea', parseRoleMap(undefined, 'bytea')), { ok: false, reason: 'value: value is string, not bytes' });
});

test('--role-map is checked before anything runs (exit 2)', () => {
  const bad = (text: string, shape: Parameters<typeof parseRoleMap>[1]) => assert.throws(() => parseRoleMap(text, shape), (e: { exitCode?: number }) => e.exitCode === 2, text);
  bad('not json', 'json-base64');
  bad('["front.png"]', 'json-base64');
  bad('{}', 'json-base64');
  bad('{"a":"../x.png"}', 'json-base64');
  bad('{"a":"x.png","b":"x.png"}', 'json-base64');
  bad('{"a":".hidden"}', 'json-base64');
  bad('{"front_image":"front.png"}', 'bytea');
  bad('["a.png","b.png"]', 'bytea');
  bad('[]', 'bytea-array');
  assert.deepEqual(parseRoleMap('{"img":"card.png"}', 'json-base64'), { by: 'key', roles: { img: 'card.png' } });
});

test('created-column values: timestamps, ISO text (UTC without a zone), epoch seconds or milliseconds', () => {
  const t = Date.UTC(2025, 2, 4, 10, 0, 0);
  assert.equal((toTime(new Date(t)) as Date).getTime(), t);
  assert.equal((toTime('2025-03-04 10:00:00') as Date).getTime(), t);
  assert.equal((toTime('2025-03-04T10:00:00') as Date).getTime(), t);
  assert.equal((toTime('2025-03-04T11:00:00+01:00') as Date).getTime(), t);
  assert.equal((toTime('2025-03-04') as Date).getTime(), Date.UTC(2025, 2, 4));
  assert.equal((toTime(t / 1000) as Date).getTime(), t);
  assert.equal((toTime(t) as Date).getTime(), t);
  assert.equal((toTime(String(t / 1000)) as Date).getTime(), t);
  assert.equal(toTime(null), null);
  assert.deepEqual(toTime('yesterday'), { problem: 'created column "yesterday" is not a time' });
  assert.deepEqual(toTime(true), { problem: 'created column is boolean, not a time' });
});
