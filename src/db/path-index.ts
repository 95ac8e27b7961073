// A scratch index of path -> (size, SHA-256) on disk, for checks over every row of an archive
// (each archived file against its own catalog row) without holding 200,000 rows in memory.
import Database from 'better-sqlite3';

export interface IndexedFile {
  size: number;
  sha256: string;
  /** The row's content_group: names recorded as sharing one copy (null: its own copy). */
  contentGroup: number | null;
}

/** A scratch SQLite file nothing else reads: no journal, no fsync (a crash loses nothing but the scratch). */
function scratchDb(file: string, ddl: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.exec(ddl);
  return db;
}

export class PathIndex {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #take: Database.Statement;
  readonly #get: Database.Statement;
  #pending: [string, number, string, number | null][] = [];
  #duplicate: string | undefined;

  /** `file` is created (and is the caller's to remove, with its directory). */
  constructor(file: string) {
    this.#db = scratchDb(file, 'create table rows (path text primary key, size integer not null, sha256 text not null, content_group integer, seen integer not null default 0) without rowid');
    this.#insert = this.#db.prepare('insert or ignore into rows (path, size, sha256, content_group) values (?, ?, ?, ?)');
    this.#take = this.#db.prepare('update rows set seen = 1 where path = ? and seen = 0 returning size, sha256, content_group as contentGroup');
    this.#get = this.#db.prepare('select size, sha256, content_group as contentGroup, seen from rows where path = ?');
  }

  /** Adds a row; a path added twice is remembered and reported by `duplicate`. */
  add(path: string, size: number, sha256: string, contentGroup: number | null = null): void {
    this.#pending.push([path, size, sha256, contentGroup]);
    if (this.#pending.length >= 5000) this.#flush();
  }

  #flush(): void {
    if (!this.#pending.length) return;
    const rows = this.#pending;
    this.#pending = [];
    this.#db.transaction(() => {
      for (const r of rows) if (this.#insert.run(...r).changes === 0) this.#duplicate ??= r[0];
    })();
  }

  /** The first path added twice, if any. */
  duplicate(): string | undefined {
    this.#flush();
    return this.#duplicate;
  }

  /** Marks a path seen and returns its row; undefined when there is none or it was seen already. */
  take(path: string): IndexedFile | undefined {
    this.#flush();
    return this.#take.get(path) as IndexedFile | undefined;
  }

  /** A path's row whether seen or not (seen: taken already), without marking it. */
  get(path: string): (IndexedFile & { seen: boolean }) | undefined {
    this.#flush();
    const r = this.#get.get(path) as (IndexedFile & { seen: number }) | undefined;
    return r ? { ...r, seen: r.seen === 1 } : undefined;
  }

  /** Whether path is indexed and not seen yet (does not mark it). */
  unseenHas(path: string): boolean {
    this.#flush();
    return Boolean(this.#db.prepare('select 1 from rows where path = ? and seen = 0').get(path));
  }

  unseenCount(): number {
    this.#flush();
    return (this.#db.prepare('select count(*) as n from rows where seen = 0').get() as { n: number }).n;
  }

  /** Up to `limit` paths not seen, in byte order. */
  unseen(limit: number): string[] {
    this.#flush();
    return this.#db.prepare('select path from rows where seen = 0 order by path limit ?').pluck().all(limit) as string[];
  }

  close(): void {
    this.#db.close();
  }
}

export interface GroupKeeper {
  /** The name whose entry holds the group's content. */
  path: string;
  size: number;
  sha256: string;
  /** Its file's device and inode when archived from a local tree ('' otherwise). */
  fileId: string;
}

/**
 * A scratch map content_group -> the first name archived with that content, on disk, so that
 * backup stores each shared content once without holding every group in memory.
 */
export class GroupKeepers {
  readonly #db: Database.Database;
  readonly #set: Database.Statement;
  readonly #get: Database.Statement;

  /** `file` is created (and is the caller's to remove, with its directory). */
  constructor(file: string) {
    this.#db = scratchDb(file, 'create table keepers (grp integer primary key, path text not null, size integer not null, sha256 text not null, file_id text not null)');
    this.#set = this.#db.prepare('insert or ignore into keepers (grp, path, size, sha256, file_id) values (?, ?, ?, ?, ?)');
    this.#get = this.#db.prepare('select path, size, sha256, file_id as fileId from keepers where grp = ?');
  }

  set(group: number, k: GroupKeeper): void {
    this.#set.run(group, k.path, k.size, k.sha256, k.fileId);
  }

  get(group: number): GroupKeeper | undefined {
    return this.#get.get(group) as GroupKeeper | undefined;
  }

  close(): void {
    this.#db.close();
  }
}
