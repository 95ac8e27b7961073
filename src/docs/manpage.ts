import { EXIT_CODES } from '../errors.ts';
import type { OptionDoc, ProgramDoc } from './model.ts';

/** Fixed, so regenerating the page without changes gives the same bytes. */
export const MAN_DATE = '2026-11-22';

/** Escapes text for roff: backslashes, hyphens in flags, and lines starting with . or '. */
export function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`)
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function optionItem(o: OptionDoc): string {
  const flags = o.flags.replace(/-/g, '\\-').replace(/<([^>]+)>/g, (_m, v: string) => `\\fI${v}\\fR`);
  const def = o.defaultValue !== undefined && o.defaultValue !== false && o.defaultValue !== true ? ` (default: ${roff(String(o.defaultValue))})` : '';
  return `.TP\n.B ${flags}\n${roff(o.description)}${def}\n`;
}

const ENVIRONMENT: [string, string][] = [
  ['STORECTL_ROOT', 'Store root directory, when --root is not given.'],
  ['STORECTL_DATABASE_URL', 'Catalog URL, when --database is not given (postgres://... or sqlite:PATH).'],
  ['DATABASE_URL', 'Catalog URL, when neither --database nor STORECTL_DATABASE_URL is set.'],
  ['STORECTL_CONFIG', 'Config file, when --config is not given.'],
  ['STORECTL_LOG_FILE', 'JSON-lines log file, when --log-file is not given.'],
  ['NO_COLOR', 'When set (to anything), no colours.'],
  ['STORECTL_PROFILE', 'A file each run appends one JSON line to: its wall time and the busy time of each phase (cleanup-expired: plan, intent, unlink, tombstones and events, rmdir). Off when unset.'],
  ['UV_THREADPOOL_SIZE', 'Size of the libuv thread pool that file reads, writes and fsyncs queue on; storectl sets 16 before node starts it unless this is set. The deletion engine\'s lstats, unlinks and rmdirs use 8 threads of their own.'],
];

export function manPage(p: ProgramDoc): string {
  const out: string[] = [];
  out.push(`.\\" storectl(1): generated from the command tree by scripts/gen-docs.ts; do not edit.`);
  out.push(`.TH STORECTL 1 "${MAN_DATE}" "storectl ${p.version}" "User Commands"`);
  out.push('.SH NAME', `storectl \\- ${roff(p.description.replace(/\.$/, ''))}`);
  out.push('.SH SYNOPSIS', '.B storectl', '[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]');
  out.push(
    '.SH DESCRIPTION',
    roff(
      'storectl administers a hybrid store: artifact files (card images and PDFs, exports, temp files) live in a dated tree on disk under the root, and their metadata (path, size, SHA-256, owner, job status, timestamps, deletion tombstones) lives in a SQL catalog: SQLite inside the store by default, PostgreSQL when the database URL says postgres://.',
    ),
    '.PP',
    roff(
      'Results go to standard output (a table, or one JSON document with --json, failures included); logs and progress go to standard error. Progress bars and prompts appear only on a terminal. Destructive commands ask for confirmation on a terminal unless --yes is given, and without a terminal they refuse to run without --yes.',
    ),
  );
  out.push('.SH GLOBAL OPTIONS');
  for (const o of p.globals) out.push(optionItem(o).trimEnd());
  out.push('.SH COMMANDS');
  for (const c of p.commands) {
    out.push(`.SS ${roff(`storectl ${c.name} ${c.usage}`.trim())}`, roff(c.description));
    if (c.options.length) {
      out.push('.RS');
      for (const o of c.options) out.push(optionItem(o).trimEnd());
      out.push('.RE');
    }
    if (c.examples.length) {
      out.push('.PP', 'Examples:', '.RS', '.nf');
      for (const e of c.examples) out.push(roff(`$ ${e}`));
      out.push('.fi', '.RE');
    }
  }
  out.push(
    '.SH FILES',
    '.TP',
    '.I ./storage',
    'The default store root.',
    '.TP',
    '.I <root>/cards/YYYY/MM/DD/<job_id>/',
    roff('Card artifacts: front.png, back.png, front.pdf, back.pdf, combined.pdf. Exports live under <root>/exports/, temp files under <root>/temp/. Directories are created 0750, files 0600.'),
    '.TP',
    '.I <root>/.storectl/catalog.db',
    roff('The embedded SQLite catalog. <root>/.storectl/ is reserved (catalog, locks, staging) and never treated as data.'),
    '.TP',
    '.I ./storectl.config.json',
    roff('Config file read when present (or named by --config). Keys: root, database, logFile, s3, generate, cleanup, backup, migrateImages, url; every section is checked before any command runs, and an unknown or ill-typed key is an error (exit 2).'),
  );
  out.push('.SH ENVIRONMENT');
  for (const [k, v] of ENVIRONMENT) out.push('.TP', `.B ${k}`, roff(v));
  out.push(roff('Precedence: flags, then environment, then the config file, then defaults.'));
  out.push('.SH EXIT STATUS');
  for (const e of EXIT_CODES) out.push('.TP', `.B ${e.code}`, roff(e.meaning));
  out.push(
    '.SH EXAMPLES',
    '.nf',
    roff('$ storectl generate --sample 200 && storectl stats'),
    roff('$ storectl --database postgres://storectl@db/storectl migrate'),
    roff('$ storectl stats --json | jq .usage'),
    '.fi',
    '.SH SEE ALSO',
    '.BR find (1),',
    '.BR tar (1),',
    '.BR sha256sum (1)',
  );
  return out.join('\n') + '\n';
}
