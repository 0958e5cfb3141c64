import path from 'node:path';
import { AuditAnchor } from './audit-anchor.js';
import { BillingGroupRegistry } from './billing-groups.js';
import { StationError } from '../api/errors.js';
import { AuditLog, anchorBreaks, auditHashAt, type AuditVerification } from './audit.js';
import { SqliteConnection, type SqlReader } from './database.js';
import { migrations as allMigrations, type Migration } from './migrations/index.js';
import { migrate, type MigrationOutcome } from './migrations/migrate.js';
import { ThingGroupRegistry } from './thing-groups.js';
import { ThingTypeRegistry } from './thing-types.js';
import { ThingRegistry } from './things.js';
import { TransactionRunner, type Transaction } from './transaction.js';

export interface RegistryOptions {
  /** Schema steps to apply; all of them unless a test builds an older registry. */
  readonly migrations?: readonly Migration[];
}

const inMemory = ':memory:';

/**
 * The station's SQLite registry: one connection, migrated at open. Writes happen only inside
 * `transaction()`, which also appends the audit rows of the change; reads go through the
 * table-family modules (or `reader` for modules built on top).
 */
export class Registry {
  readonly audit: AuditLog;
  readonly things: ThingRegistry;
  readonly thingTypes: ThingTypeRegistry;
  readonly thingGroups: ThingGroupRegistry;
  readonly billingGroups: BillingGroupRegistry;
  private readonly transactions: TransactionRunner;

  private constructor(
    private readonly connection: SqliteConnection,
    readonly file: string,
    readonly migration: MigrationOutcome,
    private readonly anchor: AuditAnchor | undefined,
  ) {
    this.audit = new AuditLog(connection, anchor);
    this.things = new ThingRegistry(connection);
    this.thingTypes = new ThingTypeRegistry(connection);
    this.thingGroups = new ThingGroupRegistry(connection);
    this.billingGroups = new BillingGroupRegistry(connection);
    this.transactions = new TransactionRunner(
      connection,
      this.audit,
      (head) => this.anchor?.advance(head) ?? Promise.resolve(),
    );
  }

  /** Opens (creating if needed) and migrates the registry file; `:memory:` for a throwaway registry. */
  static async open(file: string, options: RegistryOptions = {}): Promise<Registry> {
    const connection = await SqliteConnection.open(file);
    try {
      const migration = await migrate(connection, options.migrations ?? allMigrations);
      const anchor =
        file === inMemory
          ? undefined
          : new AuditAnchor(auditAnchorFile(file), (seq) => auditHashAt(connection, seq));
      const registry = new Registry(connection, file, migration, anchor);
      await registry.anchorEmptyLog();
      return registry;
    } catch (error) {
      await connection.close();
      throw error;
    }
  }

  /** Statements for reading outside a transaction (for modules built on the registry). */
  get reader(): SqlReader {
    return this.connection;
  }

  /**
   * Runs `work` as one transaction: queued behind any running one, BEGIN IMMEDIATE, COMMIT when it
   * resolves, ROLLBACK when it throws (nothing is left behind, audit rows included).
   */
  transaction<T>(actor: string, work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.transactions.run(actor, work);
  }

  async close(): Promise<void> {
    try {
      await this.anchor?.flush();
    } finally {
      await this.connection.close();
    }
  }

  /**
   * Re-anchors a log whose head file no longer matches it (missing, garbled, or naming a row the log no
   * longer holds unchanged), once the log's own chain verifies: an audit row records what the file held
   * and why, then the file names the new head. A broken chain cannot be re-anchored; nor is there
   * anything to do when the file matches.
   */
  async reanchor(actor: string): Promise<AuditVerification> {
    const anchor = this.anchor;
    if (!anchor) {
      throw new StationError('audit.no_anchor', 'An in-memory registry keeps no audit head file.');
    }
    const before = await this.audit.verify();
    const broken = before.firstBroken;
    if (!broken) {
      throw new StationError(
        'audit.anchor_intact',
        `The audit head file matches the log (row ${before.head.seq}); there is nothing to re-anchor.`,
      );
    }
    if (!anchorBreaks.has(broken.reason)) {
      throw new StationError(
        'audit.chain_broken',
        `The audit log's own chain is broken at row ${broken.seq} (${broken.message}); re-anchoring cannot make it whole, and the log stays as evidence.`,
      );
    }
    // A garbled file may still say how far the log had reached: its text goes into the log.
    const previousText = broken.reason === 'anchor-corrupt' ? await anchor.text(512) : undefined;
    await this.transaction(actor, (tx) =>
      tx.audit('audit.reanchor', path.basename(auditAnchorFile(this.file)), {
        reason: broken.reason,
        message: broken.message,
        previous: before.anchor ?? broken.reason,
        ...(previousText !== undefined && { previousText }),
        logHead: before.head,
      }),
    );
    anchor.reanchor(await this.audit.head());
    return this.audit.verify();
  }

  /** A new registry gets its anchor at once, so a later missing file means someone removed it. */
  private async anchorEmptyLog(): Promise<void> {
    if (!this.anchor) return;
    const head = await this.audit.head();
    if (head.seq === 0) await this.anchor.create(head);
  }
}

/** Where the audit head of a registry file is kept (see AuditAnchor). */
export function auditAnchorFile(registryFile: string): string {
  return `${registryFile}.audit-head.json`;
}
