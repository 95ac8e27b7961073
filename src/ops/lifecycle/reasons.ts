// Why a catalog file is deleted: a typed value, stored in files.delete_reason as a string the
// engine can read back, so a rerun finishes only what the same kind of run started.

export type DeletionReason =
  /** A cleanup-expired rule selected it. */
  | { kind: 'rule'; rule: string }
  /** migrate-images-to-db --delete-originals: its bytes are in the database, verified. */
  | { kind: 'migrated-to-db' }
  /** An operator asked for it by name (the `delete` command). */
  | { kind: 'manual'; note?: string }
  /** A file with no catalog row (cleanup-orphaned; no row, so no intent row either). */
  | { kind: 'orphan' }
  /** A duplicate of another file with the same bytes (dedup). */
  | { kind: 'dedup'; keep?: string }
  /** Moved to another tier (the copy there is verified). */
  | { kind: 'transition'; to: string };

export type ReasonKind = DeletionReason['kind'];

/** The rule id a manual deletion (storectl delete) plans its groups under: its reason is `manual`. */
export const MANUAL_RULE = 'manual';

/** The reason of a group planned under a rule id (MANUAL_RULE: a manual deletion). */
export function reasonOfRule(rule: string): DeletionReason {
  return rule === MANUAL_RULE ? { kind: 'manual' } : { kind: 'rule', rule };
}

/** The delete_reason text of a reason (the rule form is the one earlier versions wrote). */
export function encodeReason(r: DeletionReason): string {
  switch (r.kind) {
    case 'rule':
      return `expired: rule ${r.rule}`;
    case 'migrated-to-db':
      return 'migrated-to-db';
    case 'manual':
      return r.note ? `manual: ${r.note}` : 'manual';
    case 'orphan':
      return 'orphan';
    case 'dedup':
      return r.keep ? `dedup: ${r.keep}` : 'dedup';
    case 'transition':
      return `transition: ${r.to}`;
  }
}

/** Reads a delete_reason back; null when no engine kind wrote it. */
export function decodeReason(s: string | null | undefined): DeletionReason | null {
  if (!s) return null;
  let m: RegExpMatchArray | null;
  if ((m = s.match(/^expired: rule (.+)$/))) return { kind: 'rule', rule: m[1]! };
  if (s === 'migrated-to-db') return { kind: 'migrated-to-db' };
  if (s === 'manual' || s.startsWith('manual: ')) return s === 'manual' ? { kind: 'manual' } : { kind: 'manual', note: s.slice(8) };
  if (s === 'orphan') return { kind: 'orphan' };
  if (s === 'dedup' || s.startsWith('dedup: ')) return s === 'dedup' ? { kind: 'dedup' } : { kind: 'dedup', keep: s.slice(7) };
  if (s.startsWith('transition: ')) return { kind: 'transition', to: s.slice(12) };
  return null;
}

/** A SQL LIKE pattern matching every delete_reason of one kind (for the rows a rerun finishes). */
export function reasonPattern(kind: ReasonKind): string {
  switch (kind) {
    case 'rule':
      return 'expired: rule %';
    case 'migrated-to-db':
      return 'migrated-to-db';
    default:
      return `${kind}%`;
  }
}

/** How reports and tallies group a reason: the rule id, or the kind. */
export function reasonLabel(r: DeletionReason): string {
  return r.kind === 'rule' ? r.rule : r.kind;
}
