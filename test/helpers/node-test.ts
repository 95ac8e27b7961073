// node:test's describe/test/before/after, with one difference: a suite skipped with a reason
// (`describe(name, { skip: d.skip }, ...)`, e.g. PostgreSQL without STORECTL_TEST_DATABASE_URL)
// lists each of its tests as skipped with that reason, so the summary counts them (node:test
// alone runs no part of a skipped suite and prints `skipped 0`). A suite that is not skipped
// is handed to node:test as it is: what runs when the dialect is there does not change.
import * as nodeTest from 'node:test';

type Fn = (...args: never[]) => unknown;
type Options = { skip?: boolean | string; todo?: boolean | string; only?: boolean; concurrency?: number | boolean; timeout?: number };

/** The reason the suite being collected is skipped, while its body registers its tests. */
let skipping: string | undefined;

function split(args: unknown[]): { name: string | undefined; options: Options; fn: Fn | undefined } {
  let i = 0;
  const name = typeof args[i] === 'string' ? (args[i++] as string) : undefined;
  const options = args[i] && typeof args[i] === 'object' ? (args[i++] as Options) : {};
  const fn = typeof args[i] === 'function' ? (args[i] as Fn) : undefined;
  return { name, options, fn };
}

const reasonOf = (skip: boolean | string | undefined) => (typeof skip === 'string' ? skip : 'skipped');

export const describe = ((...args: unknown[]): unknown => {
  const { name, options, fn } = split(args);
  const reason = skipping ?? (options.skip ? reasonOf(options.skip) : undefined);
  if (reason === undefined || !fn) return (nodeTest.describe as (...a: unknown[]) => unknown)(...args);
  const { skip: _skip, ...rest } = options;
  return nodeTest.describe(name ?? '', rest, () => {
    const outer = skipping;
    skipping = reason;
    try {
      (fn as () => unknown)();
    } catch {
      // A body that cannot even be collected here: one visible skip stands for its tests.
      nodeTest.test(`${name ?? 'suite'} (not collected)`, { skip: reason });
    } finally {
      skipping = outer;
    }
  });
}) as typeof nodeTest.describe;

export const test = ((...args: unknown[]): unknown => {
  if (skipping === undefined) return (nodeTest.test as (...a: unknown[]) => unknown)(...args);
  const { name, options } = split(args);
  const { skip: _skip, only: _only, ...rest } = options;
  return nodeTest.test(name ?? '', { ...rest, skip: skipping });
}) as typeof nodeTest.test;

function hook(real: (fn: Fn, options?: object) => void) {
  return (fn: Fn, options?: object): void => {
    if (skipping === undefined) real(fn, options);
  };
}

export const before = hook(nodeTest.before as never) as typeof nodeTest.before;
export const after = hook(nodeTest.after as never) as typeof nodeTest.after;
export const beforeEach = hook(nodeTest.beforeEach as never) as typeof nodeTest.beforeEach;
export const afterEach = hook(nodeTest.afterEach as never) as typeof nodeTest.afterEach;
