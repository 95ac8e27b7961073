// Option parsing shared by the command definitions: numbers, durations, and the option groups
// several commands take (--wait, --allow-empty-root, --max-delete), each defined and parsed once.
import { InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.ts';
import { parseDuration } from '../ops/lifecycle/duration.ts';
import { checkMaxDelete } from '../ops/lifecycle/rules.ts';
import type { RawOptions } from './define.ts';

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

// Reading commander's values into typed options. Commander has already applied each option's
// parser (intOption, durationOption, a list), so these only name the type it produced.

/** A boolean flag: given or not. */
export const flag = (raw: RawOptions, key: string): boolean => Boolean(raw[key]);
/** A string option, or undefined when not given. */
export const text = (raw: RawOptions, key: string): string | undefined => (raw[key] === undefined ? undefined : String(raw[key]));
/** A number option whose commander parser (intOption, durationOption) made it a number. */
export const num = (raw: RawOptions, key: string): number | undefined => raw[key] as number | undefined;
/** A repeatable or variadic option: the strings given, or undefined. */
export const texts = (raw: RawOptions, key: string): string[] | undefined => raw[key] as string[] | undefined;
/** An option's flag from its camelCase key: dryRun -> dry-run. */
export const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

// --wait: the store lock group, on every command that takes the lock.

const WAIT_HELP = 'wait for another run holding the store lock (as long as it takes without SECONDS)';

/** --wait [seconds]; `help` for the commands that say when it applies. */
export function waitOption(help = WAIT_HELP): Option {
  return new Option('--wait [seconds]', help);
}

/** --wait as milliseconds (0: do not wait; Infinity: as long as it takes). */
export const parseWait = (raw: RawOptions): number => waitMs(raw.wait);

// --allow-empty-root: the guard override of the commands that delete by catalog rows.

export function allowEmptyRootOption(): Option {
  return new Option('--allow-empty-root', 'proceed although the root is empty or missing while the catalog has files');
}

export const parseAllowEmptyRoot = (raw: RawOptions): boolean => flag(raw, 'allowEmptyRoot');

/** --max-delete N|N%: checked here; undefined when not given (the command's default applies). */
export function parseMaxDelete(raw: RawOptions): string | undefined {
  return raw.maxDelete === undefined ? undefined : checkMaxDelete('--max-delete', String(raw.maxDelete));
}
