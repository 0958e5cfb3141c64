import { AsyncLocalStorage } from 'node:async_hooks';
import { StationError } from '../api/errors.js';
import type { AuditHead } from './audit-anchor.js';
import type { AuditLog, AuditRecord } from './audit.js';
import type { RunResult, SqlParams, SqlWriter, SqliteConnection } from './database.js';

/** What a transaction's work gets: statements inside BEGIN ... COMMIT, and the audit log of the change. */
export interface Transaction extends SqlWriter {
  /** Who makes the change, e.g. `cli:alice` or `operator:bob`; written on every audit row. */
  readonly actor: string;
  /** Appends one hash-chained audit row in this transaction. */
  audit(action: string, subject: string, details?: Record<string, unknown>): Promise<void>;
  /** Appends several rows at once (bulk changes). */
  auditMany(records: readonly AuditRecord[]): Promise<void>;
}

/**
 * Serializes transactions on the one connection: sqlite3 is asynchronous, so without a queue two
 * callers' statements would interleave inside one BEGIN ... COMMIT.
 */
export class TransactionRunner {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly inside = new AsyncLocalStorage<true>();

  constructor(
    private readonly connection: SqliteConnection,
    private readonly auditLog: AuditLog,
    private readonly afterCommit: (head: AuditHead) => Promise<void>,
  ) {}

  run<T>(actor: string, work: (tx: Transaction) => Promise<T>): Promise<T> {
    if (this.inside.getStore()) {
      // Waiting for our own transaction to finish would never end.
      throw new StationError(
        'internal.nested_transaction',
        'A registry transaction was started inside another; pass the open transaction instead.',
      );
    }
    if (actor.trim().length === 0)
      throw new StationError('internal.no_actor', 'Every registry change needs an actor for the audit log.');
    const turn = this.queue.then(() => this.inside.run(true, () => this.execute(actor, work)));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async execute<T>(actor: string, work: (tx: Transaction) => Promise<T>): Promise<T> {
    await this.connection.exec('BEGIN IMMEDIATE');
    const tx = new OpenTransaction(this.connection, this.auditLog, actor);
    let result: T;
    try {
      result = await work(tx);
      await tx.settle();
      await tx.writeAudit();
      await this.connection.exec('COMMIT');
    } catch (error) {
      // Statements still in flight would otherwise run after ROLLBACK, outside any transaction.
      await tx.settle().catch(() => undefined);
      await this.connection.exec('ROLLBACK');
      throw error;
    } finally {
      tx.close();
    }
    if (tx.auditHead) await this.afterCommit(tx.auditHead);
    return result;
  }
}

class OpenTransaction implements Transaction {
  auditHead: AuditHead | undefined;
  private open = true;
  private pendingAudit: AuditRecord[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly connection: SqliteConnection,
    private readonly auditLog: AuditLog,
    readonly actor: string,
  ) {}

  run(sql: string, params?: SqlParams): Promise<RunResult> {
    return this.track(() => this.connection.run(sql, params));
  }

  get<T extends object>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.track(() => this.connection.get<T>(sql, params));
  }

  all<T extends object>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.track(() => this.connection.all<T>(sql, params));
  }

  audit(action: string, subject: string, details?: Record<string, unknown>): Promise<void> {
    return this.auditMany([{ action, subject, details }]);
  }

  /**
   * Audit rows are collected and appended in one statement just before COMMIT (still inside the
   * transaction, in the order they were given): a provisioning transaction audits a dozen changes, and
   * one multi-row insert costs far less than a dozen round trips to SQLite's thread.
   */
  auditMany(records: readonly AuditRecord[]): Promise<void> {
    if (!this.open) return Promise.reject(closedTransaction());
    this.pendingAudit.push(...records);
    return Promise.resolve();
  }

  /** Appends the collected audit rows; called by the runner before COMMIT. */
  async writeAudit(): Promise<void> {
    if (this.pendingAudit.length === 0) return;
    const head = await this.auditLog.head(this);
    this.auditHead = await this.auditLog.append(this, head, this.actor, this.pendingAudit);
    this.pendingAudit = [];
  }

  /** Waits until every statement started in this transaction has finished. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  close(): void {
    this.open = false;
  }

  private track<T>(operation: () => Promise<T>): Promise<T> {
    if (!this.open) throw closedTransaction();
    const pending = operation();
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending)).catch(() => undefined);
    return pending;
  }
}

function closedTransaction(): StationError {
  return new StationError(
    'internal.transaction_closed',
    'A statement was run on a registry transaction that already ended.',
  );
}
