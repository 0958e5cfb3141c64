import { DatabaseSync, type DatabaseSyncInstance, type StatementSyncInstance } from '@photostructure/sqlite';
import { StationError } from '../api/errors.js';

/** A value SQLite stores: what we bind as a parameter and what comes back in a column. */
export type SqlValue = string | number | bigint | Uint8Array | null;
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
/**
 * How long one statement may block waiting for another program's lock. Statements run synchronously on
 * the event loop, so this stays short; taking the write lock (begin) waits longer, without blocking.
 */
const lockWaitMs = 20;
const beginTimeoutMs = 5_000;

/**
 * One SQLite connection with prepared statements cached by SQL text. Statements run synchronously (the
 * API of Node's own node:sqlite, as an N-API addon that also loads in Electron): a registry statement
 * takes microseconds, where a trip to a thread pool and back costs tens of them in CPU and far more in
 * latency on a busy bench. The methods still return promises, so callers do not depend on that.
 */
export class SqliteConnection implements SqlWriter {
  private readonly statements = new Map<string, StatementSyncInstance>();

  private constructor(
    private readonly db: DatabaseSyncInstance,
    readonly file: string,
  ) {}

  static async open(file: string): Promise<SqliteConnection> {
    let db: DatabaseSyncInstance;
    try {
      db = new DatabaseSync(file, { timeout: lockWaitMs, enableDoubleQuotedStringLiterals: false });
    } catch (error) {
      throw new StationError(
        'registry.unopenable',
        `Cannot open the registry ${file}: ${messageOf(error)}.`,
        { cause: error },
      );
    }
    const connection = new SqliteConnection(db, file);
    // WAL lets readers (UI, CLI) run while the pipeline writes; NORMAL sync is durable under WAL
    // except for the last commits on power loss, which the audit anchor file detects.
    try {
      await connection.exec(
        // A 64 MiB page cache (SQLite's default is 2 MiB) keeps a large registry's search indexes in
        // memory; a search by group touches things scattered over the whole table.
        'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;',
      );
    } catch (error) {
      db.close();
      // Even reading takes writing here: WAL mode needs its shared-memory file.
      if (error instanceof StationError && error.code === 'registry.read-only') {
        throw new StationError(
          'registry.read-only',
          `The registry ${file} is read-only for this user; run the station as the user who owns the data folder, or choose a folder you can write (--data DIR).`,
          { cause: error },
        );
      }
      throw error;
    }
    return connection;
  }

  /** Runs a script of several statements (migrations, pragmas); no parameters. */
  exec(sql: string): Promise<void> {
    return settled(() => this.db.exec(sql));
  }

  /**
   * BEGIN IMMEDIATE: takes the write lock, waiting (without blocking the event loop) while another
   * program holds it, up to a few seconds; then registry.busy.
   */
  async begin(timeoutMs = beginTimeoutMs): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        const failure = toRegistryError(error);
        if (failure.code !== 'registry.busy' || performance.now() + pause > deadline) throw failure;
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  run(sql: string, params: SqlParams = []): Promise<RunResult> {
    return settled(() => {
      const result = this.prepared(sql).run(...bindable(params));
      return { changes: Number(result.changes), lastId: Number(result.lastInsertRowid) };
    });
  }

  get<T extends object = SqlRow>(sql: string, params: SqlParams = []): Promise<T | undefined> {
    return settled(() => this.prepared(sql).get(...bindable(params)) as T | undefined);
  }

  all<T extends object = SqlRow>(sql: string, params: SqlParams = []): Promise<T[]> {
    return settled(() => this.prepared(sql).all(...bindable(params)) as T[]);
  }

  close(): Promise<void> {
    this.statements.clear();
    // Everything back into the database file and the WAL emptied, so that the file alone holds every
    // commit (a copy of it is a whole backup). SQLite does this itself when its last connection closes,
    // but cached statements not yet collected keep this connection from really closing until they are.
    // Another program still reading keeps the rest in the WAL, which is as safe: the next open reads it.
    if (this.file !== ':memory:' && this.file !== '') {
      try {
        this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      } catch {
        // As above: the WAL keeps the commits.
      }
    }
    return settled(() => this.db.close());
  }

  private prepared(sql: string): StatementSyncInstance {
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
      // Dropped statements are finalized when collected.
      this.statements.delete(this.statements.keys().next().value as string);
    }
    return statement;
  }
}

/** A synchronous SQLite call's result, or its error as a StationError, as a promise. */
function settled<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(toRegistryError(error));
  }
}

/** SQLite binds no `undefined`; NULL is what a missing optional value means here. */
function bindable(params: SqlParams): SqlParams {
  return params.includes(undefined as never) ? params.map((value) => value ?? null) : params;
}

/** SQLite errors carry their primary result code by name (SQLITE_CONSTRAINT, SQLITE_BUSY, ...). */
interface SqliteError extends Error {
  sqliteCodeName?: string;
}

export function isConstraintError(error: unknown): boolean {
  return error instanceof StationError && error.details?.sqliteCode === 'SQLITE_CONSTRAINT';
}

function toRegistryError(error: unknown): StationError {
  if (error instanceof StationError) return error;
  const code = (error as SqliteError).sqliteCodeName ?? 'unknown';
  if (code === 'SQLITE_READONLY') {
    return new StationError(
      'registry.read-only',
      `The registry cannot be written by this user (${messageOf(error)}); run the station as the user who owns the data folder.`,
      { details: { sqliteCode: code }, cause: error },
    );
  }
  const busy = code === 'SQLITE_BUSY';
  return new StationError(
    busy ? 'registry.busy' : 'registry.sql_failed',
    busy
      ? 'The registry is locked by another program; close it or retry in a moment.'
      : `The registry refused a statement: ${messageOf(error)}.`,
    { userFault: busy, details: { sqliteCode: code }, cause: error },
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
