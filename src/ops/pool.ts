/** Runs fn over items with at most `limit` in flight, in order of start; results by index. */
export async function mapPool<T, R>(items: Iterable<T> | AsyncIterable<T>, limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  const inFlight = new Set<Promise<void>>();
  let i = 0;
  for await (const item of items as AsyncIterable<T>) {
    const idx = i++;
    const p = fn(item).then((r) => {
      results[idx] = r;
    });
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= limit) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return results;
}
