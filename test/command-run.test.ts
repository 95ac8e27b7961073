// Commands called as functions (issue 16, "Commands with typed options"): each command's parse
// turns commander's values into its typed options and run does the work with them, here with a
// fake CommandEnv (captured streams, TTY on and off, a fake prompt), no process spawned, on
// both dialects. What is checked is the effect in the store, not only the report.
import { after, before, describe, test } from './helpers/node-test.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import generate from '../src/commands/generate.ts';
import jobs from '../src/commands/jobs.ts';
import stats from '../src/commands/stats.ts';
import deleteCmd from '../src/commands/delete.ts';
import cleanupExpired from '../src/commands/cleanup-expired.ts';
import { FailedError, UsageError } from '../src/errors.ts';
import type { GenerateReport } from '../src/ops/generate.ts';
import type { JobsReport } from '../src/ops/jobs.ts';
import type { StatsReport } from '../src/ops/stats.ts';
import type { DeleteReport } from '../src/ops/access/delete.ts';
import { DIALECTS, type Store } from './helpers/env.ts';
import { fakeCommandEnv } from './helpers/command-env.ts';
import { sqlRows } from './helpers/cleanup-fixture.ts';
import { cardJob, ndjson } from './helpers/jobs.ts';

for (const d of DIALECTS) {
  describe(`command parse + run without spawning: ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let ids: string[];
    let dirOf: Map<string, string>;
    const globals = (over: { yes?: boolean; json?: boolean } = {}) => ({ root: store.root, database: store.databaseUrl || undefined, ...over });
    const fileStates = async (jobId: string) => {
      const c = await store.open();
      try {
        return (await sqlRows<{ state: string }>(c, `select state from files where job_id = '${jobId}' order by path`)).map((r) => r.state);
      } finally {
        await c.close();
      }
    };
    /** The files in the job's directory (which a delete removes once emptied). */
    const onDisk = (jobId: string) => {
      const dir = path.join(store.root, dirOf.get(jobId)!);
      return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
    };

    before(async () => {
      store = await d.makeStore();
      const input = path.join(store.root, '..', `${path.basename(store.root)}-jobs.ndjson`);
      fs.writeFileSync(input, ndjson(['run-a', 'run-b', 'run-c', 'run-d'].map((id) => cardJob(id, 'acme'))));
      const run = fakeCommandEnv({ globals: globals(), tty: false });
      // commander's values as its option parsers leave them (intOption made --workers a number)
      const out = await run.call(generate, [], { jobs: input, workers: 1 });
      fs.rmSync(input);
      assert.equal(out.exitCode, 0);
      const report = out.report as GenerateReport;
      assert.equal(report.jobs.rendered, 4);
      ids = report.rendered.map((j) => j.jobId).sort();
      assert.deepEqual(ids, ['run-a', 'run-b', 'run-c', 'run-d']);
      dirOf = new Map(report.rendered.map((j) => [j.jobId, j.dir]));
      assert.equal(ids.length, 4);
      for (const id of ids) assert.deepEqual(onDisk(id), ['back.pdf', 'back.png', 'combined.pdf', 'front.pdf', 'front.png']);
    });
    after(() => store?.dispose());

    test('jobs: parse validates the flags once, with the messages and exit code of the CLI', async () => {
      const run = fakeCommandEnv({ globals: globals(), tty: false });
      await assert.rejects(async () => jobs.parse([], { status: ['nope'] }, globals()), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /^unknown --status "nope"/.test(e.message));
      await assert.rejects(async () => jobs.parse([], { limit: '0' }, globals()), (e: unknown) => e instanceof UsageError && e.message === 'bad --limit "0"');
      await assert.rejects(async () => jobs.parse([], { ndjson: true }, globals({ json: true })), (e: unknown) => e instanceof UsageError && /--ndjson and --json/.test(e.message));
      await assert.rejects(async () => jobs.parse([], { pathPrefix: '../x' }, globals()), UsageError);
      const opts = await jobs.parse([], { owner: ['a', 'b'], limit: '2' }, globals());
      assert.deepEqual(opts.owners, ['a', 'b']);
      assert.equal(opts.limit, 2);
      assert.equal(opts.ndjson, false);
      assert.equal(run.stdout(), '', 'parse prints nothing');
    });

    test('jobs: run pages the store, and renders a table on a TTY, plain text off one', async () => {
      const all = (await fakeCommandEnv({ globals: globals(), tty: false }).call(jobs, [], {})).report as JobsReport;
      assert.deepEqual(all.jobs.map((j) => j.id).sort(), ids);
      const page = fakeCommandEnv({ globals: globals(), tty: false });
      const first = await page.call(jobs, [], { limit: '3' });
      const r = first.report as JobsReport;
      assert.equal(r.count, 3);
      assert.ok(r.next);
      const rest = (await page.call(jobs, [], { limit: '3', after: r.next })).report as JobsReport;
      assert.deepEqual([...r.jobs, ...rest.jobs].map((j) => j.id).sort(), ids);
      const plain = first.text();
      assert.match(plain, /more with --after /);
      assert.doesNotMatch(plain, /[│┌─]/);
      const tty = fakeCommandEnv({ globals: globals(), tty: true });
      const boxed = await tty.call(jobs, [], { limit: '3' });
      assert.match(boxed.text(), /[│┌─]/, 'a TTY gets the boxed table');
      assert.equal(tty.env.ui.stdoutTTY, true);
    });

    test('stats: run reports what the catalog holds; parse refuses --since without --history', async () => {
      await assert.rejects(async () => stats.parse([], { since: 86_400_000 }, globals()), (e: unknown) => e instanceof UsageError && e.message === '--since goes with --history');
      await assert.rejects(async () => stats.parse([], { format: 'xml' }, globals()), (e: unknown) => e instanceof UsageError && e.message === 'bad --format "xml"');
      const out = await fakeCommandEnv({ globals: globals(), tty: false }).call(stats, [], { checkDisk: true });
      const r = out.report as StatsReport;
      assert.equal(out.exitCode, 0, 'no drift in a store generate just wrote');
      const c = await store.open();
      try {
        const [row] = await sqlRows<{ n: number | string; b: number | string | null }>(c, "select count(*) as n, sum(size) as b from files where state = 'present'");
        assert.equal(r.usage.files, Number(row!.n));
        assert.equal(r.usage.totalBytes, Number(row!.b));
      } finally {
        await c.close();
      }
      assert.equal(r.usage.files, 20, 'four jobs of five files');
      assert.match(out.text(), /total size/);
    });

    test('delete without a TTY and without --yes refuses (exit 2), asks nothing, deletes nothing', async () => {
      const run = fakeCommandEnv({ globals: globals(), tty: false, answer: true });
      await assert.rejects(
        run.call(deleteCmd, [ids[0]!], {}),
        (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message === 'refusing to run delete without confirmation' && e.hint === 'pass --yes to proceed, or --dry-run to see the plan',
      );
      assert.deepEqual(run.asked, []);
      assert.equal(onDisk(ids[0]!).length, 5);
      assert.deepEqual(await fileStates(ids[0]!), ['present', 'present', 'present', 'present', 'present']);
    });

    test('cleanup-expired without a TTY and without --yes refuses the same way, after planning', async () => {
      // --as-of ahead of now is for dry runs only: parse says so before anything is opened
      await assert.rejects(async () => cleanupExpired.parse([], { asOf: '+400d' }, globals()), (e: unknown) => e instanceof UsageError && /^--as-of later than now/.test(e.message));
      const run = fakeCommandEnv({ globals: globals(), tty: false, answer: true });
      const planned = (await run.call(cleanupExpired, [], { dryRun: true, maxDelete: '100%' })).report as { plan: { files: number; jobs: number } };
      assert.deepEqual([planned.plan.jobs, planned.plan.files], [4, 20], 'completed card jobs are due at once');
      await assert.rejects(
        run.call(cleanupExpired, [], { maxDelete: '100%' }),
        (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message === 'refusing to run cleanup-expired without confirmation',
      );
      assert.deepEqual(run.asked, []);
      for (const id of ids) assert.equal(onDisk(id).length, 5, id);
    });

    test('delete on a TTY asks the fake prompt: no keeps the files, yes deletes them', async () => {
      const no = fakeCommandEnv({ globals: globals(), tty: true, answer: false });
      await assert.rejects(no.call(deleteCmd, [ids[1]!], {}), (e: unknown) => e instanceof FailedError && e.message === 'cancelled: nothing was changed');
      assert.equal(no.asked.length, 1);
      assert.match(no.asked[0]!, /^Delete 5 files \(.+\) of 1 jobs now\?$/);
      assert.match(no.stderr(), /Deleting cannot be undone/, 'the preface goes to stderr before the question');
      assert.equal(onDisk(ids[1]!).length, 5);

      const yes = fakeCommandEnv({ globals: globals(), tty: true, answer: true });
      const out = await yes.call(deleteCmd, [ids[1]!], { list: true });
      assert.equal(yes.asked.length, 1);
      assert.equal(out.exitCode, 0);
      assert.equal((out.report as DeleteReport).result?.files, 5);
      assert.deepEqual(onDisk(ids[1]!), []);
      assert.deepEqual(await fileStates(ids[1]!), ['deleted', 'deleted', 'deleted', 'deleted', 'deleted']);
    });

    test('delete with --yes and no TTY asks nothing and deletes', async () => {
      const run = fakeCommandEnv({ globals: globals({ yes: true }), tty: false });
      const out = await run.call(deleteCmd, [ids[2]!], { maxDelete: '100%' });
      assert.equal(out.exitCode, 0);
      assert.deepEqual(run.asked, []);
      assert.deepEqual(onDisk(ids[2]!), []);
      assert.deepEqual(await fileStates(ids[2]!), ['deleted', 'deleted', 'deleted', 'deleted', 'deleted']);
      // a bad --max-delete is the parse's usage error, before the store is opened
      await assert.rejects(async () => deleteCmd.parse([ids[3]!], { maxDelete: 'lots' }, globals()), UsageError);
      assert.equal(onDisk(ids[3]!).length, 5);
    });
  });
}
