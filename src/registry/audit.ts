import path from 'node:path';
import { StationError } from '../api/errors.js';
import type { AuditAnchor, AuditHead } from './audit-anchor.js';
import { auditRowHash, canonicalJson, genesisHash } from './audit-chain.js';
import type { SqlParams, SqlReader, SqlWriter } from './database.js';

/** What a change records: who is added by the transaction (its actor), when by the clock. */
export interface AuditRecord {
  /** `family.verb`, e.g. `thing.create`. */
  readonly action: string;
  /** What it concerns: a thing name, certificate id, job id, ... */
  readonly subject: string;
  /** JSON-able facts of the change. Never secrets (keys, PINs, passphrases). */
  readonly details?: Record<string, unknown>;
}

/** One row to append: who made the change and what it was. */
export interface ActorRecord {
  actor: string;
  record: AuditRecord;
}

export interface AuditEntry {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly details: Record<string, unknown>;
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditQuery {
  readonly subject?: string;
  /** One action (`thing.create`), or every action of an area (`record.*`). */
  readonly action?: string;
  /** Rows after this seq, oldest first; without it the newest `limit` rows. */
  readonly afterSeq?: number;
  readonly limit?: number;
}

export type AuditBreak =
  | 'missing-row' // a gap in seq: rows were deleted
  | 'edited' // the row's hash does not match its content: edited, or moved to another seq
  | 'unlinked' // the row does not follow its predecessor: rows removed or reordered and re-hashed
  | 'truncated' // the anchor file remembers rows past the end of the log
  | 'anchor-mismatch' // the row the anchor remembers has another hash now
  | 'anchor-missing' // the log has rows but its anchor file is gone
  | 'anchor-corrupt'; // the anchor file is not a head record: edited, or damaged

/** The breaks in which the log's own chain holds and only its head file disagrees (Registry.reanchor). */
export const anchorBreaks: ReadonlySet<AuditBreak> = new Set([
  'truncated',
  'anchor-mismatch',
  'anchor-missing',
  'anchor-corrupt',
]);

export interface AuditVerification {
  readonly ok: boolean;
  readonly rows: number;
  readonly head: AuditHead;
  /** The head remembered outside SQLite; null when the registry has no anchor file (in-memory). */
  readonly anchor: AuditHead | null;
  readonly firstBroken?: { readonly seq: number; readonly reason: AuditBreak; readonly message: string };
}

interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: string;
  prev_hash: string;
  hash: string;
}

const actionPattern = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;
const columnsPerRow = 8;
const rowsPerInsert = 500; // 4,000 parameters, well under SQLite's 32,766
const verifyBatch = 5_000;
const defaultListLimit = 50;

/** The hash of row `seq` (seq 0: the empty log's), or undefined when the log has no such row. */
export async function auditHashAt(reader: SqlReader, seq: number): Promise<string | undefined> {
  if (seq === 0) return genesisHash;
  const row = await reader.get<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = ?', [seq]);
  return row?.hash;
}

/** The append-only, hash-chained audit log (design.md 4, 11). Appending happens through a transaction. */
export class AuditLog {
  constructor(
    private readonly reader: SqlReader,
    private readonly anchor: AuditAnchor | undefined,
  ) {}

  async head(reader: SqlReader = this.reader): Promise<AuditHead> {
    const row = await reader.get<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    return row ?? { seq: 0, hash: genesisHash };
  }

  /**
   * Appends rows after `head` inside the caller's transaction and returns the new head. The caller
   * holds the write lock (BEGIN IMMEDIATE), so `head` cannot move under it.
   */
  async append(writer: SqlWriter, head: AuditHead, rows: readonly ActorRecord[]): Promise<AuditHead> {
    let { seq, hash } = head;
    const values: (string | number)[] = [];
    for (const { actor, record } of rows) {
      assertAuditRecord(record);
      seq += 1;
      const content = {
        seq,
        at: new Date().toISOString(),
        actor,
        action: record.action,
        subject: record.subject,
        details: canonicalJson(record.details ?? {}),
      };
      const rowHash = auditRowHash(hash, content);
      values.push(
        content.seq,
        content.at,
        content.actor,
        content.action,
        content.subject,
        content.details,
        hash,
        rowHash,
      );
      hash = rowHash;
    }
    for (let offset = 0; offset < values.length; offset += rowsPerInsert * columnsPerRow) {
      const chunk = values.slice(offset, offset + rowsPerInsert * columnsPerRow);
      const placeholders = Array.from(
        { length: chunk.length / columnsPerRow },
        () => '(?, ?, ?, ?, ?, ?, ?, ?)',
      ).join(', ');
      await writer.run(
        `INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES ${placeholders}`,
        chunk,
      );
    }
    return { seq, hash };
  }

  async list(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const limit = query.limit ?? defaultListLimit;
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.subject !== undefined) {
      where.push('subject = ?');
      params.push(query.subject);
    }
    if (query.action?.endsWith('.*')) {
      // Every action of an area ('record.*'): the range from 'record.' up to 'record/', the next character.
      const area = query.action.slice(0, -1);
      where.push('action >= ? AND action < ?');
      params.push(area, `${area.slice(0, -1)}/`);
    } else if (query.action !== undefined) {
      where.push('action = ?');
      params.push(query.action);
    }
    if (query.afterSeq !== undefined) {
      where.push('seq > ?');
      params.push(query.afterSeq);
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const order = query.afterSeq === undefined ? 'DESC' : 'ASC';
    const rows = await this.reader.all<AuditRow>(
      `SELECT * FROM audit_log ${filter} ORDER BY seq ${order} LIMIT ?`,
      [...params, limit],
    );
    if (order === 'DESC') rows.reverse();
    return rows.map(toEntry);
  }

  /** Walks the whole chain and reports the first row that breaks it. */
  async verify(): Promise<AuditVerification> {
    let previous: AuditHead = { seq: 0, hash: genesisHash };
    let rows = 0;
    await this.anchor?.flush();
    const state = this.anchor ? await this.anchor.read() : null;
    const anchor = typeof state === 'string' ? null : state;
    // The hash of the row the anchor names (seq 0 is the empty log), to compare once the walk ends.
    let anchoredHash = anchor?.seq === 0 ? genesisHash : undefined;
    for (;;) {
      const batch = await this.reader.all<AuditRow>(
        'SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?',
        [previous.seq, verifyBatch] satisfies SqlParams,
      );
      for (const row of batch) {
        const broken = checkRow(row, previous);
        if (broken)
          return {
            ok: false,
            rows,
            head: previous,
            anchor,
            firstBroken: broken,
          };
        if (row.seq === anchor?.seq) anchoredHash = row.hash;
        previous = { seq: row.seq, hash: row.hash };
        rows += 1;
      }
      if (batch.length < verifyBatch) break;
    }
    const head = previous;
    const broken = (
      seq: number,
      reason: AuditBreak,
      message: string,
      anchor: AuditHead | null = null,
    ): AuditVerification => ({ ok: false, rows, head, anchor, firstBroken: { seq, reason, message } });
    if (state === null) return { ok: true, rows, head, anchor: null };
    if (state === 'corrupt') {
      return broken(
        head.seq,
        'anchor-corrupt',
        `The audit head file ${path.basename(this.anchor?.file ?? '')} is not a head record (edited or damaged), so deleted or rewritten newest rows cannot be ruled out.`,
      );
    }
    if (state === 'missing') {
      if (rows === 0) return { ok: true, rows, head, anchor: null };
      return broken(
        head.seq,
        'anchor-missing',
        `The audit head file is missing although the log has ${rows} rows, so deleted newest rows cannot be ruled out.`,
      );
    }
    if (state.seq > head.seq) {
      return broken(
        head.seq + 1,
        'truncated',
        `Rows ${head.seq + 1} to ${state.seq} were deleted: the log ends at ${head.seq} but had reached ${state.seq}.`,
        state,
      );
    }
    if (anchoredHash !== state.hash) {
      return broken(
        state.seq,
        'anchor-mismatch',
        `Row ${state.seq} is not the row the audit head file remembers: the log was rewritten from there on.`,
        state,
      );
    }
    return { ok: true, rows, head, anchor: state };
  }
}

function checkRow(row: AuditRow, previous: AuditHead): AuditVerification['firstBroken'] {
  const expected = previous.seq + 1;
  if (row.seq !== expected) {
    const missing =
      row.seq > expected ? `${expected}${row.seq - 1 > expected ? ` to ${row.seq - 1}` : ''}` : `${expected}`;
    return {
      seq: expected,
      reason: 'missing-row',
      message: `Row ${missing} is missing: the log jumps from ${previous.seq} to ${row.seq}.`,
    };
  }
  if (auditRowHash(row.prev_hash, row) !== row.hash) {
    return {
      seq: row.seq,
      reason: 'edited',
      message: `Row ${row.seq} does not match its hash: it was edited or moved from another position.`,
    };
  }
  if (row.prev_hash !== previous.hash) {
    return {
      seq: row.seq,
      reason: 'unlinked',
      message: `Row ${row.seq} does not follow row ${previous.seq}: rows before it were removed or reordered.`,
    };
  }
  return undefined;
}

/** Throws internal.audit_record for a record that could not be appended (no action pattern, no subject). */
export function assertAuditRecord(record: AuditRecord): void {
  if (!actionPattern.test(record.action) || record.subject.length === 0) {
    throw new StationError(
      'internal.audit_record',
      `An audit record needs an action like "thing.create" and a subject; got "${record.action}" / "${record.subject}".`,
    );
  }
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    action: row.action,
    subject: row.subject,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
