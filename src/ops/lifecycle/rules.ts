// Lifecycle rules: what cleanup-expired deletes (or marks failed), and when. Defaults reproduce
// the card system's cleanup; the config file's `cleanup` section overrides and extends them.
import { UsageError } from '../../errors.ts';
import { IN_PROGRESS_STATUSES, JOB_STATUSES, type DueClause, type FileRecord, type Job } from '../../db/types.ts';
import { formatAge, parseDuration } from './duration.ts';

export type RuleAction = 'delete' | 'mark_failed' | 'transition' | 'compress';
export type AgeFrom = 'completed_at' | 'updated_at' | 'created_at';

export interface Rule {
  id: string;
  description: string;
  /** 'jobs': a job's files go together; 'files': files that belong to no job (temp, uploads). */
  scope: 'jobs' | 'files';
  action: RuleAction;
  kinds?: string[];
  statuses?: string[];
  owners?: string[];
  categories?: string[];
  pathPrefix?: string;
  /** The timestamp the age counts from (files: created_at). A null completed_at falls back to updated_at. */
  ageFrom: AgeFrom;
  ageMs: number;
  /** transition: the tier the job's files move to. */
  to?: string;
  /** A default that ships disabled (the documented example): `{"id": ..., "enabled": true}` turns it on. */
  disabled?: true;
}

export const DEFAULT_RULES: readonly Rule[] = [
  { id: 'stuck-jobs', description: 'jobs queued or processing, not updated for 24 h: marked failed', scope: 'jobs', action: 'mark_failed', statuses: ['queued', 'processing'], ageFrom: 'updated_at', ageMs: 86_400_000 },
  { id: 'completed-cards', description: 'card jobs completed (QA passed): files deleted', scope: 'jobs', action: 'delete', kinds: ['card'], statuses: ['completed'], ageFrom: 'completed_at', ageMs: 0 },
  { id: 'completed-exports', description: 'completed exports: files deleted 24 h after completion', scope: 'jobs', action: 'delete', kinds: ['export'], statuses: ['completed'], ageFrom: 'completed_at', ageMs: 86_400_000 },
  { id: 'failed-exports', description: 'failed exports: files deleted after 1 h', scope: 'jobs', action: 'delete', kinds: ['export'], statuses: ['failed'], ageFrom: 'updated_at', ageMs: 3_600_000 },
  { id: 'failed-jobs', description: 'failed jobs of any kind: files deleted after 7 days', scope: 'jobs', action: 'delete', statuses: ['failed'], ageFrom: 'updated_at', ageMs: 7 * 86_400_000 },
  { id: 'temp-files', description: 'temp files (temp/, no job): deleted after 1 day', scope: 'files', action: 'delete', categories: ['temp'], ageFrom: 'created_at', ageMs: 86_400_000 },
  // The sprint's "transition old jobs to glacier after 90 days", off until the config turns it on
  // ({"id": "completed-to-cold", "enabled": true}) and names a cold tier.
  { id: 'completed-to-cold', description: 'completed jobs: files moved to the cold tier 90 days after completion', scope: 'jobs', action: 'transition', to: 'cold', statuses: ['completed'], ageFrom: 'completed_at', ageMs: 90 * 86_400_000, disabled: true },
];

const RULE_FIELDS = ['id', 'description', 'scope', 'action', 'kind', 'statuses', 'owner', 'category', 'pathPrefix', 'ageFrom', 'age', 'to', 'enabled'];
const SECTION_FIELDS = ['rules', 'replaceDefaults', 'maxDelete', 'maxMove', 'orphans'];
const ORPHAN_FIELDS = ['minAge', 'maxDelete'];

/** The validated `cleanup` section of the config file. */
export interface CleanupConfig {
  rules: Rule[];
  maxDelete?: string;
  /** Cap on the files one transition run moves (storectl tier): a count or a percentage. */
  maxMove?: string;
  orphans: { minAgeMs?: number; maxDelete?: string };
}

function bad(where: string, what: string, hint?: string): never {
  throw new UsageError(`config: ${where}: ${what}`, hint, 'config');
}

function strings(where: string, v: unknown): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (!list.length || !list.every((x) => typeof x === 'string' && x.length > 0)) bad(where, 'must be a string or a list of strings');
  return list as string[];
}

function duration(where: string, v: unknown): number {
  const ms = parseDuration(v);
  if (ms === undefined) bad(where, `bad duration ${JSON.stringify(v)}`, 'write e.g. "0", "90m", "24h", "7d"');
  return ms;
}

/** `maxDelete`: a count ('5000') or a percentage ('10%'). */
export function checkMaxDelete(where: string, v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return String(v);
  if (typeof v !== 'string' || !/^\d+(\.\d+)?%$|^\d+$/.test(v)) bad(where, `bad cap ${JSON.stringify(v)}`, 'write a number of files (5000) or a percentage ("10%")');
  return v;
}

function parseRule(where: string, raw: unknown, base: Rule | undefined): Rule | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad(where, 'must be an object');
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!RULE_FIELDS.includes(k)) bad(`${where}.${k}`, 'unknown field', `known fields: ${RULE_FIELDS.join(', ')}`);
  if (r.enabled === false) return null;
  if (r.enabled !== undefined && r.enabled !== true) bad(`${where}.enabled`, 'must be true or false');
  const rule: Partial<Rule> = base ? { ...base } : { description: '' };
  delete rule.disabled;
  if (typeof r.id !== 'string' || !/^[a-z0-9][a-z0-9_-]*$/i.test(r.id)) bad(`${where}.id`, 'must be a name (letters, digits, - and _)');
  rule.id = r.id;
  if (r.description !== undefined) rule.description = String(r.description);
  if (r.scope !== undefined) {
    if (r.scope !== 'jobs' && r.scope !== 'files') bad(`${where}.scope`, 'must be "jobs" or "files"');
    rule.scope = r.scope;
  }
  if (r.action !== undefined) {
    if (r.action !== 'delete' && r.action !== 'mark_failed' && r.action !== 'transition' && r.action !== 'compress') bad(`${where}.action`, 'must be "delete", "mark_failed", "transition" or "compress"');
    rule.action = r.action;
  }
  if (r.to !== undefined) {
    if (typeof r.to !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(r.to)) bad(`${where}.to`, 'must be a tier name');
    rule.to = r.to;
  }
  if (r.kind !== undefined) rule.kinds = strings(`${where}.kind`, r.kind);
  if (r.statuses !== undefined) {
    rule.statuses = strings(`${where}.statuses`, r.statuses);
    for (const s of rule.statuses) if (!(JOB_STATUSES as readonly string[]).includes(s)) bad(`${where}.statuses`, `unknown status "${s}"`, `known: ${JOB_STATUSES.join(', ')}`);
  }
  if (r.owner !== undefined) rule.owners = strings(`${where}.owner`, r.owner);
  if (r.category !== undefined) rule.categories = strings(`${where}.category`, r.category);
  if (r.pathPrefix !== undefined) {
    if (typeof r.pathPrefix !== 'string' || !r.pathPrefix || r.pathPrefix.startsWith('/') || r.pathPrefix.split('/').includes('..')) bad(`${where}.pathPrefix`, 'must be a relative path prefix');
    rule.pathPrefix = r.pathPrefix;
  }
  if (r.ageFrom !== undefined) {
    if (!['completed_at', 'updated_at', 'created_at'].includes(String(r.ageFrom))) bad(`${where}.ageFrom`, 'must be completed_at, updated_at or created_at');
    rule.ageFrom = r.ageFrom as AgeFrom;
  }
  if (r.age !== undefined) rule.ageMs = duration(`${where}.age`, r.age);
  rule.scope ??= 'jobs';
  rule.action ??= 'delete';
  rule.ageFrom ??= rule.scope === 'files' ? 'created_at' : 'updated_at';
  if (rule.ageMs === undefined) bad(`${where}.age`, 'is required for a new rule');
  return checkRule(where, rule as Rule);
}

function checkRule(where: string, rule: Rule): Rule {
  if (rule.scope === 'jobs') {
    if (rule.categories || rule.pathPrefix) bad(where, 'category and pathPrefix apply to files rules (scope "files"); a job\'s files go together');
    if (!rule.statuses?.length) bad(`${where}.statuses`, 'a jobs rule must name the statuses it applies to');
    if (rule.action === 'transition' && !rule.to) bad(`${where}.to`, 'a transition rule names the tier it moves files to', 'e.g. "to": "cold" (a tier of the config\'s tiers section, or hot)');
    if (rule.action !== 'transition' && rule.to) bad(`${where}.to`, 'applies to transition rules only');
    if (rule.action === 'delete' || rule.action === 'transition' || rule.action === 'compress') {
      const live = rule.statuses.filter((s) => IN_PROGRESS_STATUSES.includes(s));
      if (live.length) bad(`${where}.statuses`, `files of jobs still being produced (${live.join(', ')}) are never ${rule.action === 'delete' ? 'deleted' : rule.action === 'compress' ? 'compressed' : 'moved'}`, 'use action "mark_failed" for stuck jobs');
    }
  } else {
    if (rule.kinds || rule.statuses) bad(where, 'kind and statuses apply to jobs rules (scope "jobs")');
    if (rule.action !== 'delete') bad(`${where}.action`, 'files rules can only delete (transitions move whole jobs)');
    if (rule.ageFrom !== 'created_at') bad(`${where}.ageFrom`, 'files rules age from created_at');
  }
  return rule;
}

/**
 * Validates the config file's `cleanup` section and builds the rule list: the defaults, each
 * overridable by id (e.g. {"id": "completed-exports", "age": "48h"}, or "enabled": false), then
 * new rules in the order given; `replaceDefaults: true` keeps only the rules given.
 */
export function loadCleanupConfig(section: unknown, opts: { retentionHours?: number; tiers?: readonly string[] } = {}): CleanupConfig {
  const s = (section ?? {}) as Record<string, unknown>;
  if (typeof s !== 'object' || Array.isArray(s)) bad('cleanup', 'must be an object');
  for (const k of Object.keys(s)) if (!SECTION_FIELDS.includes(k)) bad(`cleanup.${k}`, 'unknown field', `known fields: ${SECTION_FIELDS.join(', ')}`);
  if (s.replaceDefaults !== undefined && typeof s.replaceDefaults !== 'boolean') bad('cleanup.replaceDefaults', 'must be true or false');
  if (s.rules !== undefined && !Array.isArray(s.rules)) bad('cleanup.rules', 'must be a list of rules');
  let rules: (Rule | null)[] = s.replaceDefaults ? [] : DEFAULT_RULES.map((r) => ({ ...r }));
  const seen = new Set<string>();
  ((s.rules as unknown[] | undefined) ?? []).forEach((raw, i) => {
    const id = (raw as { id?: unknown })?.id;
    if (typeof id === 'string' && seen.has(id)) bad(`cleanup.rules[${i}].id`, `rule "${id}" is given twice`);
    if (typeof id === 'string') seen.add(id);
    const at = rules.findIndex((r) => r?.id === id);
    const base = at >= 0 ? rules[at]! : undefined;
    const rule = parseRule(`cleanup.rules[${i}]`, raw, base);
    if (at >= 0) rules[at] = rule;
    else rules.push(rule);
  });
  let list = rules.filter((r): r is Rule => r !== null && !r.disabled);
  if (opts.tiers) {
    list.forEach((r) => {
      if (r.action === 'transition' && !opts.tiers!.includes(r.to!)) {
        bad(`cleanup.rules (rule "${r.id}").to`, `no tier "${r.to}" in the config`, `tiers: ${opts.tiers!.join(', ')}; name it in the tiers section`);
      }
    });
  }
  if (opts.retentionHours !== undefined) {
    list = list.map((r) => (r.id === 'completed-exports' ? { ...r, ageMs: opts.retentionHours! * 3_600_000 } : r));
  }
  const orphans = (s.orphans ?? {}) as Record<string, unknown>;
  if (typeof orphans !== 'object' || Array.isArray(orphans)) bad('cleanup.orphans', 'must be an object');
  for (const k of Object.keys(orphans)) if (!ORPHAN_FIELDS.includes(k)) bad(`cleanup.orphans.${k}`, 'unknown field', `known fields: ${ORPHAN_FIELDS.join(', ')}`);
  return {
    rules: list,
    maxDelete: s.maxDelete === undefined ? undefined : checkMaxDelete('cleanup.maxDelete', s.maxDelete),
    maxMove: s.maxMove === undefined ? undefined : checkMaxDelete('cleanup.maxMove', s.maxMove),
    orphans: {
      minAgeMs: orphans.minAge === undefined ? undefined : duration('cleanup.orphans.minAge', orphans.minAge),
      maxDelete: orphans.maxDelete === undefined ? undefined : checkMaxDelete('cleanup.orphans.maxDelete', orphans.maxDelete),
    },
  };
}

function inList(list: string[] | undefined, v: string): boolean {
  return !list || list.includes(v);
}

export function jobMatches(rule: Rule, job: Pick<Job, 'kind' | 'status' | 'owner'>): boolean {
  return rule.scope === 'jobs' && inList(rule.kinds, job.kind) && inList(rule.statuses, job.status) && inList(rule.owners, job.owner);
}

export function fileMatches(rule: Rule, f: Pick<FileRecord, 'category' | 'owner' | 'path' | 'jobId'>): boolean {
  return (
    rule.scope === 'files' &&
    f.jobId === null &&
    inList(rule.categories, f.category) &&
    inList(rule.owners, f.owner) &&
    (!rule.pathPrefix || f.path.startsWith(rule.pathPrefix))
  );
}

/** When a job becomes due under a rule. */
export function jobDueAt(rule: Rule, job: Pick<Job, 'completedAt' | 'updatedAt' | 'createdAt'>): Date {
  const from = rule.ageFrom === 'completed_at' ? (job.completedAt ?? job.updatedAt) : rule.ageFrom === 'created_at' ? job.createdAt : job.updatedAt;
  return new Date(from.getTime() + rule.ageMs);
}

export function fileDueAt(rule: Rule, f: Pick<FileRecord, 'createdAt'>): Date {
  return new Date(f.createdAt.getTime() + rule.ageMs);
}

/**
 * The delete rules' due conditions at `asOf`, for the catalog to filter jobs with: every job
 * due under its governing rule matches one (the planner still decides which rule governs).
 */
export function dueClauses(rules: readonly Rule[], asOf: Date): DueClause[] {
  return rules
    .filter((r) => r.scope === 'jobs' && r.action === 'delete')
    .map((r) => ({ statuses: r.statuses ?? [], kinds: r.kinds, owners: r.owners, ageFrom: r.ageFrom, before: new Date(asOf.getTime() - r.ageMs) }));
}

/** The delete rule that governs a job: the first whose filter matches (due or not). */
export function deleteRuleForJob(rules: readonly Rule[], job: Pick<Job, 'kind' | 'status' | 'owner'>): Rule | undefined {
  return rules.find((r) => r.action === 'delete' && jobMatches(r, job));
}

export function markRuleForJob(rules: readonly Rule[], job: Pick<Job, 'kind' | 'status' | 'owner'>): Rule | undefined {
  return rules.find((r) => r.action === 'mark_failed' && jobMatches(r, job));
}

export function describeRule(r: Rule) {
  return {
    id: r.id,
    description: r.description,
    scope: r.scope,
    action: r.action,
    ...(r.kinds ? { kind: r.kinds } : {}),
    ...(r.statuses ? { statuses: r.statuses } : {}),
    ...(r.owners ? { owner: r.owners } : {}),
    ...(r.categories ? { category: r.categories } : {}),
    ...(r.pathPrefix ? { pathPrefix: r.pathPrefix } : {}),
    ageFrom: r.ageFrom,
    age: formatAge(r.ageMs),
    ...(r.to ? { to: r.to } : {}),
  };
}

/**
 * The transition rule that moves a job at `asOf`: of the transition rules whose filter matches
 * and that are due, the one with the greatest age (the latest stage: warm after 30 days, then
 * cold after 90); undefined when none is due.
 */
export function transitionRuleForJob(rules: readonly Rule[], job: Pick<Job, 'kind' | 'status' | 'owner' | 'completedAt' | 'updatedAt' | 'createdAt'>, asOf: Date): { rule: Rule; dueAt: Date } | undefined {
  let best: { rule: Rule; dueAt: Date } | undefined;
  for (const r of rules) {
    if (r.action !== 'transition' || !jobMatches(r, job)) continue;
    const dueAt = jobDueAt(r, job);
    if (dueAt > asOf) continue;
    if (!best || r.ageMs > best.rule.ageMs) best = { rule: r, dueAt };
  }
  return best;
}

/** The compress rule due for a job at `asOf` (the first whose filter matches and that is due), or undefined. */
export function compressRuleForJob(rules: readonly Rule[], job: Pick<Job, 'kind' | 'status' | 'owner' | 'completedAt' | 'updatedAt' | 'createdAt'>, asOf: Date): { rule: Rule; dueAt: Date } | undefined {
  for (const r of rules) {
    if (r.action !== 'compress' || !jobMatches(r, job)) continue;
    const dueAt = jobDueAt(r, job);
    if (dueAt <= asOf) return { rule: r, dueAt };
  }
  return undefined;
}
