import Table from 'cli-table3';
import { visible } from '../visible.ts';

/** A plain table: borders only on a TTY, so piped output stays easy to grep and cut. */
export function renderTable(head: string[], rows: (string | number)[][], opts: { tty: boolean; title?: string }): string {
  const table = new Table({
    head,
    style: { head: opts.tty ? ['bold'] : [], border: [], compact: true },
    chars: opts.tty
      ? undefined
      : {
          top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
          bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
          left: '', 'left-mid': '', mid: '', 'mid-mid': '',
          right: '', 'right-mid': '', middle: '  ',
        },
  });
  for (const r of rows) table.push(r.map((c) => visible(String(c))));
  const body = opts.tty ? table.toString() : table.toString().split('\n').map((l) => l.trimEnd().replace(/^ /, '')).join('\n');
  return (opts.title ? `${opts.title}\n` : '') + body + '\n';
}

/** Key/value lines, aligned. */
export function renderPairs(pairs: [string, string | number][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${visible(String(v))}`).join('\n') + '\n';
}
