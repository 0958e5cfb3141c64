import { AsyncLocalStorage } from 'node:async_hooks';
import { StationError } from '../api/errors.js';
import type { AuditHead } from './audit-anchor.js';
import { assertAuditRecord, type ActorRecord, type AuditLog, type AuditRecord } from './audit.js';
import type { RunResult, SqlParams, SqlWriter, SqliteConnection } from './database.js';
import { writeUploads, type OutboxKind, type OutboxRequest } from './outbox.js';

/** What a transaction's work gets: statements inside BEGIN ... COMMIT, and the audit log of the change. */
export interface Transaction extends SqlWriter {
  /** Who makes the change, e.g. `cli:alice` or `operator:bob`; written on every audit row. */
  readonly actor: string;
  /** Appends one hash-chained audit row in this transaction. */
  audit(action: string, subject: string, details?: Record<string, unknown>): Promise<void>;
  /** Appends several rows at once (bulk changes). */
  auditMany(records: readonly AuditRecord[]): Promise<void>;
  /**
   * Queues the new state of subjects for a later upload (outbox rows). They are written once the work is
   * done, in one go, in the order queued; a subject queued twice keeps its last state at its first place,
   * so the links queued after it stay after it.
   */
  queueUploads(entries: readonly OutboxRequest[]): void;
  /** The state this transaction has queued for the subject so far, if any. */
  queuedUpload(kind: OutboxKind, subject: string): Record<string, unknown> | undefined;
}

interface Queued {
  actor: string;
  work: (tx: Transaction) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Bounds how long the last of a group waits for the others, and how much one COMMIT carries. */
const maxGroupSize = 32;

/**
 * Serializes transactions on the one connection (a transaction's work awaits between its statements:
 * without a queue two callers' statements would interleave inside one BEGIN ... COMMIT) and commits them
 * in groups: the transactions that queued while one group ran share the next BEGIN ... COMMIT, one audit
 * append and one WAL write of the pages they all touch.
 *
 * Each transaction after the first of a group runs inside its own SAVEPOINT, so one that throws is rolled
 * back alone and the others still commit, exactly as if each had had its own BEGIN ... COMMIT in queue
 * order. Callers hear of their transaction only once its group has committed (or failed to).
 */
export class TransactionRunner {
  private queue: Queued[] = [];
  private draining = false;
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
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ actor, work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, maxGroupSize);
        // commitGroup settles every member; this only guards against a bug leaving callers waiting forever.
        await this.commitGroup(group).catch((error: unknown) =>
          group.forEach((member) => member.reject(error)),
        );
      }
    } finally {
      this.draining = false;
    }
  }

  private async commitGroup(group: Queued[]): Promise<void> {
    try {
      await this.connection.begin();
    } catch (error) {
      for (const member of group) member.reject(error);
      return;
    }
    const committed: { member: Queued; result: unknown }[] = [];
    const auditRows: ActorRecord[] = [];
    for (const [index, member] of group.entries()) {
      const savepoint = index > 0;
      const tx = new OpenTransaction(this.connection, member.actor);
      try {
        // Savepoints are not released: each nests in the one before and COMMIT releases them all, which
        // saves a round trip to SQLite per member (a group holds at most maxGroupSize of them).
        if (savepoint) await this.connection.exec('SAVEPOINT member');
        const result = await this.runWork(member, tx);
        await tx.settle();
        await tx.writeUploads();
        committed.push({ member, result });
        auditRows.push(...tx.auditRows());
      } catch (error) {
        // Statements still in flight would otherwise run after the rollback, outside it; and a branch of
        // the work still going (a Promise.all) is refused any further statement from here on.
        await tx.settle().catch(() => undefined);
        tx.close();
        if (!savepoint) {
          // The first member has the transaction to itself: roll it back and start the rest afresh.
          await this.connection.exec('ROLLBACK').catch(() => undefined);
          member.reject(error);
          this.queue.unshift(...group.slice(1));
          return;
        }
        try {
          // Back to this member's own savepoint (the innermost of that name); earlier members keep theirs.
          await this.connection.exec('ROLLBACK TO member');
        } catch (rollbackError) {
          member.reject(error);
          return this.abandon(group.slice(index + 1), committed, rollbackError);
        }
        member.reject(error);
      } finally {
        tx.close();
      }
    }
    let head: AuditHead | undefined;
    try {
      if (auditRows.length > 0) {
        head = await this.auditLog.append(
          this.connection,
          await this.auditLog.head(this.connection),
          auditRows,
        );
      }
      await this.connection.exec('COMMIT');
    } catch (error) {
      return this.abandon([], committed, error);
    }
    try {
      if (head) await this.afterCommit(head);
    } catch (error) {
      // Committed, but the audit head file could not follow: callers hear it, as before grouping.
      for (const { member } of committed) member.reject(error);
      return;
    }
    for (const { member, result } of committed) member.resolve(result);
  }

  /**
   * Runs a transaction's work where run() can tell a call from inside it. AsyncLocalStorage hooks every
   * promise of the process while it is enabled (in Node 20 an await then costs ~3x as much; the bench's
   * profile spent half as long in the hooks once they were off between transactions), so it is enabled
   * only while some work runs.
   */
  private async runWork(member: Queued, tx: Transaction): Promise<unknown> {
    try {
      return await this.inside.run(true, () => member.work(tx));
    } finally {
      this.inside.disable();
    }
  }

  /** The group cannot commit (disk full, a failed rollback): nothing of it stays, and every caller hears why. */
  private async abandon(notRun: Queued[], committed: { member: Queued }[], error: unknown): Promise<void> {
    await this.connection.exec('ROLLBACK').catch(() => undefined);
    for (const { member } of committed) member.reject(error);
    for (const member of notRun) member.reject(error);
  }
}

class OpenTransaction implements Transaction {
  private open = true;
  private readonly pendingAudit: AuditRecord[] = [];
  private readonly pendingUploads = new Map<string, OutboxRequest>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly connection: SqliteConnection,
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
   * Audit rows are collected and appended in one statement for the whole group just before COMMIT, in
   * the order they were given: a provisioning transaction audits a dozen changes, and one multi-row insert
   * costs far less than a dozen round trips to SQLite's thread. A malformed record fails here, in the work.
   */
  auditMany(records: readonly AuditRecord[]): Promise<void> {
    if (!this.open) return Promise.reject(closedTransaction());
    try {
      records.forEach(assertAuditRecord);
    } catch (error) {
      return Promise.reject(error);
    }
    this.pendingAudit.push(...records);
    return Promise.resolve();
  }

  queueUploads(entries: readonly OutboxRequest[]): void {
    if (!this.open) throw closedTransaction();
    for (const entry of entries) this.pendingUploads.set(uploadKey(entry.kind, entry.subject), entry);
  }

  queuedUpload(kind: OutboxKind, subject: string): Record<string, unknown> | undefined {
    return this.pendingUploads.get(uploadKey(kind, subject))?.payload;
  }

  /** Writes the queued uploads (the runner calls it once the work has settled, before COMMIT). */
  async writeUploads(): Promise<void> {
    if (this.pendingUploads.size === 0) return;
    const entries = [...this.pendingUploads.values()];
    this.pendingUploads.clear();
    await writeUploads(this, entries);
  }

  auditRows(): ActorRecord[] {
    return this.pendingAudit.map((record) => ({ actor: this.actor, record }));
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

function uploadKey(kind: OutboxKind, subject: string): string {
  return `${kind}\u0000${subject}`;
}

function closedTransaction(): StationError {
  return new StationError(
    'internal.transaction_closed',
    'A statement was run on a registry transaction that already ended.',
  );
}
