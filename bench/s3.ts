// Benchmark: S3 stores on the loopback S3-protocol server (@20minutes/s3rver, its own process),
// storectl against rclone (Debian's), same machine, same run.
//   node --import tsx bench/s3.ts [--quick] [--files N] [--objects N] [--delete-objects N] [--transfers T] [--sections copy,list,delete] [--rounds R]
//   (--rounds: paired rounds of the copy and delete sections; medians of the ratios)
// 1. migrate-store of a local store of N files (default 20,000 of 2.5-7.5 KB: ~100 MB) to an
//    empty bucket with T transfers (default 8), every copy verified (the source's SHA-256 against
//    the catalog; the copy by its PUT's ETag = MD5 of the bytes sent, as s3rver stores no
//    checksums), against `rclone copy` of the same tree into another bucket with --transfers T
//    (rclone checks each upload's MD5 against the ETag).
// 2. The listing side of cleanup-orphaned on a bucket of N objects (default 100,000): storectl
//    `stats --check-disk` (ListObjectsV2 pages merged with the catalog's C-collated paths; the
//    same walk cleanup-orphaned --dry-run makes) against `rclone lsf -R | sort | comm -23` with
//    the catalog's path list exported beforehand. Objects are laid into s3rver's directory
//    directly (its on-disk format), as 100,000 PUTs would take longer than the measurement.
// 3. Deletion of N objects (default 100,000; --delete-objects): storectl delete against
//    `rclone delete` of a bucket holding the same keys (issue 14's goal: within 1.5x). With
//    --rounds R (default 1), R paired rounds: objects laid again, rows made present again.
// Peak RSS of storectl is shown for N/4 and N objects (flat in the number of objects).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { BIN, arg, flag, fmt, measure, median, shell, table } from './lib/measure.ts';
import { buildSyntheticStore } from './lib/synth.ts';
import { startS3Bench } from './lib/s3-bench.ts';
import { openCatalog } from '../src/db/connect.ts';
import { parseDatabaseUrl } from '../src/db/url.ts';

const QUICK = flag('--quick');
const FILES = Number(arg('--files', QUICK ? '1000' : '20000'));
const OBJECTS = Number(arg('--objects', QUICK ? '5000' : '100000'));
const TRANSFERS = Number(arg('--transfers', '8'));
/** --sections copy,list,delete (all by default): which of the three to run. */
const SECTIONS = (arg('--sections') ?? 'copy,list,delete').split(',');
const DELETE_OBJECTS = Number(arg('--delete-objects', QUICK ? '5000' : '100000'));
const ROUNDS = Number(arg('--rounds', '1'));
const chunked = <T,>(xs: T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));
const log = (s: string) => process.stderr.write(`${s}\n`);

/** Every live path of a catalog, in its order. */
async function livePathsOf(cat: Awaited<ReturnType<typeof openCatalog>>): Promise<string[]> {
  const paths: string[] = [];
  for (let after: string | undefined; ; ) {
    const page = await cat.livePaths({ afterPath: after, limit: 10_000 });
    if (!page.length) return paths;
    paths.push(...page);
    after = page[page.length - 1];
  }
}

/** Lays one object into s3rver's bucket directory in its on-disk format (content, .md5, metadata). */
function layObject(bucketDir: string, key: string, body: Buffer, md5: string): void {
  const p = path.join(bucketDir, key);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(`${p}._S3rver_object`, body);
  fs.writeFileSync(`${p}._S3rver_object.md5`, md5);
  fs.writeFileSync(`${p}._S3rver_metadata.json`, '{}');
}

/** Orphans a cleanup-orphaned --json dry run would delete. */
function orphanCount(r: { orphans?: { files?: number }; plan?: { files?: number } } & Record<string, unknown>): unknown {
  return r.orphans?.files ?? r.plan?.files ?? JSON.stringify(r).slice(0, 200);
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'storectl-bench-s3-'));
  const { server, env, rcloneEnv, bucket, client, header } = await startS3Bench(work);
  const out: string[] = [header];
  try {
    // 1. migrate-store vs rclone copy, ROUNDS paired rounds (fresh buckets each round; the
    //    order of the two tools alternates, so neither always runs first on a warm page cache).
    if (SECTIONS.includes('copy')) {
    const root = path.join(work, 'store');
    const jobs = Math.ceil(FILES / 5);
    log(`building a local store of ${jobs * 5} files...`);
    const built = await buildSyntheticStore({ root, jobs, filesPerJob: 5, minBytes: 2500, maxBytes: 7500, seed: 17 });
    execFileSync('sync');
    const db = path.join(root, '.storectl', 'catalog.db');
    // Each round starts from the catalog as built (a finished migrate-store switched its root).
    const pristine = path.join(work, 'catalog-as-built.db');
    fs.copyFileSync(db, pristine);
    const rows: string[][] = [];
    const ratios: number[] = [];
    let prof: { wallMs: number; phases: Record<string, { ms: number; calls: number; items: number }> } | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      const ours = `migrated-${round}`;
      const theirs = `rcloned-${round}`;
      await bucket(ours);
      await bucket(theirs);
      for (const suffix of ['-wal', '-shm']) fs.rmSync(db + suffix, { force: true });
      fs.copyFileSync(pristine, db);
      const profileFile = path.join(work, `migrate-profile-${round}.ndjson`);
      const runOurs = () => {
        log(`round ${round}: storectl migrate-store...`);
        const m = measure(process.execPath, [BIN, '--root', root, '--database', db, '--json', '--quiet', 'migrate-store', '--to', `s3://${ours}/`, '--parallel', String(TRANSFERS)], { env: { ...env, STORECTL_PROFILE: profileFile } });
        if (m.status !== 0) throw new Error(`migrate-store failed: ${m.stderr}`);
        return m;
      };
      const runTheirs = () => {
        log(`round ${round}: rclone copy...`);
        const m = measure('rclone', ['copy', root, `s3:${theirs}`, '--transfers', String(TRANSFERS), '--checkers', String(TRANSFERS), '--exclude', '.storectl/**'], { env: rcloneEnv });
        if (m.status !== 0) throw new Error(`rclone copy failed: ${m.stderr}`);
        return m;
      };
      let ms, rc;
      if (round % 2) {
        ms = runOurs();
        rc = runTheirs();
      } else {
        rc = runTheirs();
        ms = runOurs();
      }
      const report = JSON.parse(ms.stdout);
      const count = execFileSync('rclone', ['lsf', '-R', '--files-only', `s3:${theirs}`], { env: rcloneEnv, maxBuffer: 1 << 28 }).toString().trim().split('\n').length;
      const oursCount = execFileSync('rclone', ['lsf', '-R', '--files-only', `s3:${ours}`], { env: rcloneEnv, maxBuffer: 1 << 28 }).toString().trim().split('\n').length;
      ratios.push(rc.seconds / ms.seconds);
      rows.push([
        String(round),
        round % 2 ? 'storectl' : 'rclone',
        fmt(ms.seconds),
        fmt(built.files / ms.seconds, 0),
        String(ms.maxRssMb),
        `${oursCount} objects; ${report.verified.onUpload} on upload, ${report.verified.etag ?? 0} by ETag = MD5, ${report.verified.readBack} read back`,
        fmt(rc.seconds),
        fmt(count / rc.seconds, 0),
        String(rc.maxRssMb),
        `${count} objects`,
        fmt(rc.seconds / ms.seconds),
      ]);
      prof = JSON.parse(fs.readFileSync(profileFile, 'utf8').trim().split('\n').pop()!);
      // The next round's copies go to fresh buckets: this round's objects leave s3rver's disk.
      for (const b of [ours, theirs]) fs.rmSync(path.join(server.dir, b), { recursive: true, force: true });
    }
    out.push(`### migrate-store local → S3: ${built.files} files, ${fmt(built.bytes / 1e6, 1)} MB, ${TRANSFERS} transfers, ${ROUNDS} paired round(s)\n`);
    out.push(`storectl: \`migrate-store --parallel ${TRANSFERS}\` (each copy verified: size, SHA-256 of the source against the catalog, and the copy by the server's SHA-256, its ETag = MD5 of the bytes sent, or read back). rclone: \`copy --transfers ${TRANSFERS} --checkers ${TRANSFERS}\` (MD5 against ETag).\n`);
    out.push(table(['round', 'first', 'storectl s', 'storectl files/s', 'storectl peak RSS MB', 'storectl verified', 'rclone s', 'rclone files/s', 'rclone peak RSS MB', 'rclone', 'ratio'], rows));
    out.push(`\nratio (storectl files/s ÷ rclone files/s), median of ${ROUNDS}: ${fmt(median(ratios))} (goal: at least 1)\n`);
    out.push(`where storectl's time went in the last round (STORECTL_PROFILE; busy seconds per phase, summed over the transfers in flight): in-process wall ${fmt(prof!.wallMs / 1000)} s\n`);
    out.push(table(['phase', 'busy s', 'calls', 'items'], Object.entries(prof!.phases).map(([k, v]) => [k, fmt(v.ms / 1000), v.calls, v.items])));
    }

    // 2. listing a bucket of OBJECTS objects against the catalog
    for (const n of SECTIONS.includes('list') ? [Math.floor(OBJECTS / 4), OBJECTS] : []) {
      const name = `listed-${n}`;
      await bucket(name);
      const dbFile = path.join(work, `list-${n}.db`);
      log(`catalog of ${n} rows and ${n} objects...`);
      const rowsOnly = await buildSyntheticStore({ root: path.join(work, `rows-${n}`), databaseUrl: `sqlite:${dbFile}`, jobs: Math.ceil(n / 5), filesPerJob: 5, withFiles: false, seed: 23 });
      const cat = await openCatalog(parseDatabaseUrl(`sqlite:${dbFile}`, work), { create: false, migrate: 'auto' });
      const paths = await livePathsOf(cat);
      await cat.close();
      // Lay the objects into s3rver's directory (its format: content, .md5, metadata), 1% orphans.
      const bdir = path.join(server.dir, name);
      const body = randomBytes(64);
      const md5 = createHash('md5').update(body).digest('hex');
      const lay = (key: string) => layObject(bdir, key, body, md5);
      for (const p of paths) lay(p);
      for (let i = 0; i < Math.ceil(n / 100); i++) lay(`cards/2026/orphans/o-${String(i).padStart(6, '0')}.png`);
      fs.writeFileSync(path.join(work, `paths-${n}.txt`), paths.join('\n') + '\n');
      execFileSync('sync');
      log(`storectl stats --check-disk on ${n} objects...`);
      const st = measure(process.execPath, [BIN, '--root', `s3://${name}/`, '--database', `sqlite:${dbFile}`, '--json', 'stats', '--check-disk'], { env });
      if (st.status !== 4) throw new Error(`stats --check-disk: expected exit 4 (orphans), got ${st.status}: ${st.stderr}`);
      const drift = JSON.parse(st.stdout).drift;
      log(`storectl cleanup-orphaned --dry-run on ${n} objects...`);
      const co = measure(process.execPath, [BIN, '--root', `s3://${name}/`, '--database', `sqlite:${dbFile}`, '--json', 'cleanup-orphaned', '--dry-run', '--min-age', '0s', '--max-delete', '100%'], { env });
      if (co.status !== 0) throw new Error(`cleanup-orphaned --dry-run: exit ${co.status}: ${co.stderr}`);
      const orphaned = JSON.parse(co.stdout);
      log('rclone lsf | sort | comm...');
      const rl = shell(`export LC_ALL=C; rclone lsf -R --files-only s3:${name} | sort > ${work}/listed.txt && sort ${work}/paths-${n}.txt > ${work}/known.txt && comm -23 ${work}/listed.txt ${work}/known.txt | wc -l`, { env: rcloneEnv });
      out.push(`### orphan listing: ${rowsOnly.files} catalog rows, ${paths.length + Math.ceil(n / 100)} objects (${Math.ceil(n / 100)} orphans)\n`);
      out.push(
        table(
          ['tool', 'seconds', 'objects/s', 'peak RSS MB', 'orphans found'],
          [
            ['storectl cleanup-orphaned --dry-run --min-age 0s', fmt(co.seconds), fmt((paths.length + n / 100) / co.seconds, 0), co.maxRssMb, orphanCount(orphaned)],
            ['storectl stats --check-disk (S3 list merged with the catalog)', fmt(st.seconds), fmt(drift.walkedFiles / st.seconds, 0), st.maxRssMb, drift.orphanFiles],
            ['rclone lsf -R \\| sort \\| comm -23 (path list exported before)', fmt(rl.seconds), fmt((paths.length + n / 100) / rl.seconds, 0), `${rl.maxRssMb} (the shell; rclone's own not separated)`, rl.stdout.trim()],
          ],
        ),
      );
      fs.rmSync(bdir, { recursive: true, force: true });
    }
    // 3. Deletion: storectl delete of every job of a catalog of DELETE_OBJECTS rows (HEAD re-check
    //    of size and ETag per object, DeleteObjects of up to 1,000 keys, tombstones and events)
    //    against `rclone delete` of a bucket laid out alike, holding exactly those keys (rclone
    //    1.60's --files-from matched none of s3rver's keys here, so the bucket is deleted whole).
    if (SECTIONS.includes('delete')) {
      const n = DELETE_OBJECTS;
      const ours = 'deleted-by-storectl';
      const theirs = 'deleted-by-rclone';
      await bucket(ours);
      await bucket(theirs);
      const dbFile = path.join(work, 'delete.db');
      log(`delete: catalog of ${n} rows and ${n} objects in two buckets...`);
      await buildSyntheticStore({ root: path.join(work, 'rows-delete'), databaseUrl: `sqlite:${dbFile}`, jobs: Math.ceil(n / 5), filesPerJob: 5, withFiles: false, seed: 31 });
      const cat = await openCatalog(parseDatabaseUrl(`sqlite:${dbFile}`, work), { create: false, migrate: 'auto' });
      const paths = await livePathsOf(cat);
      const jobIds: string[] = [];
      for (let afterId: string | undefined; ; ) {
        const page = await cat.jobPage({ afterId, limit: 10_000 });
        if (!page.length) break;
        jobIds.push(...page.map((j) => j.id));
        afterId = page[page.length - 1]!.id;
      }
      // The rows' sizes, so that storectl's re-check (size and ETag) finds each object as planned.
      const sizes = new Map<string, number>();
      for (const part of chunked(paths, 5000)) for (const f of await cat.filesByPaths(part)) sizes.set(f.path, f.size);
      await cat.close();
      const jobList = path.join(work, 'delete-jobs.txt');
      fs.writeFileSync(jobList, jobIds.join('\n') + '\n');
      const left = (b: string) => execFileSync('rclone', ['lsf', '-R', '--files-only', `s3:${b}`], { env: rcloneEnv, maxBuffer: 1 << 28 }).toString().trim().split('\n').filter(Boolean).length;
      const rounds: string[][] = [];
      const ratios: number[] = [];
      let prof: { wallMs: number; phases: Record<string, { ms: number; calls: number; items: number }> } | undefined;
      for (let round = 1; round <= ROUNDS; round++) {
        for (const b of [ours, theirs]) {
          const bdir = path.join(server.dir, b);
          for (const key of paths) {
            const body = Buffer.alloc(sizes.get(key)!, 7);
            layObject(bdir, key, body, createHash('md5').update(body).digest('hex'));
          }
        }
        // the rows the previous round tombstoned are present again
        if (round > 1) execFileSync('sqlite3', [dbFile, `update files set state = 'present', deleted_at = null, delete_reason = null where state = 'deleted'; update jobs set files_state = 'on_disk';`]);
        execFileSync('sync');
        log(`round ${round}: storectl delete of ${paths.length} objects...`);
        const profileFile = path.join(work, `delete-profile-${round}.ndjson`);
        const del = measure(process.execPath, [BIN, '--root', `s3://${ours}/`, '--database', `sqlite:${dbFile}`, '--json', '--yes', 'delete', '--from', jobList, '--force', '--max-delete', '100%'], { env: { ...env, STORECTL_PROFILE: profileFile } });
        if (del.status !== 0) throw new Error(`storectl delete exited ${del.status}: ${del.stderr.slice(-2000)}`);
        const deleted = JSON.parse(del.stdout).result?.files ?? JSON.parse(del.stdout).files;
        log(`round ${round}: rclone delete of ${paths.length} objects...`);
        const rc = measure('rclone', ['delete', `s3:${theirs}`, '--transfers', String(TRANSFERS), '--checkers', String(TRANSFERS), ...(process.env.BENCH_DEBUG ? ['-vv'] : [])], { env: rcloneEnv });
        if (rc.status !== 0) throw new Error(`rclone delete failed: ${rc.stderr}`);
        if (process.env.BENCH_DEBUG) log(rc.stderr.slice(-3000));
        ratios.push(del.seconds / rc.seconds);
        rounds.push([String(round), fmt(del.seconds), fmt(paths.length / del.seconds, 0), String(del.maxRssMb), `${left(ours)} (${deleted} deleted)`, fmt(rc.seconds), fmt(paths.length / rc.seconds, 0), String(rc.maxRssMb), String(left(theirs)), fmt(del.seconds / rc.seconds)]);
        prof = JSON.parse(fs.readFileSync(profileFile, 'utf8').trim());
      }
      out.push(`### deletion: ${paths.length} objects of ${jobIds.length} jobs, ${TRANSFERS} in flight for rclone, ${ROUNDS} round(s)\n`);
      out.push('storectl: `delete --from` (every job; HEAD or listing re-check, DeleteObjects of up to 1,000 keys, tombstones and events). rclone: `delete` of a bucket holding exactly those keys, `--checkers ' + TRANSFERS + '`.\n');
      out.push(table(['round', 'storectl s', 'storectl objects/s', 'storectl peak RSS MB', 'objects left (ours)', 'rclone s', 'rclone objects/s', 'rclone peak RSS MB', 'objects left (rclone)', 'ratio'], rounds));
      out.push(`\nratio (storectl seconds ÷ rclone seconds), median of ${ROUNDS} (as bench/lib/measure.ts takes it): ${fmt(median(ratios))} (goal: at most 1.5)\n`);
      out.push(`where storectl's time went in the last round (STORECTL_PROFILE; busy seconds per phase, phases overlap): in-process wall ${fmt(prof!.wallMs / 1000)} s\n`);
      out.push(table(['phase', 'seconds', 'calls', 'items'], Object.entries(prof!.phases).map(([k, v]) => [k, fmt(v.ms / 1000), v.calls, v.items])));
    }
    out.push(`\nload after: \`${execFileSync('uptime').toString().trim()}\`\n`);
  } finally {
    client.destroy();
    await server.dispose();
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(out.join('\n'));
}

await main();
