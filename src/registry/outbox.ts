import type { SqlReader } from './database.js';
import type { Transaction } from './transaction.js';

/**
 * Pending uploads (table `outbox`, design.md 9), written in the same transaction as the change they
 * carry. (kind, subject) is unique, so a replayed change never queues twice. A thing type, thing group,
 * policy, thing or certificate row carries its subject's latest state: a change to it (a re-provisioned
 * thing's new plan, a revocation) replaces the row with one at the end of the queue, even once sent.
 */
export type OutboxKind =
  'thing-type' | 'thing-group' | 'policy' | 'thing' | 'certificate' | 'policy-attachment' | 'thing-principal';

/** Kinds whose row is the subject's latest state, replaced when it changes (the others are facts). */
const stateKinds: readonly OutboxKind[] = ['thing-type', 'thing-group', 'policy', 'thing', 'certificate'];

export interface OutboxRequest {
  kind: OutboxKind;
  subject: string;
  payload: Record<string, unknown>;
}

export interface OutboxEntry {
  id: number;
  kind: OutboxKind;
  subject: string;
  payload: Record<string, unknown>;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
}

export class OutboxTable {
  constructor(private readonly reader: SqlReader) {}

  /** Queues an upload; returns false when the same (kind, subject) is already queued. */
  async enqueue(
    tx: Transaction,
    kind: OutboxKind,
    subject: string,
    payload: Record<string, unknown>,
  ): Promise<boolean> {
    return (await this.enqueueMany(tx, [{ kind, subject, payload }])) === 1;
  }

  /**
   * Queues several uploads in one statement; returns how many were new or changed (the others were queued
   * already, as they are).
   */
  async enqueueMany(tx: Transaction, entries: readonly OutboxRequest[]): Promise<number> {
    if (entries.length === 0) return 0;
    const now = new Date().toISOString();
    const rows = entries.map((entry) => ({ ...entry, payload: JSON.stringify(entry.payload) }));
    // A changed state row goes to the end of the queue, as a new row: an upload reads in queue order, and
    // the change may name what was queued since (a thing moved into a group made after it).
    const changed = rows.filter((row) => stateKinds.includes(row.kind));
    if (changed.length > 0) {
      await tx.run(
        `DELETE FROM outbox WHERE ${changed.map(() => '(kind = ? AND subject = ? AND payload IS NOT ?)').join(' OR ')}`,
        changed.flatMap((row) => [row.kind, row.subject, row.payload]),
      );
    }
    const queued = await tx.all<{ kind: OutboxKind; subject: string }>(
      `INSERT INTO outbox (kind, subject, payload, created_at) VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')}
       ON CONFLICT (kind, subject) DO NOTHING RETURNING kind, subject`,
      rows.flatMap((row) => [row.kind, row.subject, row.payload, now]),
    );
    await tx.auditMany(
      queued.map((row) => ({ action: 'outbox.enqueue', subject: `${row.kind}:${row.subject}` })),
    );
    return queued.length;
  }

  /**
   * Changes fields of a state row already queued (sent or not) and makes it pending again; a subject
   * never queued stays so. Returns whether there was a row.
   */
  async restate(
    tx: Transaction,
    kind: OutboxKind,
    subject: string,
    changes: Record<string, unknown>,
  ): Promise<boolean> {
    const row = await tx.get<{ payload: string }>(
      'SELECT payload FROM outbox WHERE kind = ? AND subject = ?',
      [kind, subject],
    );
    if (!row) return false;
    const payload = { ...(JSON.parse(row.payload) as Record<string, unknown>), ...changes };
    await this.enqueueMany(tx, [{ kind, subject, payload }]);
    return true;
  }

  async pending(limit = 100): Promise<OutboxEntry[]> {
    const rows = await this.reader.all<{
      id: number;
      kind: OutboxKind;
      subject: string;
      payload: string;
      attempts: number;
      last_error: string | null;
      created_at: string;
      sent_at: string | null;
    }>(
      'SELECT id, kind, subject, payload, attempts, last_error, created_at, sent_at FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?',
      [limit],
    );
    return rows.map((row) => ({
      id: row.id,
      kind: row.kind,
      subject: row.subject,
      payload: JSON.parse(row.payload) as Record<string, unknown>,
      attempts: row.attempts,
      lastError: row.last_error,
      createdAt: row.created_at,
      sentAt: row.sent_at,
    }));
  }

  async count(): Promise<number> {
    const row = await this.reader.get<{ n: number }>('SELECT count(*) AS n FROM outbox');
    return row?.n ?? 0;
  }
}
