import { StationError } from '../api/errors.js';
import { isConstraintError, type SqlReader, type SqlValue } from './database.js';
import { OutboxTable, type OutboxRequest } from './outbox.js';
import type { Transaction } from './transaction.js';

/**
 * CA certificates and device certificates (tables of migration 1). Ids are the SHA-256 of the DER in
 * lowercase hex (aws-iot-spec.md 5). Every change writes its audit row in the caller's transaction.
 * No key material is ever stored here: a CA row names its key in the key store (label + id) only.
 */
export type CaStatus = 'ACTIVE' | 'DISABLED';
export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED' | 'PENDING_ACTIVATION';
export const certificateStatuses: readonly CertificateStatus[] = [
  'ACTIVE',
  'INACTIVE',
  'REVOKED',
  'PENDING_ACTIVATION',
];
export type KeyOrigin = 'device' | 'hsm-injected' | 'external' | 'claim';

export interface CaCertificateRecord {
  id: string;
  name: string;
  /** The CA certificate first, then its issuers up to the root (a single block for a root). */
  pem: string;
  subject: string;
  serialHex: string;
  notBefore: string;
  notAfter: string;
  /** Where the key lives in the key store; absent for an external CA (the station holds no key). */
  keyLabel?: string;
  keyId?: string;
  status: CaStatus;
  external: boolean;
  createdAt: string;
}

export type NewCaCertificate = Omit<CaCertificateRecord, 'status' | 'createdAt'>;

export interface CertificateRecord {
  id: string;
  caId?: string;
  pem: string;
  subject: string;
  serialHex: string;
  notBefore: string;
  notAfter: string;
  status: CertificateStatus;
  keyOrigin: KeyOrigin;
  revokedAt?: string;
  revocationReason?: string;
  jobId?: number;
  createdAt: string;
}

export type NewCertificate = Omit<CertificateRecord, 'createdAt' | 'revokedAt' | 'revocationReason'>;

interface CaRow {
  id: string;
  name: string;
  pem: string;
  subject: string;
  serial_hex: string;
  not_before: string;
  not_after: string;
  key_label: string | null;
  key_id: string | null;
  status: CaStatus;
  external: number;
  created_at: string;
}

interface CertificateRow {
  id: string;
  ca_id: string | null;
  pem: string;
  subject: string;
  serial_hex: string;
  not_before: string;
  not_after: string;
  status: CertificateStatus;
  key_origin: KeyOrigin;
  revoked_at: string | null;
  revocation_reason: string | null;
  job_id: number | null;
  created_at: string;
}

const caColumns =
  'id, name, pem, subject, serial_hex, not_before, not_after, key_label, key_id, status, external, created_at';
const certificateColumns =
  'id, ca_id, pem, subject, serial_hex, not_before, not_after, status, key_origin, revoked_at, revocation_reason, job_id, created_at';
/** The same columns of `certificates c` in a join. */
const joinedCertificateColumns = certificateColumns
  .split(', ')
  .map((column) => `c.${column}`)
  .join(', ');

function toCa(row: CaRow): CaCertificateRecord {
  return {
    id: row.id,
    name: row.name,
    pem: row.pem,
    subject: row.subject,
    serialHex: row.serial_hex,
    notBefore: row.not_before,
    notAfter: row.not_after,
    ...(row.key_label !== null && { keyLabel: row.key_label }),
    ...(row.key_id !== null && { keyId: row.key_id }),
    status: row.status,
    external: row.external === 1,
    createdAt: row.created_at,
  };
}

function toCertificate(row: CertificateRow): CertificateRecord {
  return {
    id: row.id,
    ...(row.ca_id !== null && { caId: row.ca_id }),
    pem: row.pem,
    subject: row.subject,
    serialHex: row.serial_hex,
    notBefore: row.not_before,
    notAfter: row.not_after,
    status: row.status,
    keyOrigin: row.key_origin,
    ...(row.revoked_at !== null && { revokedAt: row.revoked_at }),
    ...(row.revocation_reason !== null && { revocationReason: row.revocation_reason }),
    ...(row.job_id !== null && { jobId: row.job_id }),
    createdAt: row.created_at,
  };
}

/** A device certificate's state for a later upload (RegisterCertificate); revocation restates it. */
export function certificateUpload(certificate: CertificateRecord): OutboxRequest {
  return {
    kind: 'certificate',
    subject: certificate.id,
    payload: { certificatePem: certificate.pem, caId: certificate.caId, status: certificate.status },
  };
}

export class CaCertificateTable {
  constructor(private readonly reader: SqlReader) {}

  async insert(tx: Transaction, ca: NewCaCertificate): Promise<CaCertificateRecord> {
    const createdAt = new Date().toISOString();
    try {
      await tx.run(
        `INSERT INTO ca_certificates (${caColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ACTIVE', ?, ?)`,
        [
          ca.id,
          ca.name,
          ca.pem,
          ca.subject,
          ca.serialHex,
          ca.notBefore,
          ca.notAfter,
          ca.keyLabel ?? null,
          ca.keyId ?? null,
          ca.external ? 1 : 0,
          createdAt,
        ],
      );
    } catch (error) {
      if (!isConstraintError(error)) throw error;
      throw new StationError(
        'pki.ca-exists',
        `A CA named '${ca.name}' or with this certificate is already in the registry; choose another name.`,
        { subject: ca.name },
      );
    }
    await tx.audit(ca.external ? 'ca.register' : 'ca.create', ca.name, {
      id: ca.id,
      subject: ca.subject,
      external: ca.external,
      ...(ca.keyLabel !== undefined && { keyLabel: ca.keyLabel }),
    });
    return { ...ca, status: 'ACTIVE', createdAt };
  }

  async byName(name: string, reader: SqlReader = this.reader): Promise<CaCertificateRecord | undefined> {
    const row = await reader.get<CaRow>(`SELECT ${caColumns} FROM ca_certificates WHERE name = ?`, [name]);
    return row && toCa(row);
  }

  async byId(id: string, reader: SqlReader = this.reader): Promise<CaCertificateRecord | undefined> {
    const row = await reader.get<CaRow>(`SELECT ${caColumns} FROM ca_certificates WHERE id = ?`, [id]);
    return row && toCa(row);
  }

  async list(): Promise<CaCertificateRecord[]> {
    const rows = await this.reader.all<CaRow>(`SELECT ${caColumns} FROM ca_certificates ORDER BY name`);
    return rows.map(toCa);
  }

  /** Sets ACTIVE/DISABLED; returns false when the name is unknown. */
  async setStatus(tx: Transaction, name: string, status: CaStatus): Promise<boolean> {
    const result = await tx.run('UPDATE ca_certificates SET status = ? WHERE name = ?', [status, name]);
    if (result.changes === 0) return false;
    await tx.audit(status === 'DISABLED' ? 'ca.disable' : 'ca.enable', name);
    return true;
  }
}

export interface CertificateQuery {
  caId?: string;
  status?: CertificateStatus;
  /** Keyset pagination: rows created after this id's row (order: created_at, id). */
  afterId?: string;
  limit?: number;
}

// SQLite's default limit of bound parameters is 32,766; 11 per row leaves room for ~2,900 rows.
const rowsPerInsert = 500;

export class CertificateTable {
  constructor(private readonly reader: SqlReader) {}

  async insert(tx: Transaction, certificate: NewCertificate): Promise<CertificateRecord> {
    const [record] = await this.insertMany(tx, [certificate]);
    return record!;
  }

  /** Inserts many certificates with multi-row statements and one audit append (the bulk issuance path). */
  async insertMany(tx: Transaction, certificates: readonly NewCertificate[]): Promise<CertificateRecord[]> {
    const createdAt = new Date().toISOString();
    for (let start = 0; start < certificates.length; start += rowsPerInsert) {
      const chunk = certificates.slice(start, start + rowsPerInsert);
      const values: SqlValue[] = [];
      for (const certificate of chunk) {
        values.push(
          certificate.id,
          certificate.caId ?? null,
          certificate.pem,
          certificate.subject,
          certificate.serialHex,
          certificate.notBefore,
          certificate.notAfter,
          certificate.status,
          certificate.keyOrigin,
          certificate.jobId ?? null,
          createdAt,
        );
      }
      const placeholders = chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
      try {
        await tx.run(
          `INSERT INTO certificates (id, ca_id, pem, subject, serial_hex, not_before, not_after, status, key_origin, job_id, created_at) VALUES ${placeholders}`,
          values,
        );
      } catch (error) {
        if (!isConstraintError(error)) throw error;
        throw new StationError('pki.certificate-exists', 'This certificate is already in the registry.', {
          cause: error,
        });
      }
    }
    await tx.auditMany(
      certificates.map((certificate) => ({
        action: 'certificate.issue',
        subject: certificate.id,
        details: {
          caId: certificate.caId ?? null,
          subject: certificate.subject,
          serial: certificate.serialHex,
          keyOrigin: certificate.keyOrigin,
          status: certificate.status,
        },
      })),
    );
    return certificates.map((certificate) => ({ ...certificate, createdAt }));
  }

  async byId(id: string, reader: SqlReader = this.reader): Promise<CertificateRecord | undefined> {
    const row = await reader.get<CertificateRow>(
      `SELECT ${certificateColumns} FROM certificates WHERE id = ?`,
      [id],
    );
    return row && toCertificate(row);
  }

  /** The ACTIVE certificates attached to a thing (a device's live identity), in one indexed query. */
  async activeForThing(thingName: string, reader: SqlReader = this.reader): Promise<CertificateRecord[]> {
    const rows = await reader.all<CertificateRow>(
      `SELECT ${joinedCertificateColumns} FROM thing_principals p JOIN certificates c ON c.id = p.certificate_id
       WHERE p.thing_name = ? AND c.status = 'ACTIVE' ORDER BY c.id`,
      [thingName],
    );
    return rows.map(toCertificate);
  }

  /** The certificate attached to a thing last, whatever its status: the identity its device had last. */
  async latestForThing(
    thingName: string,
    reader: SqlReader = this.reader,
  ): Promise<CertificateRecord | undefined> {
    const row = await reader.get<CertificateRow>(
      `SELECT ${joinedCertificateColumns} FROM thing_principals p JOIN certificates c ON c.id = p.certificate_id
       WHERE p.thing_name = ? ORDER BY c.created_at DESC, p.attached_at DESC LIMIT 1`,
      [thingName],
    );
    return row && toCertificate(row);
  }

  async bySerial(caId: string, serialHex: string): Promise<CertificateRecord | undefined> {
    const row = await this.reader.get<CertificateRow>(
      `SELECT ${certificateColumns} FROM certificates WHERE ca_id = ? AND serial_hex = ? LIMIT 1`,
      [caId, serialHex],
    );
    return row && toCertificate(row);
  }

  /** A page in creation order; an afterId the registry does not hold is refused, not read as the end. */
  async list(query: CertificateQuery = {}): Promise<CertificateRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (query.caId !== undefined) {
      where.push('ca_id = ?');
      params.push(query.caId);
    }
    if (query.status !== undefined) {
      where.push('status = ?');
      params.push(query.status);
    }
    if (query.afterId !== undefined) {
      const after = await this.reader.get<{ created_at: string }>(
        'SELECT created_at FROM certificates WHERE id = ?',
        [query.afterId],
      );
      if (!after) {
        throw new StationError(
          'registry.not_found',
          `Certificate ${query.afterId} is not in the registry, so no page starts after it; give the id a previous page printed after "more: --after".`,
          { field: 'afterId', subject: query.afterId },
        );
      }
      where.push('(created_at, id) > (?, ?)');
      params.push(after.created_at, query.afterId);
    }
    params.push(query.limit ?? 100);
    const rows = await this.reader.all<CertificateRow>(
      `SELECT ${certificateColumns} FROM certificates ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT ?`,
      params,
    );
    return rows.map(toCertificate);
  }

  async count(): Promise<number> {
    const row = await this.reader.get<{ n: number }>('SELECT count(*) AS n FROM certificates');
    return row?.n ?? 0;
  }

  /** Marks a certificate REVOKED with its reason; returns the updated record, undefined when unknown. */
  async revoke(
    tx: Transaction,
    id: string,
    reason: string,
    at: Date = new Date(),
  ): Promise<CertificateRecord | undefined> {
    const current = await this.byId(id, tx);
    if (!current) return undefined;
    if (current.status === 'REVOKED') {
      throw new StationError(
        'pki.already-revoked',
        `Certificate ${id} was already revoked on ${current.revokedAt ?? 'an unknown date'}.`,
        { subject: id },
      );
    }
    await tx.run(
      "UPDATE certificates SET status = 'REVOKED', revoked_at = ?, revocation_reason = ? WHERE id = ?",
      [at.toISOString(), reason, id],
    );
    await tx.audit('certificate.revoke', id, { reason, previousStatus: current.status });
    // An upload must not register the certificate ACTIVE, nor leave it ACTIVE in the cloud once sent.
    await new OutboxTable(this.reader).restate(tx, 'certificate', id, {
      status: 'REVOKED',
      revocationReason: reason,
    });
    return { ...current, status: 'REVOKED', revokedAt: at.toISOString(), revocationReason: reason };
  }

  /** Revoked certificates of a CA, for its CRL. */
  async revokedBy(caId: string): Promise<CertificateRecord[]> {
    const rows = await this.reader.all<CertificateRow>(
      `SELECT ${certificateColumns} FROM certificates WHERE ca_id = ? AND status = 'REVOKED' ORDER BY revoked_at, id`,
      [caId],
    );
    return rows.map(toCertificate);
  }
}
