// The shape of a drizzle schema as plain data (tables, columns, nullability, kinds, keys,
// defaults, indexes), so the SQLite and PostgreSQL schemas can be compared at run time.
import { getTableConfig as pgConfig, type PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core';

export interface ColumnShape {
  notNull: boolean;
  primary: boolean;
  hasDefault: boolean;
  /** What a row carries in JavaScript: string, number, date, json, boolean, buffer. */
  kind: string;
}
export interface TableShape {
  columns: Record<string, ColumnShape>;
  primaryKeys: string[];
  indexes: string[];
}
export type SchemaShape = Record<string, TableShape>;

interface AnyColumn {
  name: string;
  notNull: boolean;
  primary: boolean;
  hasDefault: boolean;
  dataType: string;
  getSQLType(): string;
}

/** A custom column's kind from its SQL type (PostgreSQL's text COLLATE "C" and bytea are custom here). */
function kindOf(c: AnyColumn): string {
  if (c.dataType !== 'custom') return c.dataType;
  const sql = c.getSQLType().toLowerCase();
  if (/^(text|varchar)\b/.test(sql)) return 'string';
  if (sql === 'bytea' || sql === 'blob') return 'buffer';
  return `custom ${sql}`;
}

function tableShape(cfg: {
  columns: AnyColumn[];
  primaryKeys: { columns: { name: string }[] }[];
  indexes: { config: { name: string; unique: boolean; columns: unknown[] } }[];
}): TableShape {
  const columns: Record<string, ColumnShape> = {};
  for (const c of cfg.columns) columns[c.name] = { notNull: c.notNull, primary: c.primary, hasDefault: c.hasDefault, kind: kindOf(c) };
  const colName = (x: unknown) => (x && typeof x === 'object' && 'name' in x ? String((x as { name: unknown }).name) : '<expression>');
  return {
    columns,
    primaryKeys: cfg.primaryKeys.map((k) => k.columns.map((c) => c.name).join(',')).sort(),
    indexes: cfg.indexes.map((i) => `${i.config.name}:${i.config.unique ? 'unique' : 'index'}(${i.config.columns.map(colName).join(',')})`).sort(),
  };
}

export function pgShape(tables: Record<string, PgTable>): SchemaShape {
  const out: SchemaShape = {};
  for (const t of Object.values(tables)) {
    const cfg = pgConfig(t);
    out[cfg.name] = tableShape(cfg as never);
  }
  return out;
}

export function sqliteShape(tables: Record<string, SQLiteTable>): SchemaShape {
  const out: SchemaShape = {};
  for (const t of Object.values(tables)) {
    const cfg = sqliteConfig(t);
    out[cfg.name] = tableShape(cfg as never);
  }
  return out;
}

/** Every difference between two schema shapes, one line each; [] when they agree. */
export function schemaDifferences(a: SchemaShape, b: SchemaShape, names: [string, string] = ['pg', 'sqlite']): string[] {
  const diffs: string[] = [];
  const [an, bn] = names;
  for (const t of Object.keys(a)) if (!(t in b)) diffs.push(`table ${t}: only in ${an}`);
  for (const t of Object.keys(b)) if (!(t in a)) diffs.push(`table ${t}: only in ${bn}`);
  for (const t of Object.keys(a).filter((x) => x in b)) {
    const ta = a[t]!;
    const tb = b[t]!;
    for (const c of Object.keys(ta.columns)) if (!(c in tb.columns)) diffs.push(`${t}.${c}: only in ${an}`);
    for (const c of Object.keys(tb.columns)) if (!(c in ta.columns)) diffs.push(`${t}.${c}: only in ${bn}`);
    for (const c of Object.keys(ta.columns).filter((x) => x in tb.columns)) {
      const ca = ta.columns[c]!;
      const cb = tb.columns[c]!;
      for (const k of ['kind', 'notNull', 'primary', 'hasDefault'] as const) {
        if (ca[k] !== cb[k]) diffs.push(`${t}.${c}: ${k} ${String(ca[k])} in ${an}, ${String(cb[k])} in ${bn}`);
      }
    }
    if (ta.primaryKeys.join(';') !== tb.primaryKeys.join(';')) diffs.push(`${t}: primary key (${ta.primaryKeys.join(';')}) in ${an}, (${tb.primaryKeys.join(';')}) in ${bn}`);
    for (const i of ta.indexes) if (!tb.indexes.includes(i)) diffs.push(`${t}: index ${i} only in ${an}`);
    for (const i of tb.indexes) if (!ta.indexes.includes(i)) diffs.push(`${t}: index ${i} only in ${bn}`);
  }
  return diffs;
}
