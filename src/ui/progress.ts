import { formatBytes, formatDuration } from './format.ts';
import type { IO } from './io.ts';

export { noProgress, type Progress, type ProgressFactory } from '../progress.ts';
import type { ProgressFactory } from '../progress.ts';

/**
 * A bar on stderr, redrawn at most 10 times a second; only used when stderr is a TTY. A line
 * never reaches the terminal's last column (a wrapped line would stack up with every redraw):
 * the bar gives way first, then the label is shortened in the middle.
 */
export function ttyProgress(io: IO): ProgressFactory {
  return (label, initialTotal) => {
    let total = initialTotal;
    let count = 0;
    let bytes = 0;
    let last = 0;
    const started = Date.now();
    const draw = (final = false) => {
      const now = Date.now();
      if (!final && now - last < 100) return;
      last = now;
      const columns = Math.max(20, io.stderr.columns || 80);
      const seconds = Math.max(0.001, (now - started) / 1000);
      const rate = count / seconds;
      const volume = bytes > 0 ? ` ${formatBytes(bytes)} ${formatBytes(bytes / seconds)}/s` : '';
      let tail: string;
      let bar = (_w: number) => '';
      if (total && total > 0) {
        const f = Math.min(1, count / total);
        const eta = !final && count > 0 && count < total ? ` eta ${formatDuration(((total - count) / rate) * 1000)}` : '';
        tail = ` ${count}/${total} ${Math.round(rate)}/s${volume}${eta}`;
        bar = (w) => {
          const fill = Math.round(f * w);
          return ` [${'#'.repeat(fill)}${'-'.repeat(w - fill)}]`;
        };
      } else {
        tail = ` ${count} ${Math.round(rate)}/s${volume}`;
      }
      const room = columns - 1 - tail.length;
      const width = Math.min(40, room - label.length - 3);
      const name = fitLabel(label, width >= 10 ? label.length : room);
      // A terminal too narrow even for the counts: cut at the edge rather than wrap.
      const line = `${name}${width >= 10 ? bar(width) : ''}${tail}`.slice(0, columns - 1);
      io.stderr.write(`\r\x1b[2K${line}`);
    };
    return {
      tick(n = 1, b = 0) {
        count += n;
        bytes += b;
        draw();
      },
      done() {
        draw(true);
        io.stderr.write('\n');
      },
      setTotal(n) {
        total = n;
      },
    };
  };
}

/** The label in at most `room` characters, shortened in the middle (a long path keeps both ends). */
export function fitLabel(label: string, room: number): string {
  if (label.length <= room) return label;
  if (room <= 1) return '';
  const keep = room - 1;
  const head = Math.ceil(keep / 2);
  return `${label.slice(0, head)}…${label.slice(label.length - (keep - head))}`;
}
