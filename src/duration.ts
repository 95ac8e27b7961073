// Durations as people write them in flags and the config file: 90m, 24h, 7d, 0.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Milliseconds of a duration like '90m', '24h', '7d', '1.5h' or '0'; undefined when malformed. */
export function parseDuration(text: unknown): number | undefined {
  if (text === 0 || text === '0') return 0;
  if (typeof text !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

/** The shortest exact rendering: 86400000 -> '1d', 5400000 -> '90m'. */
export function formatAge(ms: number): string {
  if (ms === 0) return '0';
  for (const u of ['w', 'd', 'h', 'm', 's'] as const) if (ms % UNITS[u]! === 0) return `${ms / UNITS[u]!}${u}`;
  return `${ms}ms`;
}
