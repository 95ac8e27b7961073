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
