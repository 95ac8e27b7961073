// Option parsing shared by the command definitions (numbers, durations, --wait).
import { InvalidArgumentError } from 'commander';
import { UsageError } from '../errors.ts';
import { parseDuration } from '../ops/lifecycle/duration.ts';

/** --wait [SECONDS]: absent 0 (no wait), bare: wait as long as it takes. */
export function waitMs(v: unknown): number {
  if (v === undefined || v === false) return 0;
  if (v === true) return Number.POSITIVE_INFINITY;
  const s = String(v);
  if (!/^\d+(\.\d+)?$/.test(s)) throw new UsageError(`bad --wait ${JSON.stringify(s)}`, 'give a number of seconds, or --wait alone to wait as long as it takes');
  return Number(s) * 1000;
}

/** commander parser for a duration flag (90m, 24h, 7d). */
export function durationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('not a duration (e.g. 30m, 1h, 2d)');
  return ms;
}

/** --as-of TIME: an ISO 8601 time, or relative to now: +7d, -12h. */
export function parseAsOf(value: string | undefined, now: Date): Date {
  if (value === undefined) return now;
  const rel = /^([+-])(.+)$/.exec(value);
  if (rel) {
    const ms = parseDuration(rel[2]);
    if (ms !== undefined) return new Date(now.getTime() + (rel[1] === '+' ? ms : -ms));
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`bad --as-of ${JSON.stringify(value)}`, 'give an ISO time (2026-12-01T00:00:00Z) or an offset from now (+7d, -12h)');
  return new Date(t);
}

/** Integer option parser for commander: refuses junk with a usage error. */
export function intOption(min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a whole number');
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}
