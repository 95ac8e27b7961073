import { Writable } from 'node:stream';
import { defineCommand } from './define.ts';
import { intOption, kebab, num, text } from './common-options.ts';
import { EXIT, UsageError } from '../errors.ts';
import type { FileTarget } from '../ops/access/resolve.ts';
import type { IO } from '../ui/io.ts';
import { formatBytes } from '../ui/format.ts';

/** What `get` is asked: a file (by job and role, or path) or an image in the database, and where to write it. */
export interface GetOptions {
  /** -o FILE, '-' or absent: stdout. */
  output?: string;
  target?: FileTarget;
  image?: { key: string; table?: string; keyColumn?: string; dataColumn?: string; pathColumn?: string; index: number };
}

export default defineCommand({
  name: 'get',
  summary: "Write a job's file (or an image moved into the database) out, checked against its SHA-256",
  description:
    "Stream the bytes of JOB_ID's file ROLE (or of --path PATH) to -o FILE, or to stdout with -o - or when stdout is not a terminal (binary is never written to a terminal). With -o FILE the bytes go to a temp file beside it, are checked against the catalog's size and SHA-256, and are renamed into place only when they match: on a mismatch nothing is left at FILE and the exit status is 4. To stdout they are hashed while streaming: a mismatch exits 4 with a line on stderr (the bytes are out, but the caller is told). No such job, or a job that never had that file: exit 5 (not_found, HTTP 404). A file that was deleted: exit 6 (gone, HTTP 410), saying when, why and by which rule or command. --image KEY reads an image migrate-images-to-db moved into the database: store mode by store path (or original path) from the images table; table mode with --table/--key and --data-column (the row's column; --index for a bytea[] element) or --path-column (the images table). Works on a local and an S3 store (the object streamed as it arrives, checked the same way).",
  args: '[job_id] [role]',
  examples: [
    'storectl get card-20261120-1a2b3c4d front.png -o front.png',
    'storectl get card-20261120-1a2b3c4d combined.pdf | lpr',
    'storectl get --path cards/2026/11/20/card-20261120-1a2b3c4d/back.png -o back.png',
    'storectl get --image cards/2026/11/20/card-20261120-1a2b3c4d/front.png -o front.webp',
    'storectl get --image 42 --table users --key id --data-column avatar_webp -o 42.webp',
  ],
  options: (cmd) =>
    cmd
      .option('-o, --output <file>', "write to FILE ('-' for stdout); renamed into place only when the SHA-256 matches")
      .option('--path <path>', 'the file by its store path instead of JOB_ID ROLE')
      .option('--image <key>', 'read an image migrate-images-to-db stored in the database (store path, or the row key with --table)')
      .option('--table <name>', 'with --image: table mode, the table migrate-images-to-db read')
      .option('--key <column>', 'with --image --table: the key column (default id)')
      .option('--data-column <column>', 'with --image --table: the column holding the WebP bytes')
      .option('--path-column <column>', 'with --image --table and no --data-column: the path column (images table source TABLE.COLUMN)')
      .option('--index <n>', 'with --image: the element of a path array (default 0)', intOption(0)),
  parse(args, raw): GetOptions {
    const output = text(raw, 'output');
    const image = text(raw, 'image');
    if (image !== undefined) {
      if (args.length || raw.path !== undefined) throw new UsageError('--image takes no JOB_ID, ROLE or --path');
      return {
        output,
        image: { key: image, table: text(raw, 'table'), keyColumn: text(raw, 'key'), dataColumn: text(raw, 'dataColumn'), pathColumn: text(raw, 'pathColumn'), index: num(raw, 'index') ?? 0 },
      };
    }
    for (const o of ['table', 'key', 'dataColumn', 'pathColumn', 'index'] as const) {
      if (raw[o] !== undefined) throw new UsageError(`--${kebab(o)} goes with --image`);
    }
    return { output, target: fileTarget(args, text(raw, 'path')) };
  },
  async run(opts, env) {
    const io = env.ui.io;
    const out = opts.output;
    const toStdout = out === undefined || out === '-';
    if (opts.image !== undefined) {
      if (toStdout && io.stdout.isTTY) throw new UsageError('refusing to write image bytes to a terminal', 'pass -o FILE, or pipe the output');
      const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
      const { readImage, writeImageFile } = await import('../ops/access/get.ts');
      const img = await readImage(ctx, opts.image);
      const { data, ...meta } = img;
      if (toStdout) await writeAll(io, data);
      else writeImageFile(out!, data);
      const report = { image: { ...meta, output: toStdout ? '-' : out! } };
      return {
        report,
        text: () => (toStdout ? '' : `${out}: ${meta.format} ${formatBytes(meta.bytes)} from ${meta.source} ${meta.key}, sha256 ${meta.sha256}\n`),
        json: toStdout ? () => '' : undefined,
      };
    }
    const target = opts.target!;
    const ctx = await env.openContext({ createRoot: false, createCatalog: false, s3: true });
    const { findForGet, getToFile, getToStream } = await import('../ops/access/get.ts');
    const row = await findForGet(ctx, target);
    if (!toStdout) {
      const report = await getToFile(ctx, row, out!);
      return { report, text: () => `${out}: ${formatBytes(report.size)}, sha256 ${report.sha256} (matches the catalog)\n` };
    }
    if (io.stdout.isTTY && !/^text\/|^application\/(json|csv)/.test(row.contentType)) {
      throw new UsageError(`refusing to write ${row.contentType} bytes to a terminal`, 'pass -o FILE, or pipe the output');
    }
    const { report, mismatch } = await getToStream(ctx, row, byteSink(io));
    if (mismatch) env.ui.log.error(`integrity: ${mismatch}; the bytes written to stdout are not the catalog's`);
    return { report, text: () => '', json: () => '', exitCode: mismatch ? EXIT.INTEGRITY : EXIT.OK };
  },
});

function fileTarget(args: string[], path: string | undefined): FileTarget {
  if (path !== undefined) {
    if (args.length) throw new UsageError('give either JOB_ID ROLE or --path PATH, not both');
    return { path };
  }
  if (args.length !== 2) throw new UsageError('get needs JOB_ID and ROLE (or --path PATH, or --image KEY)', 'storectl show JOB_ID lists its roles');
  return { jobId: args[0]!, role: args[1]! };
}

/** stdout as a byte stream: the process's own, or the IO's write (tests). */
function byteSink(io: IO): Writable {
  if (io.stdoutStream) return io.stdoutStream as Writable;
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      io.stdout.write(chunk as unknown as string);
      cb();
    },
  });
}

function writeAll(io: IO, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => byteSink(io).write(data, (err) => (err ? reject(err) : resolve())));
}
