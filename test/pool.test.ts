// The concurrency helpers: mapPool (one pool per call) and Limiter (slots shared by all callers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter, mapPool } from '../src/ops/pool.ts';

const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

test('Limiter: never more than its limit running, across callers; every task runs, in queue order', async () => {
  const slots = new Limiter(3);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const task = (i: number) => async () => {
    started.push(i);
    running++;
    peak = Math.max(peak, running);
    await tick(i % 3);
    running--;
    return i * 2;
  };
  // two "batches" queued one after the other share the same three slots
  const a = Promise.all(Array.from({ length: 20 }, (_, i) => slots.run(task(i))));
  const b = Promise.all(Array.from({ length: 20 }, (_, i) => slots.run(task(20 + i))));
  assert.deepEqual(await a, Array.from({ length: 20 }, (_, i) => i * 2));
  assert.deepEqual(await b, Array.from({ length: 20 }, (_, i) => (20 + i) * 2));
  assert.equal(peak, 3);
  assert.deepEqual(started, Array.from({ length: 40 }, (_, i) => i));
  assert.equal(running, 0);
});

test('Limiter: a failing task rejects its own promise only and frees its slot', async () => {
  const slots = new Limiter(1);
  const bad = slots.run(async () => {
    throw new Error('boom');
  });
  const good = slots.run(async () => 'ok');
  await assert.rejects(bad, /boom/);
  assert.equal(await good, 'ok');
  // thousands queued at once: the queue compacts as it drains, results stay in order
  const many = await Promise.all(Array.from({ length: 5000 }, (_, i) => slots.run(async () => i)));
  assert.equal(many.length, 5000);
  assert.ok(many.every((v, i) => v === i));
});

test('mapPool: results by index, at most `limit` in flight, the first error thrown after the rest settle', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapPool([5, 4, 3, 2, 1], 2, async (x) => {
    running++;
    peak = Math.max(peak, running);
    await tick(x);
    running--;
    return x * 10;
  });
  assert.deepEqual(out, [50, 40, 30, 20, 10]);
  assert.equal(peak, 2);
  await assert.rejects(
    mapPool([1, 2, 3], 2, async (x) => {
      if (x === 2) throw new Error('two');
      return x;
    }),
    /two/,
  );
});

test('LaneQueue: one call at a time; urgent calls before waiting ones, each kind in order; drained() waits for all', async () => {
  const { LaneQueue } = await import('../src/db/shared.ts');
  const lane = new LaneQueue();
  const order: string[] = [];
  let running = 0;
  const call = (name: string, ms = 2) => async () => {
    running++;
    assert.equal(running, 1);
    order.push(name);
    await tick(ms);
    running--;
    if (name === 'bad') throw new Error('bad call');
    return name;
  };
  const first = lane.run(false, call('t1')); // starts at once
  const t2 = lane.run(false, call('t2'));
  const bad = lane.run(false, call('bad'));
  const i1 = lane.run(true, call('i1'));
  const i2 = lane.run(true, call('i2'));
  assert.equal(await i2, 'i2');
  await assert.rejects(bad, /bad call/);
  await lane.drained();
  assert.deepEqual(await Promise.all([first, t2, i1]), ['t1', 't2', 'i1']);
  assert.deepEqual(order, ['t1', 'i1', 'i2', 't2', 'bad']);
  // after a failure the lane goes on
  assert.equal(await lane.run(true, call('after')), 'after');
});
