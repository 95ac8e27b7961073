// Tier transitions: moving whole jobs' files between tiers (the store root `hot`, a second local
// tree, an S3 bucket) with a protocol of the same shape as deletion:
//   1. intent: tier_target = TO on the job's rows (committed)
//   2. copy the stored bytes from the row's tier to TO (an atomic put there)
//   3. read the copy back from TO: size and SHA-256 of the original bytes must be the row's
//   4. flip: tier = TO, tier_target = '-FROM' (the copy in TO is the file now), one event each
//   5. remove the copy left in FROM through the deletion gate of FROM (re-checked against what
//      was seen before the copy; never an unconfined unlink), then tier_target = null
// kill -9 anywhere: a rerun first finishes what is in flight (db/tiers.ts says how to tell the two
// kinds of intent apart), so each row's tier holds its file, no copy is removed before its
// replacement is verified, and no stray copy is left once the rerun is done.
// Plan first: a dry run lists exactly what a real run moves.
import { Writable, type Readable } from 'node:stream';
import { openAllTiers, tierStore, type Context } from '../../context.ts';
import { PACK_THRESHOLD } from '../../config.ts';
import { tierCatalog, type TierCatalog, type TierFlip, type TierRow } from '../../db/tiers.ts';
import type { EventRecord, JobHead } from '../../db/types.ts';
import { FailedError, UsageError, errorMessage } from '../../errors.ts';
import type { BlobStore } from '../../storage/blob.ts';
import { pausePoint } from '../../test-hooks.ts';
import { openStored, streamContent } from '../access/content.ts';
import { selectJobs, type JobSelection } from '../access/select.ts';
import { DeleteGate, type DeletionTarget, type DiskState, type Expected } from '../lifecycle/gate.ts';
import { capVerdict, guardCap, type CapVerdict } from '../lifecycle/guards.ts';
import { describeRule, transitionRuleForJob, type Rule } from '../lifecycle/rules.ts';
import { S3Target } from '../lifecycle/s3-target.ts';
import { Limiter } from '../pool.ts';
import { withStoreLock } from '../store-lock.ts';
import { Spool } from '../lifecycle/spool.ts';
import { buildPack, packKey, PACKS_PREFIX, type PackMember } from '../../storage/pack-format.ts';
import { hashingTap, sha256 } from '../../storage/hash.ts';
import { decodeStored } from '../access/content.ts';
import { pipeline } from 'node:stream/promises';
import { Readable as ReadableStream } from 'node:stream';

/** Files copied and read back at once. */
export const MOVE_CONCURRENCY = 16;
/** Files per batch: one intent transaction and one flip transaction each (whole jobs). */
const BATCH_FILES = 256;
const PAGE = 1000;
/** Batches in hand at once (their copies share the MOVE_CONCURRENCY slots). */
const BATCHES_AT_ONCE = 2;

export interface TransitionOptions {
  dryRun: boolean;
  asOf: Date;
  /** By hand (storectl tier JOB... --to TIER): these jobs, to this tier. Otherwise the rules. */
  manual?: { selection: JobSelection; to: string };
  /** The transition rules (others are ignored). */
  rules: readonly Rule[];
  list: boolean;
  maxMove?: string;
  maxMoveSource?: string;
  waitMs: number;
  /**
   * Reserved for `storectl tier --compress` (the compression part of issue 21): how to encode
   * the bytes stored in the target tier. Not wired yet: a value here is refused.
   */
  compress?: string;
  confirm: (plan: { jobs: number; files: number; bytes: number }) => Promise<boolean>;
}

export interface PlannedMove {
  jobId: string;
  /** Rule id, or 'manual'. */
  rule: string;
  to: string;
  dueAt: string | null;
  files: TierRow[];
}

export interface TierTally {
  tier: string;
  jobs: number;
  files: number;
  bytes: number;
}

export interface TransitionReport {
  dryRun: boolean;
  asOf: string;
  /** The transition rules evaluated (empty for a move by hand). */
  rules: ReturnType<typeof describeRule>[];
  /** The tier a move by hand goes to (null: the rules decide). */
  to: string | null;
  plan: { jobs: number; files: number; bytes: number; byTarget: TierTally[]; byRule: { rule: string; to: string; jobs: number; files: number; bytes: number }[] };
  cap: CapVerdict | null;
  /** Files left in flight by an interrupted run (a real run finishes them first). */
  interrupted: number;
  unknown: string[];
  skipped: { jobId: string; reason: string }[];
  list?: { path: string; jobId: string | null; rule: string; from: string; to: string; bytes: number; outcome: string }[];
  result?: {
    jobs: number;
    files: number;
    bytes: number;
    /** In-flight files finished from an interrupted run (moved, or their leftover copy removed). */
    recovered: number;
    /** Copies left in a tier the file was moved from, removed. */
    leftoversRemoved: number;
    byTarget: TierTally[];
    /** Packs written to pack tiers (one per job moved there), the files in them and their stored bytes. */
    packed: { packs: number; files: number; bytes: number };
    /** Pack objects removed: emptied by the move (their members moved out) or strays of an interrupted run. */
    packsRemoved: number;
  };
  /**
   * Packing (S3 tiers with `pack: true`): what the plan puts into packs (one per job; a job with
   * fewer than two small files keeps them as objects of their own), and pack objects that no row
   * names (an interrupted run's: a real run removes them first).
   */
  packs: { planned: number; files: number; bytes: number; strays: number };
  changed: { path: string; jobId: string | null; reason: string }[];
  failed: { path: string; jobId: string | null; reason: string }[];
}

const isLeftover = (t: string | null) => t !== null && t.startsWith('-');
/** Where a row's file will be once what is in flight is finished. */
const eventualTier = (r: TierRow) => (r.tierTarget && !isLeftover(r.tierTarget) ? r.tierTarget : r.tier);

export async function runTransition(ctx: Context, o: TransitionOptions): Promise<TransitionReport> {
  if (o.compress !== undefined) throw new UsageError('--compress is not available yet', 'move without it');
  const tiers = ctx.tiers;
  const known = tiers ? tiers.names() : ['hot'];
  if (o.manual && !known.includes(o.manual.to)) throw new UsageError(`no tier "${o.manual.to}" in the config (tiers: ${known.join(', ')})`, "name it in the config file's tiers section", 'config');
  if (!o.manual && !o.rules.some((r) => r.action === 'transition')) {
    throw new UsageError('no transition rules are enabled', 'add a rule with "action": "transition" to the cleanup section (or enable completed-to-cold), or give JOB_IDs and --to TIER');
  }
  await openAllTiers(ctx);
  if (o.dryRun) return plan(ctx, o, false);
  return withStoreLock(ctx, 'tier', o.waitMs, () => plan(ctx, o, true));
}

async function plan(ctx: Context, o: TransitionOptions, apply: boolean): Promise<TransitionReport> {
  const cat = tierCatalog(ctx.catalog);
  const report: TransitionReport = {
    dryRun: !apply,
    asOf: o.asOf.toISOString(),
    rules: o.manual ? [] : o.rules.filter((r) => r.action === 'transition').map(describeRule),
    to: o.manual?.to ?? null,
    plan: { jobs: 0, files: 0, bytes: 0, byTarget: [], byRule: [] },
    cap: null,
    interrupted: 0,
    unknown: [],
    skipped: [],
    changed: [],
    failed: [],
    packs: { planned: 0, files: 0, bytes: 0, strays: 0 },
    ...(o.list ? { list: [] } : {}),
  };
  const movers = new Movers(ctx, cat, apply, o.list);
  let spool: Spool<PlannedMove> | undefined;
  try {
    // Finish what an interrupted run left in flight: before planning, so the plan sees every file on one tier.
    let recovered = { files: 0, leftovers: 0 };
    const inFlight = await collectInFlight(cat);
    report.interrupted = inFlight.length;
    // Packs no row names: an interrupted run's upload (its rows were never switched to it; their
    // move is done again below, into a new pack) or a pack emptied when a crash came before its removal.
    report.packs.strays = await movers.sweepPacks(report);
    if (apply && inFlight.length) recovered = await movers.recover(inFlight, report);

    // The plan of a real run is spooled to a file, not held: memory does not grow with the moves.
    const planned = apply ? (spool = new Spool<PlannedMove>()) : null;
    let plannedJobs = 0;
    const progress = ctx.progress('planning');
    for await (const move of planMoves(ctx, cat, o, report)) {
      progress.tick();
      planned?.push(move);
      plannedJobs++;
      const bytes = move.files.reduce((a, f) => a + f.size, 0);
      report.plan.jobs++;
      report.plan.files += move.files.length;
      report.plan.bytes += bytes;
      bump(report.plan.byTarget, move.to, move.files.length, bytes);
      const br = report.plan.byRule.find((x) => x.rule === move.rule && x.to === move.to) ?? (report.plan.byRule.push({ rule: move.rule, to: move.to, jobs: 0, files: 0, bytes: 0 }), report.plan.byRule.at(-1)!);
      br.jobs++;
      br.files += move.files.length;
      br.bytes += bytes;
      const packed = movers.splitForPack(move).packed;
      if (packed.length) {
        report.packs.planned++;
        report.packs.files += packed.length;
        report.packs.bytes += packed.reduce((a, f) => a + (f.storedSize ?? f.size), 0);
      }
      if (!apply) for (const f of move.files) report.list?.push({ path: f.path, jobId: f.jobId, rule: move.rule, from: eventualTier(f), to: move.to, bytes: f.size, outcome: 'move' });
    }
    progress.done();
    const presentFiles = o.maxMove?.endsWith('%') ? (await ctx.catalog.counts()).presentFiles : 0;
    if (o.maxMove !== undefined) report.cap = capVerdict('files', report.plan.files, o.maxMove, presentFiles, 'present files', o.maxMoveSource ?? '--max-move', 'move');
    if (!apply) return report;
    guardCap('files', report.plan.files, o.maxMove, presentFiles, 'present files', o.maxMoveSource ?? '--max-move');
    if (plannedJobs && !(await o.confirm(report.plan))) throw new FailedError('cancelled: nothing was moved', undefined, 'cancelled');

    const tally = { jobs: 0, files: 0, bytes: 0, byTarget: [] as TierTally[] };
    const progressMove = ctx.progress('moving', report.plan.files);
    try {
      // Two batches at once: while one switches its rows and removes its sources, the next one's
      // copies keep the (shared) copy slots busy.
      const running = new Set<Promise<void>>();
      let failure: { err: unknown } | undefined;
      for (const batch of batchesOf(planned!.read())) {
        if (failure) break;
        const p: Promise<void> = movers
          .moveBatch(batch, report)
          .then((done) => {
            for (const d of done) {
              tally.jobs++;
              tally.files += d.files.length;
              const bytes = d.files.reduce((a, f) => a + f.size, 0);
              tally.bytes += bytes;
              bump(tally.byTarget, d.to, d.files.length, bytes);
            }
            progressMove.tick(batch.reduce((a, m) => a + m.files.length, 0));
          })
          .catch((err) => void (failure ??= { err }))
          .finally(() => running.delete(p));
        running.add(p);
        if (running.size >= BATCHES_AT_ONCE) await Promise.race(running);
      }
      await Promise.all(running);
      if (failure) throw failure.err;
    } catch (err) {
      throw new FailedError(
        `tier stopped after moving ${tally.files} files (${tally.bytes} bytes): ${errorMessage(err)}`,
        'run it again: it finishes the moves left in flight first (each file stays readable from the tier its row names)',
        'interrupted',
      );
    }
    progressMove.done();
    report.result = { ...tally, recovered: recovered.files, leftoversRemoved: movers.leftoversRemoved, packed: movers.packed, packsRemoved: movers.packsRemoved };
    if (report.list) report.list = movers.moved;
    return report;
  } finally {
    movers.close();
    spool?.dispose();
  }
}

function bump(list: TierTally[], tier: string, files: number, bytes: number): void {
  const t = list.find((x) => x.tier === tier) ?? (list.push({ tier, jobs: 0, files: 0, bytes: 0 }), list.at(-1)!);
  t.jobs++;
  t.files += files;
  t.bytes += bytes;
}

async function collectInFlight(cat: TierCatalog): Promise<TierRow[]> {
  const out: TierRow[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await cat.inFlight(PAGE, after);
    out.push(...page);
    if (page.length < PAGE) return out;
    after = page.at(-1)!.id;
  }
}

/** The jobs to move, in job id order, each with the files not yet on its target tier. */
async function* planMoves(ctx: Context, cat: TierCatalog, o: TransitionOptions, report: TransitionReport): AsyncGenerator<PlannedMove> {
  const pending: { job: JobHead; rule: string; to: string; dueAt: Date | null }[] = [];
  const flush = async function* (): AsyncGenerator<PlannedMove> {
    if (!pending.length) return;
    const rows = await cat.filesOfJobs(pending.map((p) => p.job.id));
    const byJob = new Map<string, TierRow[]>();
    for (const r of rows) byJob.set(r.jobId!, [...(byJob.get(r.jobId!) ?? []), r]);
    for (const p of pending) {
      const files = (byJob.get(p.job.id) ?? []).filter((f) => eventualTier(f) !== p.to);
      if (!files.length) continue;
      yield { jobId: p.job.id, rule: p.rule, to: p.to, dueAt: p.dueAt?.toISOString() ?? null, files };
    }
    pending.length = 0;
  };
  if (o.manual) {
    for await (const job of selectJobs(ctx, o.manual.selection, o.asOf, (id) => report.unknown.push(id))) {
      pending.push({ job, rule: 'manual', to: o.manual.to, dueAt: null });
      if (pending.length >= PAGE) yield* flush();
    }
    yield* flush();
    return;
  }
  const rules = o.rules.filter((r) => r.action === 'transition');
  const statuses = [...new Set(rules.flatMap((r) => r.statuses ?? []))];
  let afterId: string | undefined;
  for (;;) {
    const page = await ctx.catalog.jobPage({ afterId, limit: PAGE, statuses, filesStates: ['on_disk', 'partial'] });
    for (const job of page) {
      const hit = transitionRuleForJob(rules, job, o.asOf);
      if (hit) pending.push({ job, rule: hit.rule.id, to: hit.rule.to!, dueAt: hit.dueAt });
    }
    yield* flush();
    if (page.length < PAGE) return;
    afterId = page.at(-1)!.id;
  }
}

function* batchesOf(moves: Iterable<PlannedMove>): Generator<PlannedMove[]> {
  let batch: PlannedMove[] = [];
  let n = 0;
  for (const m of moves) {
    batch.push(m);
    n += m.files.length;
    if (n >= BATCH_FILES) {
      yield batch;
      batch = [];
      n = 0;
    }
  }
  if (batch.length) yield batch;
}

/** Files up to this size are read whole before they are stored (one request on S3). */
const SMALL_FILE = 4 << 20;

async function readAll(input: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sink = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

/** Carries out moves: the tiers' stores and deletion targets, opened once per run. */
class Movers {
  readonly #targets = new Map<string, DeletionTarget>();
  readonly moved: NonNullable<TransitionReport['list']> = [];
  leftoversRemoved = 0;
  readonly packed = { packs: 0, files: 0, bytes: 0 };
  packsRemoved = 0;
  /** Copies in flight, across batches. */
  readonly copySlots = new Limiter(MOVE_CONCURRENCY);

  constructor(
    readonly ctx: Context,
    readonly cat: TierCatalog,
    readonly apply: boolean,
    /** --list: keep every moved path for the report (otherwise nothing grows with the run). */
    readonly list = false,
  ) {}

  store(tier: string): Promise<BlobStore> {
    return tierStore(this.ctx, tier);
  }

  /** The deletion target of a tier: its gate on a local tree (held open per batch), S3Target on a bucket. */
  async target(tier: string): Promise<DeletionTarget> {
    let t = this.#targets.get(tier);
    if (!t) {
      const store = await this.store(tier);
      t = store.capabilities.kind === 's3' ? new S3Target(store, !this.apply) : new DeleteGate(store.url, !this.apply);
      this.#targets.set(tier, t);
    }
    return t;
  }

  close(): void {
    for (const t of this.#targets.values()) t.close();
    this.#targets.clear();
  }

  /** Finishes an interrupted run: moves in flight are carried out; leftover copies removed. */
  async recover(rows: TierRow[], report: TransitionReport): Promise<{ files: number; leftovers: number }> {
    const leftovers = rows.filter((r) => isLeftover(r.tierTarget));
    // A file deleted (or being deleted) while its move was in flight: only the copy it may have
    // made in the target is left to remove; the deletion took care of the file itself.
    const abandoned = rows.filter((r) => !isLeftover(r.tierTarget) && r.state !== 'present');
    const moving = rows.filter((r) => !isLeftover(r.tierTarget) && r.state === 'present');
    if (leftovers.length) await this.removeLeftovers(leftovers, report);
    const byTarget = new Map<string, TierRow[]>();
    for (const r of abandoned) byTarget.set(r.tierTarget!, [...(byTarget.get(r.tierTarget!) ?? []), r]);
    for (const [to, list] of byTarget) {
      await this.removeCopies(to, list, report);
      await this.cat.clearIntent(list.map((r) => r.id));
    }
    const byJob = new Map<string, TierRow[]>();
    for (const r of moving) byJob.set(`${r.jobId ?? ''}\0${r.tierTarget}`, [...(byJob.get(`${r.jobId ?? ''}\0${r.tierTarget}`) ?? []), r]);
    const moves: PlannedMove[] = [...byJob.values()].map((files) => ({ jobId: files[0]!.jobId ?? '', rule: 'interrupted', to: files[0]!.tierTarget!, dueAt: null, files }));
    let files = leftovers.length + abandoned.length;
    for (const batch of batchesOf(moves)) files += (await this.moveBatch(batch, report, true)).reduce((a, m) => a + m.files.length, 0);
    return { files, leftovers: leftovers.length };
  }

  /**
   * One batch of whole jobs: intent, copies read back, flip of the jobs whose every file was
   * verified, then removal of the copies they left. Returns the moves done.
   */
  async moveBatch(batch: PlannedMove[], report: TransitionReport, resumed = false): Promise<PlannedMove[]> {
    const ctx = this.ctx;
    // 1. intent (a resumed move has it already)
    let moves = batch;
    if (!resumed) {
      const byTo = new Map<string, number[]>();
      for (const m of batch) byTo.set(m.to, [...(byTo.get(m.to) ?? []), ...m.files.map((f) => f.id)]);
      const recorded = new Set<number>();
      for (const [to, ids] of byTo) for (const id of await this.cat.recordIntent(ids, to)) recorded.add(id);
      moves = [];
      for (const m of batch) {
        if (m.files.every((f) => recorded.has(f.id))) {
          moves.push(m);
          continue;
        }
        // Whole jobs: a file that changed since planning keeps the job where it is.
        const kept = m.files.filter((f) => recorded.has(f.id)).map((f) => f.id);
        if (kept.length) await this.cat.clearIntent(kept);
        report.changed.push({ path: '', jobId: m.jobId, reason: 'a file of the job changed since planning (deleted, or moved by another run): the job was not moved' });
      }
    }
    await pausePoint('tier.intent');
    // 2-3. copy, read back: a file of its own one by one; a job's small files into one pack
    // when the target packs (one upload, read back whole, every member checked in it).
    const work: { m: PlannedMove; files: TierRow[]; packed: boolean }[] = [];
    for (const m of moves) {
      const split = this.splitForPack(m);
      if (split.packed.length) work.push({ m, files: split.packed, packed: true });
      for (const f of split.loose) work.push({ m, files: [f], packed: false });
    }
    const seen = new Map<number, Expected | null>();
    const inPack = new Map<number, { pack: string; offset: number }>();
    const packsMade = new Map<string, string>();
    const verdicts = await Promise.all(
      work.map(({ m, files, packed }) =>
        this.copySlots.run(async () => {
          try {
            if (!packed) {
              seen.set(files[0]!.id, await this.copyOne(files[0]!, m.to));
              return null;
            }
            const made = await this.packOne(m, files, report);
            packsMade.set(made.key, m.to);
            for (const f of files) {
              inPack.set(f.id, { pack: made.key, offset: made.offsets.get(f.id)! });
              seen.set(f.id, made.seen.get(f.id) ?? null);
            }
            return null;
          } catch (err) {
            return errorMessage(err);
          }
        }),
      ),
    );
    const failedJobs = new Set<PlannedMove>();
    work.forEach(({ m, files }, i) => {
      if (verdicts[i] === null) return;
      failedJobs.add(m);
      for (const f of files) report.failed.push({ path: f.path, jobId: f.jobId, reason: verdicts[i]! });
    });
    await pausePoint('tier.copied');
    for (const m of failedJobs) {
      // Nothing of the job flips; the copies it made in the target are strays: removed, intent cleared.
      await this.removeCopies(m.to, m.files.filter((f) => !inPack.has(f.id)), report);
      for (const f of m.files) {
        const p = inPack.get(f.id);
        if (p && packsMade.has(p.pack)) {
          await this.removePack(m.to, p.pack, report);
          packsMade.delete(p.pack);
        }
      }
      await this.cat.clearIntent(m.files.map((f) => f.id));
    }
    const good = moves.filter((m) => !failedJobs.has(m));
    // 4. flip
    const at = ctx.clock();
    const flips: TierFlip[] = [];
    const events: EventRecord[] = [];
    for (const m of good) {
      for (const f of m.files) {
        const p = inPack.get(f.id);
        flips.push({ id: f.id, from: f.tier, to: m.to, encoding: f.encoding, storedSize: f.storedSize, pack: p?.pack ?? null, packOffset: p?.offset ?? null });
        events.push({ runId: ctx.runId, at, action: 'tier_move', path: f.path, jobId: f.jobId, bytes: f.size, reason: `${f.tier} -> ${m.to} (${m.rule === 'manual' ? 'by hand' : `rule ${m.rule}`})` });
      }
    }
    const flipped = new Set(await this.cat.flip(flips, events));
    await pausePoint('tier.flipped');
    const done: PlannedMove[] = [];
    const leftovers: TierRow[] = [];
    for (const m of good) {
      const ok = m.files.filter((f) => flipped.has(f.id));
      const lost = m.files.filter((f) => !flipped.has(f.id));
      for (const f of lost) report.changed.push({ path: f.path, jobId: f.jobId, reason: 'the row changed before its tier was switched: left where it was' });
      if (lost.length) {
        await this.removeCopies(m.to, lost.filter((f) => !inPack.has(f.id)), report);
        await this.cat.clearIntent(lost.map((f) => f.id));
      }
      for (const f of ok) {
        leftovers.push({ ...f, tierTarget: `-${f.tier}`, tier: m.to });
        if (this.list) this.moved.push({ path: f.path, jobId: f.jobId, rule: m.rule, from: f.tier, to: m.to, bytes: f.size, outcome: 'moved' });
      }
      if (ok.length) done.push({ ...m, files: ok });
    }
    // 5. the copies left in the tiers moved from
    await this.removeLeftovers(leftovers, report, seen);
    // A pack whose members all moved out (or one made here that no row was switched to) has no
    // row left: removed through the tier's gate.
    const emptied = new Map<string, Set<string>>();
    for (const f of leftovers) if (this.sourcePack.has(f.id)) add(emptied, f.tierTarget!.slice(1), this.sourcePack.get(f.id)!);
    for (const m of batch) for (const f of m.files) this.sourcePack.delete(f.id);
    for (const [key, tier] of packsMade) add(emptied, tier, key);
    for (const [tier, keys] of emptied) await this.dropUnreferenced(tier, [...keys], report);
    for (const m of good) {
      const made = new Set(m.files.map((f) => inPack.get(f.id)?.pack).filter((k): k is string => k !== undefined));
      for (const key of made) {
        const members = m.files.filter((f) => inPack.get(f.id)?.pack === key && flipped.has(f.id));
        if (!members.length) continue;
        this.packed.packs++;
        this.packed.files += members.length;
        this.packed.bytes += members.reduce((a, f) => a + (f.storedSize ?? f.size), 0);
      }
    }
    return done;
  }

  /** Which of a move's files go into a pack: the small ones, when the target packs and there are two or more. */
  splitForPack(m: PlannedMove): { packed: TierRow[]; loose: TierRow[] } {
    const place = this.ctx.tiers?.place(m.to);
    if (!place?.pack) return { packed: [], loose: m.files };
    const limit = place.packThreshold ?? PACK_THRESHOLD;
    const packed: TierRow[] = [];
    const loose: TierRow[] = [];
    let bytes = 0;
    for (const f of m.files) {
      const stored = f.storedSize ?? f.size;
      if (stored <= limit && bytes + stored <= PACK_MAX_BYTES) {
        packed.push(f);
        bytes += stored;
      } else loose.push(f);
    }
    if (packed.length < 2) return { packed: [], loose: m.files };
    return { packed, loose };
  }

  /**
   * One pack of a job's small files: each file's stored bytes read from its tier (a file of its
   * own there is looked at first, as copyOne does), the pack uploaded whole (its SHA-256 sent,
   * so the server checks it), read back whole: the pack's SHA-256 must be the one built, and
   * every member decoded from its slice must give the row's size and SHA-256. A pack that fails
   * is removed again. Returns the key, each member's offset, and what each source looked like.
   */
  async packOne(m: PlannedMove, files: TierRow[], report: TransitionReport): Promise<{ key: string; offsets: Map<number, number>; seen: Map<number, Expected | null> }> {
    const seen = new Map<number, Expected | null>();
    const members: PackMember[] = [];
    for (const f of files) {
      const stored = f.storedSize ?? f.size;
      if (f.pack) {
        // From another pack: nothing of its own to look at (the slice is checked by its hash below).
        seen.set(f.id, null);
        this.sourcePack.set(f.id, f.pack);
      } else {
        const [before] = await (await this.target(f.tier)).look([f.path]);
        if (!before || before.kind !== 'file') throw new Error(`not readable in tier ${f.tier}: ${before?.kind === 'gone' ? 'missing' : before && 'reason' in before ? before.reason : before?.kind}`);
        if (before.size !== stored) throw new Error(`${f.path}: ${before.size} bytes in tier ${f.tier}, the catalog records ${stored}`);
        seen.set(f.id, { size: before.size, mtimeMs: before.mtimeMs, ...(before.identity ? { identity: before.identity } : {}) });
      }
      const bytes = await readAll(await openStored(this.ctx, f));
      if (bytes.length !== stored) throw new Error(`${f.path}: read ${bytes.length} stored bytes from tier ${f.tier}, the catalog records ${stored}`);
      members.push({ path: f.path, stored: bytes, size: f.size, sha256: f.sha256, encoding: f.encoding });
    }
    const built = buildPack(m.jobId, members);
    const key = packKey(m.jobId, `${this.ctx.runId}\0${files.map((f) => f.id).join(',')}`);
    const dest = await this.store(m.to);
    const put = await dest.put(key, built.body, { sha256: built.sha256, contentType: 'application/octet-stream', storageClass: this.ctx.tiers?.place(m.to)?.storageClass, noHeadAfter: true });
    try {
      if (put.size !== built.body.length) throw new Error(`pack ${key} in tier ${m.to} holds ${put.size} bytes, not ${built.body.length}`);
      await pausePoint('tier.packed');
      const back = await readAll(await dest.get(key));
      if (sha256(back) !== built.sha256) throw new Error(`pack ${key} read back from tier ${m.to}: not the bytes uploaded`);
      for (const [i, e] of built.entries.entries()) {
        const f = files[i]!;
        const tap = hashingTap();
        await pipeline(decodeStored({ path: f.path, encoding: f.encoding }, ReadableStream.from([back.subarray(e.offset, e.offset + e.length)])), tap.tap, sink());
        if (tap.bytes() !== f.size || tap.digest() !== f.sha256) throw new Error(`${f.path} read back from pack ${key} in tier ${m.to}: ${tap.bytes()} bytes, SHA-256 ${tap.digest()}; the catalog records ${f.size} bytes, ${f.sha256}`);
      }
    } catch (err) {
      await this.removePack(m.to, key, report).catch(() => {});
      throw err;
    }
    return { key, offsets: new Map(built.entries.map((e, i) => [files[i]!.id, e.offset])), seen };
  }

  /** The pack a moved file was in before its move (its row names the new place after the flip). */
  readonly sourcePack = new Map<number, string>();

  /** Removes one pack object through its tier's gate (re-checked against what is there now). */
  async removePack(tier: string, key: string, report: TransitionReport): Promise<boolean> {
    const t = await this.target(tier);
    const [st] = await t.look([key]);
    const [r] = await this.removeThrough(t, [{ path: key, jobId: null, expect: expectOf(st!) }], report);
    if (r?.ok && st!.kind === 'file') this.packsRemoved++;
    return r?.ok ?? false;
  }

  /** Removes those of these packs of `tier` that no live row names any more. */
  async dropUnreferenced(tier: string, keys: string[], report: TransitionReport): Promise<void> {
    if (!keys.length) return;
    const named = await this.cat.packsReferenced(tier, keys);
    for (const key of keys) if (!named.has(key)) await this.removePack(tier, key, report);
  }

  /**
   * Every pack object of every S3 tier that no live row names: counted, and (a real run)
   * removed. Runs under the store lock before anything else: no pack of this run exists yet.
   */
  async sweepPacks(report: TransitionReport): Promise<number> {
    let strays = 0;
    for (const tier of this.ctx.tiers?.names() ?? []) {
      if (tier === 'hot') continue;
      const store = await this.store(tier);
      if (store.capabilities.kind !== 's3') continue;
      for await (const page of store.list({ prefix: PACKS_PREFIX })) {
        const keys = page.filter((e) => e.kind === 'file').map((e) => e.key);
        const named = await this.cat.packsReferenced(tier, keys);
        for (const key of keys) {
          if (named.has(key)) continue;
          strays++;
          if (this.apply) await this.removePack(tier, key, report);
        }
      }
    }
    return strays;
  }

  /**
   * Copies one file's stored bytes to `to` and reads the copy back there: its size must be the
   * stored size and its original bytes the row's size and SHA-256. Returns what the source
   * looked like before the copy (the removal of the source re-checks against it).
   */
  async copyOne(f: TierRow, to: string): Promise<Expected | null> {
    const ctx = this.ctx;
    const src = await this.target(f.tier);
    if (f.pack) this.sourcePack.set(f.id, f.pack);
    // A packed file has no object of its own to look at: its slice of the pack is read and checked below.
    const [before] = f.pack ? [{ kind: 'file' as const, size: f.storedSize ?? f.size, mtimeMs: 0 }] : await src.look([f.path]);
    if (!before || before.kind !== 'file') {
      throw new Error(`not readable in tier ${f.tier}: ${before?.kind === 'gone' ? 'missing' : before && 'reason' in before ? before.reason : before?.kind}`);
    }
    const stored = f.storedSize ?? f.size;
    if (before.size !== stored) throw new Error(`${before.size} bytes in tier ${f.tier}, the catalog records ${stored}`);
    const dest = await this.store(to);
    const place = ctx.tiers?.place(to);
    // Here `tier --compress` will encode the bytes (and record encoding and stored size) before they are stored.
    const input = await openStored(ctx, f);
    // A small file goes up as one buffer: one PUT on S3, without the HEAD after it (it is read back below).
    const body = stored <= SMALL_FILE ? await readAll(input) : input;
    const put = await dest.put(f.path, body, { sha256: f.encoding === null ? f.sha256 : undefined, contentType: f.contentType, storageClass: place?.storageClass, noHeadAfter: true });
    if (put.size !== stored) throw new Error(`copy in tier ${to} holds ${put.size} bytes, not ${stored}`);
    const got = await streamContent(ctx, { ...f, tier: to, pack: null, packOffset: null }, sink());
    if (!got.ok) throw new Error(`read back from tier ${to}: ${got.size} bytes, SHA-256 ${got.sha256}; the catalog records ${f.size} bytes, ${f.sha256}`);
    if (f.pack) return null;
    return { size: before.size, mtimeMs: before.mtimeMs, ...(before.identity ? { identity: before.identity } : {}) };
  }

  /** Removes the copies a failed or abandoned move made in `tier` (they were never the file). */
  async removeCopies(tier: string, files: TierRow[], report: TransitionReport): Promise<void> {
    const t = await this.target(tier);
    const states = await t.look(files.map((f) => f.path));
    await this.removeThrough(t, files.map((f, i) => ({ path: f.path, jobId: f.jobId, expect: expectOf(states[i]!) })), report);
  }

  /**
   * Removes the copies left in the tiers the files were moved from (tier_target '-FROM'), then
   * clears their intent. `seen` holds what each source looked like before its copy (a copy that
   * changed since is kept and reported); a resumed leftover is re-looked at now.
   */
  async removeLeftovers(rows: TierRow[], report: TransitionReport, seen?: Map<number, Expected | null>): Promise<void> {
    const byTier = new Map<string, TierRow[]>();
    for (const r of rows) {
      const from = r.tierTarget!.slice(1);
      byTier.set(from, [...(byTier.get(from) ?? []), r]);
    }
    for (const [from, list] of byTier) {
      const t = await this.target(from);
      const looked = seen ? [] : await t.look(list.map((r) => r.path));
      const removed = await this.removeThrough(
        t,
        list.map((r, i) => ({ path: r.path, jobId: r.jobId, expect: seen ? (seen.get(r.id) ?? null) : expectOf(looked[i]!) })),
        report,
      );
      this.leftoversRemoved += removed.filter((x) => x.ok).length;
      // A leftover that could not be removed keeps its intent: the next run tries again.
      const cleared = list.filter((_, i) => removed[i]!.ok).map((r) => r.id);
      await this.cat.clearIntent(cleared);
    }
  }

  /** Re-check and remove through the tier's deletion gate; one verdict per file. */
  async removeThrough(t: DeletionTarget, work: { path: string; jobId: string | null; expect: Expected | null }[], report: TransitionReport): Promise<{ ok: boolean }[]> {
    if (!work.length) return [];
    const todo = work.filter((w) => w.expect !== null);
    const out = new Map<string, boolean>();
    for (const w of work) if (w.expect === null) out.set(w.path, true);
    if (todo.length) {
      const held = t.batch();
      try {
        const removed = await held.removePlanned(todo.map((w) => ({ path: w.path, expect: w.expect })), new Limiter(MOVE_CONCURRENCY));
        removed.results.forEach((r, i) => {
          const w = todo[i]!;
          if (r.outcome === 'deleted' || r.outcome === 'gone' || r.outcome === 'moved') out.set(w.path, true);
          else {
            out.set(w.path, false);
            (r.outcome === 'changed' ? report.changed : report.failed).push({ path: w.path, jobId: w.jobId, reason: `copy in ${t.root} kept: ${'reason' in r ? r.reason : r.outcome}` });
          }
        });
        await held.pruneEmptied(removed.dirsRemoved, MOVE_CONCURRENCY);
      } finally {
        held.close();
      }
    }
    return work.map((w) => ({ ok: out.get(w.path) ?? false }));
  }
}

function add(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k) ?? new Set<string>();
  s.add(v);
  m.set(k, s);
}

/** A pack is built in memory: the most stored bytes one holds (the rest of the job's files stay objects of their own). */
const PACK_MAX_BYTES = 256 << 20;

function expectOf(s: DiskState): Expected | null {
  if (s.kind === 'gone') return null;
  if (s.kind !== 'file') throw new FailedError(`cannot remove a copy: ${'reason' in s ? s.reason : `not a regular file (${s.kind})`}`);
  return { size: s.size, mtimeMs: s.mtimeMs, ...(s.identity ? { identity: s.identity } : {}) };
}
