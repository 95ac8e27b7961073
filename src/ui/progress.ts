import { formatDuration } from './format.ts';
import type { IO } from './io.ts';

export { noProgress, type Progress, type ProgressFactory } from '../progress.ts';
import type { ProgressFactory } from '../progress.ts';

/** A bar on stderr, redrawn at most 10 times a second; only used when stderr is a TTY. */
export function ttyProgress(io: IO): ProgressFactory {
  return (label, total) => {
    let count = 0;
    let last = 0;
    const started = Date.now();
    const draw = (final = false) => {
      const now = Date.now();
      if (!final && now - last < 100) return;
      last = now;
      const width = Math.max(10, Math.min(40, (io.stderr.columns ?? 80) - label.length - 40));
      const rate = count / Math.max(0.001, (now - started) / 1000);
      let line: string;
      if (total && total > 0) {
        const f = Math.min(1, count / total);
        const fill = Math.round(f * width);
        const eta = !final && count > 0 && count < total ? ` eta ${formatDuration(((total - count) / rate) * 1000)}` : '';
        line = `${label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${count}/${total} ${Math.round(rate)}/s${eta}`;
      } else {
        line = `${label} ${count} ${Math.round(rate)}/s`;
      }
      io.stderr.write(`\r\x1b[2K${line}`);
    };
    return {
      tick(n = 1) {
        count += n;
        draw();
      },
      done() {
        draw(true);
        io.stderr.write('\n');
      },
    };
  };
}
