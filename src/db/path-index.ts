// A scratch index of path -> (size, SHA-256) on disk, for checks over every row of an archive
// (each archived file against its own catalog row) without holding 200,000 rows in memory.
import Database from 'better-sqlite3';

export interface IndexedFile {
  size: number;
  sha256: string;
}

export class PathIndex {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #take: Database.Statement;
  #pending: [string, number, string][] = [];
  #duplicate: string | undefined;

  /** `file` is created (and is the caller's to remove, with its directory). */
  constructor(file: string) {
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = OFF');
    this.#db.pragma('synchronous = OFF');
    this.#db.exec('create table rows (path text primary key, size integer not null, sha256 text not null, seen integer not null default 0) without rowid');
    this.#insert = this.#db.prepare('insert or ignore into rows (path, size, sha256) values (?, ?, ?)');
    this.#take = this.#db.prepare('update rows set seen = 1 where path = ? and seen = 0 returning size, sha256');
  }

  /** Adds a row; a path added twice is remembered and reported by `duplicate`. */
  add(path: string, size: number, sha256: string): void {
    this.#pending.push([path, size, sha256]);
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
