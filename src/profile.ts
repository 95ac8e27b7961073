// Where a run's time goes, by phase: off unless STORECTL_PROFILE names a file, which then gets
// one JSON object per run (the bench reads it). Phases of a pipelined run overlap, so each
// phase's figure is its busy time (the sum of its calls' durations), beside the run's wall time.

interface Phase {
  ms: number;
  calls: number;
  items: number;
}

const target = process.env.STORECTL_PROFILE || undefined;
const phases = new Map<string, Phase>();
const started = performance.now();

/** Starts timing one call of `phase`; the returned function ends it (items: files it handled). */
export function phaseTimer(phase: string): (items?: number) => void {
  if (!target) return () => {};
  const t0 = performance.now();
  return (items = 0) => {
    const p = phases.get(phase) ?? { ms: 0, calls: 0, items: 0 };
    p.ms += performance.now() - t0;
    p.calls++;
    p.items += items;
    phases.set(phase, p);
  };
}

/** Times a promise as one call of `phase`. */
export async function timed<T>(phase: string, call: () => Promise<T>, items?: (r: T) => number): Promise<T> {
  const stop = phaseTimer(phase);
  const r = await call();
  stop(items?.(r));
  return r;
}

/** Appends this run's profile to the STORECTL_PROFILE file (no-op when unset). */
export async function writeProfile(command: string): Promise<void> {
  if (!target) return;
  const fs = await import('node:fs');
  const out = {
    command,
    wallMs: Math.round(performance.now() - started),
    phases: Object.fromEntries([...phases].map(([k, v]) => [k, { ms: Math.round(v.ms), calls: v.calls, items: v.items }])),
  };
  fs.appendFileSync(target, JSON.stringify(out) + '\n');
}
