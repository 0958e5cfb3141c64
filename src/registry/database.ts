import sqlite3 from 'sqlite3';
import { StationError } from '../api/errors.js';

/** A value SQLite stores: what we bind as a parameter and what comes back in a column. */
export type SqlValue = string | number | bigint | Buffer | null;
export type SqlParams = readonly SqlValue[];
export type SqlRow = Record<string, SqlValue>;

export interface RunResult {
  /** Rows inserted, updated or deleted by the statement. */
  readonly changes: number;
  /** Rowid of the last inserted row (INTEGER PRIMARY KEY tables). */
  readonly lastId: number;
}

/** Reading: available on the registry at any time and inside a transaction. */
export interface SqlReader {
  /** First row or undefined; write LIMIT 1 where more rows could match. */
  get<T extends object = SqlRow>(sql: string, params?: SqlParams): Promise<T | undefined>;
  all<T extends object = SqlRow>(sql: string, params?: SqlParams): Promise<T[]>;
}

/** Writing: only a transaction hands this out, so every write is inside BEGIN ... COMMIT. */
export interface SqlWriter extends SqlReader {
  run(sql: string, params?: SqlParams): Promise<RunResult>;
}

// Dynamic SQL (multi-row inserts, combined searches) makes many shapes; keep the hot ones prepared.
const statementCacheSize = 256;
const busyTimeoutMs = 5_000;

/**
 * One sqlite3 connection behind promises, with prepared statements cached by SQL text.
 * node-sqlite3 runs each statement on the libuv pool and queues the operations of one statement
 * in order, so a cached statement may be shared by concurrent callers.
 */
export class SqliteConnection implements SqlWriter {
  private readonly statements = new Map<string, sqlite3.Statement>();

  private constructor(
    private readonly db: sqlite3.Database,
    readonly file: string,
  ) {}

  static async open(file: string): Promise<SqliteConnection> {
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const handle = new sqlite3.Database(file, (error) => (error ? reject(error) : resolve(handle)));
    }).catch((error: unknown) => {
      throw new StationError(
        'registry.unopenable',
        `Cannot open the registry ${file}: ${messageOf(error)}.`,
        {
          cause: error,
        },
      );
    });
    const connection = new SqliteConnection(db, file);
    db.configure('busyTimeout', busyTimeoutMs);
    // WAL lets readers (UI, CLI) run while the pipeline writes; NORMAL sync is durable under WAL
    // except for the last commits on power loss, which the audit anchor file detects.
    await connection.exec(
      // A 64 MiB page cache (SQLite's default is 2 MiB) keeps a large registry's search indexes in
      // memory; a search by group touches things scattered over the whole table.
      'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;',
    );
    return connection;
  }

  /** Runs a script of several statements (migrations, pragmas); no parameters. */
  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.db.exec(sql, (error) => (error ? reject(toRegistryError(error)) : resolve()));
    });
  }

  run(sql: string, params: SqlParams = []): Promise<RunResult> {
    const statement = this.prepared(sql);
    return new Promise((resolve, reject) => {
      statement.run(params, function (this: sqlite3.RunResult, error: Error | null) {
        if (error) reject(toRegistryError(error));
        else resolve({ changes: this.changes, lastId: this.lastID });
      });
    });
  }

  async get<T extends object = SqlRow>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    // Statement#get leaves the statement mid-step (holding a read snapshot) unless it is reset, so
    // read through #all, which runs the statement to completion.
    const rows = await this.all<T>(sql, params);
    return rows[0];
  }

  all<T extends object = SqlRow>(sql: string, params: SqlParams = []): Promise<T[]> {
    const statement = this.prepared(sql);
    return new Promise((resolve, reject) => {
      statement.all(params, (error: Error | null, rows: T[]) => {
        if (error) reject(toRegistryError(error));
        else resolve(rows);
      });
    });
  }

  async close(): Promise<void> {
    const statements = [...this.statements.values()];
    this.statements.clear();
    await Promise.all(
      statements.map((statement) => new Promise<void>((resolve) => statement.finalize(() => resolve()))),
    );
    await new Promise<void>((resolve, reject) => {
      this.db.close((error) => (error ? reject(toRegistryError(error)) : resolve()));
    });
  }

  private prepared(sql: string): sqlite3.Statement {
    const cached = this.statements.get(sql);
    if (cached) {
      // Move to the back: the map's insertion order is the eviction order (least recently used first).
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
    const statement = this.db.prepare(sql);
    this.statements.set(sql, statement);
    if (this.statements.size > statementCacheSize) {
      const [oldestSql, oldest] = this.statements.entries().next().value as [string, sqlite3.Statement];
      this.statements.delete(oldestSql);
      oldest.finalize(); // queued behind any operation still pending on it
    }
    return statement;
  }
}

/** sqlite3 errors carry a code such as SQLITE_CONSTRAINT; keep it for callers that map constraints. */
export interface SqliteError extends Error {
  code?: string;
  errno?: number;
}

export function isConstraintError(error: unknown): boolean {
  return error instanceof StationError && error.details?.sqliteCode === 'SQLITE_CONSTRAINT';
}

function toRegistryError(error: SqliteError): StationError {
  const busy = error.code === 'SQLITE_BUSY';
  return new StationError(
    busy ? 'registry.busy' : 'registry.sql_failed',
    busy
      ? 'The registry is locked by another program; close it or retry in a moment.'
      : `The registry refused a statement: ${error.message}.`,
    { userFault: busy, details: { sqliteCode: error.code ?? 'unknown' }, cause: error },
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
