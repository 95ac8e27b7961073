// The image encoder process of migrate-images-to-db: what it answers, what happens when it
// dies, that it never outlives storectl (kill -9 included), and the memory budget it admits by.
import { test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { BIN, runCli, tmpDir } from './helpers/env.ts';
import { smallJpeg, writeFiles } from './helpers/images.ts';
import { DEFAULT_COMPRESS, ImageRejected, decodeCost } from '../src/ops/images/compress.ts';
import { EncoderBroken, openedFileLink, processEncoder, ReadFailed } from '../src/ops/images/encoder.ts';
import { Budget } from '../src/ops/pool.ts';

/** The pids of the processes `pid` started (its children), from /proc. */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    const list = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
    if (list) out.push(...list.split(/\s+/).map(Number));
  }
  return out;
}
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
const cmdline = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');

test('the encoder compresses bytes and local files, names what it cannot read, and rejects a non-image', async () => {
  const enc = processEncoder(2);
  try {
    const jpeg = await smallJpeg(900, 600, 3);
    const dir = tmpDir('storectl-enc-');
    writeFiles(dir, { 'a.jpg': jpeg, 'b.txt': 'not an image' });
    fs.symlinkSync(path.join(dir, 'a.jpg'), path.join(dir, 'link.jpg'));
    const fromBytes = await enc.compress(jpeg, DEFAULT_COMPRESS);
    const fromFile = await enc.compress({ file: path.join(dir, 'a.jpg'), maxBytes: 1 << 30 }, DEFAULT_COMPRESS);
    assert.equal(fromBytes.sha256, fromFile.sha256);
    assert.equal(fromFile.inputBytes, jpeg.length);
    assert.equal(fromFile.data.subarray(8, 12).toString(), 'WEBP');
    await assert.rejects(enc.compress({ file: path.join(dir, 'link.jpg'), maxBytes: 1 << 30 }, DEFAULT_COMPRESS), (e: unknown) => e instanceof ReadFailed && e.code === 'ELOOP');
    await assert.rejects(enc.compress({ file: path.join(dir, 'gone.jpg'), maxBytes: 1 << 30 }, DEFAULT_COMPRESS), (e: unknown) => e instanceof ReadFailed && e.code === 'ENOENT');
    await assert.rejects(enc.compress({ file: path.join(dir, 'a.jpg'), maxBytes: 10 }, DEFAULT_COMPRESS), (e: unknown) => e instanceof ReadFailed && /larger than 10 bytes/.test(e.message));
    await assert.rejects(enc.compress(Buffer.from('not an image'), DEFAULT_COMPRESS), (e: unknown) => e instanceof ImageRejected && e.kind === 'not_an_image');
    // A file held open here (store mode opens through its directory) is read by the encoder
    // through its /proc link: the file opened, even if its path is swapped for a symlink since.
    const fh = await fs.promises.open(path.join(dir, 'a.jpg'), 'r');
    try {
      fs.renameSync(path.join(dir, 'a.jpg'), path.join(dir, 'moved.jpg'));
      fs.symlinkSync(path.join(dir, 'b.txt'), path.join(dir, 'a.jpg'));
      const link = openedFileLink(fh.fd);
      assert.ok(link, 'Linux: the encoder reads an opened file itself');
      const viaFd = await enc.compress({ file: link, maxBytes: 1 << 30, opened: true }, DEFAULT_COMPRESS);
      assert.equal(viaFd.sha256, fromBytes.sha256);
    } finally {
      await fh.close();
    }
  } finally {
    await enc.close();
  }
});

test('an encoder that dies fails the images it held, with the reason, and the next image gets a new one', async () => {
  const enc = processEncoder(1);
  try {
    const jpeg = await smallJpeg(900, 600, 4);
    await enc.compress(jpeg, DEFAULT_COMPRESS);
    const [pid] = children(process.pid).filter((p) => /image-encoder|encoder\.mjs/.test(cmdline(p)));
    assert.ok(pid, 'an encoder process runs');
    const held = enc.compress(jpeg, DEFAULT_COMPRESS);
    process.kill(pid, 'SIGKILL');
    await assert.rejects(held, (e: unknown) => e instanceof ImageRejected && /image encoder process was killed \(SIGKILL\)/.test(e.message));
    const again = await enc.compress(jpeg, DEFAULT_COMPRESS);
    assert.equal(again.width, 900);
  } finally {
    await enc.close();
  }
  assert.deepEqual(children(process.pid).filter((p) => alive(p) && /image-encoder|encoder\.mjs/.test(cmdline(p))), [], 'close() ends the encoder');
});

test('kill -9 of storectl midway: its encoder process exits too', async () => {
  const root = tmpDir('storectl-enc-root-');
  assert.equal((await runCli(['--root', root, 'migrate', '--create'])).code, 0);
  const dir = tmpDir('storectl-enc-in-');
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 40; i++) files[`p${i}.jpg`] = await smallJpeg(1600, 1200, 200 + i);
  writeFiles(dir, files);
  const child = spawn(process.execPath, [BIN, '--root', root, 'migrate-images-to-db', '--from-dir', dir, '--batch-size', '1'], { stdio: 'ignore' });
  let encoder: number | undefined;
  const deadline = Date.now() + 30_000;
  while (!encoder && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 20));
    try {
      encoder = children(child.pid!).find((p) => /image-encoder|encoder\.mjs/.test(cmdline(p)));
    } catch {
      break;
    }
  }
  assert.ok(encoder, 'storectl started its encoder process');
  child.kill('SIGKILL');
  await new Promise((res) => child.on('close', res));
  const gone = Date.now() + 10_000;
  while (alive(encoder) && Date.now() < gone) await new Promise((res) => setTimeout(res, 20));
  assert.equal(alive(encoder), false, 'the encoder exits once storectl is gone');
});

test('decodeCost: a progressive JPEG costs its DCT coefficients; the budget admits in order and never starves a big one', async () => {
  const base = decodeCost({ format: 'jpeg', width: 5120, height: 2880, channels: 3 });
  const progressive = decodeCost({ format: 'jpeg', width: 5120, height: 2880, channels: 3, isProgressive: true });
  assert.ok(progressive >= 5120 * 2880 * 3 * 2, 'every coefficient of a progressive JPEG is held');
  assert.ok(base < progressive / 4);
  const b = new Budget(100);
  const order: string[] = [];
  const r1 = await b.acquire(60);
  const big = b.acquire(500).then((r) => (order.push('big'), r));
  const small = b.acquire(10).then((r) => (order.push('small'), r));
  await new Promise((res) => setTimeout(res, 10));
  assert.deepEqual(order, [], 'the big one waits for room, the small one waits behind it');
  r1();
  const rb = await big;
  assert.deepEqual(order, ['big'], 'alone, a task over the limit runs');
  rb();
  (await small)();
  assert.deepEqual(order, ['big', 'small']);
  assert.equal(b.used, 0);
});

test('an encoder that dies three times in a row, answering nothing between, stops the run (EncoderBroken)', async () => {
  const enc = processEncoder(1);
  const jpeg = await smallJpeg(900, 600, 5);
  const encoders = () => children(process.pid).filter((p) => alive(p) && /image-encoder|encoder\.mjs/.test(cmdline(p)));
  try {
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const held = enc.compress(jpeg, DEFAULT_COMPRESS);
      let pid: number | undefined;
      while (!(pid = encoders()[0])) await new Promise((res) => setTimeout(res, 10));
      process.kill(pid, 'SIGKILL');
      await held.then(
        () => assert.fail('a killed encoder answered'),
        (e: Error) => seen.push(e.constructor.name),
      );
      while (alive(pid)) await new Promise((res) => setTimeout(res, 10));
    }
    assert.deepEqual(seen, ['ImageRejected', 'ImageRejected', 'EncoderBroken']);
    await assert.rejects(enc.compress(jpeg, DEFAULT_COMPRESS), (e: unknown) => e instanceof EncoderBroken);
  } finally {
    await enc.close();
  }
});
