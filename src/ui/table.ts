import Table from 'cli-table3';
import { formatCount } from '../format.ts';
import { visible } from '../visible.ts';

let boldHeads = true;
/**
 * Whether table heads may be bold on a TTY: the Ui sets it from its one colour decision
 * (--no-color, NO_COLOR, --json), so NO_COLOR and --no-color give the same tables.
 */
export function setTableColour(on: boolean): void {
  boldHeads = on;
}

/** A count, a size ("4.21 MiB"), a percentage or a dash: right-aligned in its column. */
const NUMERIC = /^(?:-|-?[\d,]+(?:\.\d+)?(?: ?(?:[KMGTPE]i?)?B)?%?)$/;

/**
 * A plain table: borders only on a TTY, so piped output stays easy to grep and cut. Numbers are
 * written with thousands separators, and a column of numbers and sizes is right-aligned,
 * its head too.
 */
export function renderTable(head: string[], rows: (string | number)[][], opts: { tty: boolean; title?: string }): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatCount(c) : visible(String(c)))));
  const numeric = head.map((_, i) => cells.some((r) => r[i] !== undefined && r[i] !== '-') && cells.every((r) => r[i] === undefined || NUMERIC.test(r[i]!)));
  const align = (i: number) => (numeric[i] ? 'right' : 'left') as 'right' | 'left';
  const table = new Table({
    head: head.map((h, i) => ({ content: h, hAlign: align(i) })) as unknown as string[],
    style: { head: opts.tty && boldHeads ? ['bold'] : [], border: [], compact: true },
    chars: opts.tty
      ? undefined
      : {
          top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
          bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
          left: '', 'left-mid': '', mid: '', 'mid-mid': '',
          right: '', 'right-mid': '', middle: '  ',
        },
  });
  for (const r of cells) table.push(r.map((c, i) => (numeric[i] ? { content: c, hAlign: 'right' as const } : c)));
  const body = opts.tty ? table.toString() : table.toString().split('\n').map((l) => l.trimEnd().replace(/^ /, '')).join('\n');
  return (opts.title ? `${opts.title}\n` : '') + body + '\n';
}

/** Key/value lines, aligned. */
export function renderPairs(pairs: [string, string | number][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${visible(String(v))}`).join('\n') + '\n';
}
