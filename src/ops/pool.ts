/**
 * Runs fn over items with at most `limit` in flight, in order of start; results by index.
 * `limit` runners pull from one iterator: no per-item race over the in-flight set, which at
 * 64 in flight cost more CPU than the unlinks it was scheduling. The first error stops the
 * runners from starting more work and is thrown once the ones in flight have settled.
 */
export async function mapPool<T, R>(items: Iterable<T> | AsyncIterable<T>, limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  const sync = Symbol.iterator in items;
  const it = sync ? (items as Iterable<T>)[Symbol.iterator]() : (items as AsyncIterable<T>)[Symbol.asyncIterator]();
  let next = 0;
  let stop = false;
  let failure: { error: unknown } | undefined;
  const runner = async () => {
    while (!stop) {
      const idx = next++;
      const n = sync ? (it as Iterator<T>).next() : await it.next();
      if (n.done) {
        stop = true;
        return;
      }
      try {
        results[idx] = await fn(n.value);
      } catch (error) {
        failure ??= { error };
        stop = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, runner));
  if (failure) throw failure.error;
  return results;
}

/**
 * At most `limit` tasks running at once, across every caller, started in the order they were
 * queued. Unlike one mapPool per batch, consecutive batches share the slots: the next batch's
 * tasks start as soon as the last ones of this batch are all that is left, with no drain between.
 */
export class Limiter {
  #running = 0;
  readonly #queue: (() => void)[] = [];
  #head = 0;

  constructor(readonly limit: number) {}

  async run<R>(fn: () => Promise<R>): Promise<R> {
    if (this.#running >= this.limit) await new Promise<void>((resolve) => this.#queue.push(resolve));
    else this.#running++;
    try {
      return await fn();
    } finally {
      this.#next();
    }
  }

  #next(): void {
    if (this.#head < this.#queue.length) {
      // The slot passes straight to the next task: #running stays the same.
      const resolve = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as () => void;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      resolve();
    } else this.#running--;
  }
}

/**
 * A budget of `limit` units (bytes of memory) shared by tasks, in the order they ask. A task
 * waits until its cost fits beside those running; one whose cost alone is over the limit runs
 * once nothing else does, so every task runs in the end.
 */
export class Budget {
  #used = 0;
  #running = 0;
  readonly #queue: { cost: number; start: () => void }[] = [];

  constructor(readonly limit: number) {}

  /** Waits for `cost` units and returns the function that gives them back (once). */
  async acquire(cost: number): Promise<() => void> {
    if (!this.#queue.length && this.#fits(cost)) this.#take(cost);
    else await new Promise<void>((start) => this.#queue.push({ cost, start }));
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#used -= cost;
      this.#running--;
      this.#admit();
    };
  }

  /** Units in use now. */
  get used(): number {
    return this.#used;
  }

  #fits(cost: number): boolean {
    return this.#running === 0 || this.#used + cost <= this.limit;
  }

  #take(cost: number): void {
    this.#used += cost;
    this.#running++;
  }

  #admit(): void {
    // In order: the head waits for room rather than being passed by smaller tasks forever.
    while (this.#queue.length && this.#fits(this.#queue[0]!.cost)) {
      const next = this.#queue.shift()!;
      this.#take(next.cost);
      next.start();
    }
  }
}
