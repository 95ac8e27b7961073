// storectl s3-lifecycle --print: the bucket lifecycle configuration (the JSON that
// `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration` and `mc ilm import`
// take) derived from storectl's own rules, as a backstop, never ahead of them. A bucket rule can
// only see an object's key prefix and its age since it was written, so only rules that select by
// prefix and age from created_at map to a bucket rule; the others are listed as skipped, with why.
// Printing only: operators apply it with their own tool.
import { HOT_TIER } from '../config.ts';
import type { Context } from '../context.ts';
import type { FileRecord } from '../db/types.ts';
import { UsageError } from '../errors.ts';
import { isS3Url } from '../storage/blob.ts';
import { parseS3Url } from '../storage/s3/settings.ts';
import { CATEGORIES } from '../storage/layout.ts';
import { compareBytewise } from '../bytewise.ts';
import { fileMatches, type Rule } from './lifecycle/rules.ts';
import { formatAge } from './lifecycle/duration.ts';

const DAY_MS = 86_400_000;
/** Incomplete multipart uploads are aborted after this many days, for the whole bucket. */
export const ABORT_MULTIPART_DAYS = 1;
export const DEFAULT_MARGIN_DAYS = 1;

/** One rule of the bucket lifecycle configuration, in the shape S3 (and MinIO's mc ilm import) take. */
export interface BucketLifecycleRule {
  ID: string;
  Status: 'Enabled';
  Filter: { Prefix: string };
  Expiration?: { Days: number };
  AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
}

export interface BucketLifecycleConfiguration {
  Rules: BucketLifecycleRule[];
}

export interface S3LifecycleReport {
  tier: string;
  bucket: string;
  /** The tier's key prefix inside the bucket ('' or ending in '/'). */
  prefix: string;
  marginDays: number;
  /** What to give `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://...`. */
  configuration: BucketLifecycleConfiguration;
  /** storectl rules that became bucket rules. */
  mapped: { rule: string; id: string; prefix: string; ruleAge: string; days: number; why: string }[];
  /** storectl rules that did not, and why (a bucket rule cannot see what they select by). */
  skipped: { rule: string; action: string; reason: string }[];
}

export interface S3LifecycleOptions {
  rules: readonly Rule[];
  /** Whole days added after rounding each rule's age up (at least 1). */
  marginDays: number;
  /** The tier whose bucket the configuration is for (default hot, the store root). */
  tier?: string;
}

/** Files rules' selection as key prefixes (relative to the tier), or why it has none. */
function prefixesOf(r: Rule): string[] | string {
  const cats = r.categories;
  if (cats?.some((c) => !(CATEGORIES as readonly string[]).includes(c))) return `category ${cats.filter((c) => !(CATEGORIES as readonly string[]).includes(c)).join(', ')} has no key prefix of its own`;
  const base = cats ? cats.map((c) => `${c}/`) : [''];
  const out: string[] = [];
  for (const b of base) {
    const p = r.pathPrefix;
    if (!p) out.push(b);
    else if (p.startsWith(b)) out.push(p);
    else if (b.startsWith(p)) out.push(b);
  }
  if (!out.length) return 'its category and pathPrefix select no path';
  if (out.includes('')) return 'it selects by no prefix: a bucket rule would cover every object of the store';
  return [...new Set(out)];
}

const overlap = (a: string, b: string) => a.startsWith(b) || b.startsWith(a);

/**
 * The bucket configuration for the rules, without looking at the catalog: each files delete rule
 * without an owner filter becomes one Expiration per key prefix, its age rounded up to whole days
 * plus the margin, and never shorter than an earlier files rule that can govern the same keys
 * (storectl's first matching rule governs a file). Jobs rules (status, owner, completed_at,
 * updated_at), transitions and mark_failed are skipped with why.
 */
export function planBucketLifecycle(rules: readonly Rule[], keyPrefix: string, marginDays: number): Omit<S3LifecycleReport, 'tier' | 'bucket' | 'prefix'> & { candidates: { rule: Rule; prefix: string; days: number }[] } {
  if (!Number.isInteger(marginDays) || marginDays < 1) throw new UsageError(`bad margin ${marginDays}`, 'give a whole number of days, at least 1');
  const skipped: S3LifecycleReport['skipped'] = [];
  const candidates: { rule: Rule; prefix: string; days: number }[] = [];
  const filesRules = rules.filter((r) => r.scope === 'files' && r.action === 'delete');
  for (const r of rules) {
    const skip = (reason: string) => skipped.push({ rule: r.id, action: r.action, reason });
    if (r.action === 'mark_failed') {
      skip('it changes a job\'s status in the catalog, not objects');
      continue;
    }
    if (r.scope === 'jobs') {
      const by = [`job status (${(r.statuses ?? []).join(', ')})`, r.kinds ? `kind (${r.kinds.join(', ')})` : '', r.owners ? `owner (${r.owners.join(', ')})` : '', r.ageFrom !== 'created_at' ? `age from ${r.ageFrom}` : ''].filter(Boolean);
      skip(`it selects by ${by.join(', ')}: a bucket rule sees only a key prefix and the object's age since it was written${r.action === 'transition' ? '; and a bucket transition changes storage class in place, while storectl moves the job to tier ' + r.to : ''}`);
      continue;
    }
    if (r.owners) {
      skip(`it selects by owner (${r.owners.join(', ')}), which is in the catalog, not in the key`);
      continue;
    }
    const prefixes = prefixesOf(r);
    if (typeof prefixes === 'string') {
      skip(prefixes);
      continue;
    }
    const earlier = filesRules.slice(0, filesRules.indexOf(r));
    for (const p of prefixes) {
      // A file under p may be governed by an earlier rule that matches it first: never act before that rule would.
      let ageMs = r.ageMs;
      for (const e of earlier) {
        const ep = prefixesOf(e);
        if (typeof ep === 'string' ? !ep.startsWith('its category') : ep.some((x) => overlap(x, p))) ageMs = Math.max(ageMs, e.ageMs);
      }
      candidates.push({ rule: r, prefix: p, days: Math.ceil(ageMs / DAY_MS) + marginDays });
    }
  }
  const configuration: BucketLifecycleConfiguration = { Rules: [] };
  const mapped: S3LifecycleReport['mapped'] = [];
  for (const c of candidates) {
    const id = `storectl-${c.rule.id}${candidates.filter((x) => x.rule === c.rule).length > 1 ? `-${c.prefix.replace(/\/$/, '').replace(/[^A-Za-z0-9_.-]/g, '_')}` : ''}`;
    configuration.Rules.push({ ID: id, Status: 'Enabled', Filter: { Prefix: keyPrefix + c.prefix }, Expiration: { Days: c.days } });
    mapped.push({
      rule: c.rule.id,
      id,
      prefix: keyPrefix + c.prefix,
      ruleAge: formatAge(c.rule.ageMs),
      days: c.days,
      why: `expires objects under ${keyPrefix + c.prefix} ${c.days} days after they were written: the rule's ${formatAge(c.rule.ageMs)} from created_at${c.days - marginDays > Math.ceil(c.rule.ageMs / DAY_MS) ? ` (raised to ${c.days - marginDays}d by an earlier rule that can govern the same files)` : ''}, rounded up to whole days, plus ${marginDays}d margin`,
    });
  }
  configuration.Rules.push({ ID: 'storectl-abort-incomplete-multipart', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_MULTIPART_DAYS } });
  return { marginDays, configuration, mapped, skipped, candidates };
}

/**
 * The configuration for a store's S3 tier, checked against the catalog: a prefix under which live
 * files exist that the rule does not select (files of a job, another category, another owner) is
 * skipped, as a bucket rule would expire those too. The check sees the catalog as it is now; it
 * says so in the reason a rule is kept.
 */
export async function bucketLifecycle(ctx: Context, o: S3LifecycleOptions): Promise<S3LifecycleReport> {
  const tier = o.tier ?? HOT_TIER;
  const place = tier === HOT_TIER ? { url: ctx.config.root } : ctx.tiers?.place(tier);
  if (!place) throw new UsageError(`no tier "${tier}" in the config (tiers: ${ctx.tiers?.names().join(', ') ?? HOT_TIER})`, "name it in the config file's tiers section", 'config');
  if (!isS3Url(place.url)) {
    throw new UsageError(`tier ${tier} is a directory (${place.url}), not an S3 bucket: a bucket lifecycle has nothing to apply to`, 'run it against an S3 store, or pass --tier NAME of an s3:// tier', 'unsupported_backend');
  }
  const loc = parseS3Url(place.url);
  const planned = planBucketLifecycle(o.rules, loc.prefix, o.marginDays);
  const keep: typeof planned.candidates = [];
  const skipped = [...planned.skipped];
  for (const c of planned.candidates) {
    const clash = await firstUnselected(ctx, c.rule, c.prefix, tier);
    if (clash) skipped.push({ rule: c.rule.id, action: c.rule.action, reason: `${clash.path} lives under ${c.prefix} but the rule does not select it (${clash.why}): a bucket rule would expire it by age` });
    else keep.push(c);
  }
  const configuration: BucketLifecycleConfiguration = {
    Rules: planned.configuration.Rules.filter((br) => br.AbortIncompleteMultipartUpload || planned.mapped.some((m) => m.id === br.ID && keep.some((k) => k.rule.id === m.rule && loc.prefix + k.prefix === m.prefix))),
  };
  const mapped = planned.mapped.filter((m) => keep.some((k) => k.rule.id === m.rule && loc.prefix + k.prefix === m.prefix));
  return { tier, bucket: loc.bucket, prefix: loc.prefix, marginDays: o.marginDays, configuration, mapped, skipped };
}

/** The first live file on `tier` under `prefix` that `rule` does not select, or null. */
async function firstUnselected(ctx: Context, rule: Rule, prefix: string, tier: string): Promise<{ path: string; why: string } | null> {
  let after = prefix.slice(0, -1);
  for (;;) {
    const page: FileRecord[] = await ctx.catalog.filePage({ states: ['present', 'deleting', 'corrupt', 'missing'], afterPath: after, limit: 1000 });
    for (const f of page) {
      if (!f.path.startsWith(prefix)) {
        if (compareBytewise(f.path, prefix) > 0) return null;
        continue;
      }
      if ((f.tier ?? HOT_TIER) !== tier && f.tierTarget !== tier) continue;
      if (!fileMatches(rule, f)) return { path: f.path, why: f.jobId !== null ? `a file of job ${f.jobId}` : `category ${f.category}, owner ${f.owner || '-'}` };
    }
    if (page.length < 1000) return null;
    after = page.at(-1)!.path;
  }
}
