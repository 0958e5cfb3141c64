import type { SqlReader } from './database.js';
import type { Transaction } from './transaction.js';

/**
 * Pending uploads (table `outbox`, design.md 9), written in the same transaction as the change they
 * carry. Each row is the latest state of one subject: a thing type, thing group, billing group, policy, thing or
 * certificate, or a link between two of them (a thing in a group, a policy on a certificate, a
 * certificate on a thing) that says whether it holds. (kind, subject) is unique. In queue order a link
 * comes after both its ends (writeUploads keeps it so); an upload that still meets a missing end (a
 * thing moved to a thing type made after it) retries it later, as it retries any failed call.
 */
export type OutboxKind =
  | 'thing-type'
  | 'thing-group'
  | 'billing-group'
  | 'policy'
  | 'thing'
  | 'certificate'
  | 'thing-group-member'
  | 'policy-attachment'
  | 'thing-principal';

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

/** The subject of a link row: both ends, as AWS names them in the call that makes the link. */
export function linkSubject(first: string, second: string): string {
  return `${first}|${second}`;
}

/** Rows per statement: SQLite parses the DELETE's chain of ORs as a tree at most 1,000 deep. */
const rowsPerStatement = 200;

/**
 * Writes a transaction's queued uploads, 200 rows per statement (a bulk create queues thousands). A row
 * not yet sent takes its new state where it stands, so the links queued after it (a thing's groups and
 * certificate) still come after it. A row already sent whose state changed goes to the end of the queue,
 * as a new row: the change is news to the cloud. The same state again changes nothing. The rows are not
 * audited themselves: the change that queued them is, in the same transaction.
 */
export async function writeUploads(tx: Transaction, entries: readonly OutboxRequest[]): Promise<void> {
  const now = new Date().toISOString();
  for (let start = 0; start < entries.length; start += rowsPerStatement) {
    const rows = entries
      .slice(start, start + rowsPerStatement)
      .map((entry) => ({ ...entry, payload: JSON.stringify(entry.payload) }));
    await tx.run(
      `DELETE FROM outbox WHERE sent_at IS NOT NULL
       AND (${rows.map(() => '(kind = ? AND subject = ? AND payload IS NOT ?)').join(' OR ')})`,
      rows.flatMap((row) => [row.kind, row.subject, row.payload]),
    );
    await tx.run(
      `INSERT INTO outbox (kind, subject, payload, created_at) VALUES ${rows.map(() => '(?, ?, ?, ?)').join(', ')}
       ON CONFLICT (kind, subject) DO UPDATE SET payload = excluded.payload
       WHERE outbox.sent_at IS NULL AND outbox.payload IS NOT excluded.payload`,
      rows.flatMap((row) => [row.kind, row.subject, row.payload, now]),
    );
  }
}

export class OutboxTable {
  constructor(private readonly reader: SqlReader) {}

  /** Queues a subject's new state for upload, written with the transaction's other changes. */
  enqueue(tx: Transaction, kind: OutboxKind, subject: string, payload: Record<string, unknown>): void {
    tx.queueUploads([{ kind, subject, payload }]);
  }

  /**
   * Changes fields of a subject's queued state (sent or not, or queued earlier in this transaction) and
   * makes it pending again; a subject never queued stays so. Returns whether there was a state to change.
   */
  async restate(
    tx: Transaction,
    kind: OutboxKind,
    subject: string,
    changes: Record<string, unknown>,
  ): Promise<boolean> {
    let payload = tx.queuedUpload(kind, subject);
    if (!payload) {
      const row = await tx.get<{ payload: string }>(
        'SELECT payload FROM outbox WHERE kind = ? AND subject = ?',
        [kind, subject],
      );
      if (!row) return false;
      payload = JSON.parse(row.payload) as Record<string, unknown>;
    }
    tx.queueUploads([{ kind, subject, payload: { ...payload, ...changes } }]);
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
