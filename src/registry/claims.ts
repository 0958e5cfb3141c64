import { StationError } from '../api/errors.js';
import type { RecordState } from '../api/provisioning.js';
import { isConstraintError, type SqlReader } from './database.js';
import type { Transaction } from './transaction.js';

/**
 * Claim identities and the devices carrying them (tables of migration 3). A claim names its key in the key
 * store (label + id), never the key itself.
 */
export interface Claim {
  certificateId: string;
  name: string;
  keyLabel: string;
  keyId: string;
  createdAt: string;
}

/** A device that carries (or, if its attempt failed, may carry) a claim. */
export interface ClaimCarrier {
  certificateId: string;
  driver: string;
  deviceId: string;
  jobId: number;
  recordId: number;
  /** The state of the latest attempt that wrote the claim. */
  recordState: RecordState;
  recordedAt: string;
}

interface ClaimRow {
  certificate_id: string;
  name: string;
  key_label: string;
  key_id: string;
  created_at: string;
}

const claimColumns = 'certificate_id, name, key_label, key_id, created_at';

interface CarrierRow {
  certificate_id: string;
  driver: string;
  device_id: string;
  job_id: number;
  record_id: number;
  state: RecordState;
  recorded_at: string;
}

const carrierColumns =
  'c.certificate_id, c.driver, c.device_id, c.job_id, c.record_id, r.state, c.recorded_at';

const toCarrier = (row: CarrierRow): ClaimCarrier => ({
  certificateId: row.certificate_id,
  driver: row.driver,
  deviceId: row.device_id,
  jobId: row.job_id,
  recordId: row.record_id,
  recordState: row.state,
  recordedAt: row.recorded_at,
});

const toClaim = (row: ClaimRow): Claim => ({
  certificateId: row.certificate_id,
  name: row.name,
  keyLabel: row.key_label,
  keyId: row.key_id,
  createdAt: row.created_at,
});

export class ClaimTable {
  constructor(private readonly reader: SqlReader) {}

  async insert(tx: Transaction, claim: Omit<Claim, 'createdAt'>): Promise<Claim> {
    const createdAt = new Date().toISOString();
    try {
      await tx.run(`INSERT INTO claims (${claimColumns}) VALUES (?, ?, ?, ?, ?)`, [
        claim.certificateId,
        claim.name,
        claim.keyLabel,
        claim.keyId,
        createdAt,
      ]);
    } catch (error) {
      if (!isConstraintError(error)) throw error;
      throw new StationError(
        'registry.conflict',
        `A claim named '${claim.name}' exists; choose another name.`,
        {
          field: 'name',
          subject: claim.name,
          cause: error,
        },
      );
    }
    await tx.audit('claim.create', claim.name, {
      certificateId: claim.certificateId,
      keyLabel: claim.keyLabel,
    });
    return { ...claim, createdAt };
  }

  async byCertificateId(id: string, reader: SqlReader = this.reader): Promise<Claim | undefined> {
    const row = await reader.get<ClaimRow>(`SELECT ${claimColumns} FROM claims WHERE certificate_id = ?`, [
      id,
    ]);
    return row && toClaim(row);
  }

  async byName(name: string, reader: SqlReader = this.reader): Promise<Claim | undefined> {
    const row = await reader.get<ClaimRow>(`SELECT ${claimColumns} FROM claims WHERE name = ?`, [name]);
    return row && toClaim(row);
  }

  async list(): Promise<Claim[]> {
    const rows = await this.reader.all<ClaimRow>(`SELECT ${claimColumns} FROM claims ORDER BY name`);
    return rows.map(toClaim);
  }

  /** Records that this device gets the claim (before it is written); a later attempt updates the row. */
  async recordCarrier(
    tx: Transaction,
    carrier: { certificateId: string; driver: string; deviceId: string; jobId: number; recordId: number },
  ): Promise<void> {
    await tx.run(
      `INSERT INTO claim_carriers (certificate_id, driver, device_id, job_id, record_id, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (certificate_id, driver, device_id) DO UPDATE SET job_id = excluded.job_id,
         record_id = excluded.record_id, recorded_at = excluded.recorded_at`,
      [
        carrier.certificateId,
        carrier.driver,
        carrier.deviceId,
        carrier.jobId,
        carrier.recordId,
        new Date().toISOString(),
      ],
    );
    await tx.audit('claim.carrier', `${carrier.driver}:${carrier.deviceId}`, {
      certificateId: carrier.certificateId,
      jobId: carrier.jobId,
      recordId: carrier.recordId,
    });
  }

  /** The devices carrying a claim, in the order they received it. */
  async carriers(certificateId: string, reader: SqlReader = this.reader): Promise<ClaimCarrier[]> {
    const rows = await reader.all<CarrierRow>(
      `SELECT ${carrierColumns} FROM claim_carriers c JOIN provisioning_records r ON r.id = c.record_id
        WHERE c.certificate_id = ? ORDER BY c.recorded_at, c.driver, c.device_id`,
      [certificateId],
    );
    return rows.map(toCarrier);
  }

  /** The claims a device carries (or may carry), with the state of the attempt that wrote each, oldest first. */
  async carriedByDevice(
    driver: string,
    deviceId: string,
    reader: SqlReader = this.reader,
  ): Promise<ClaimCarrier[]> {
    const rows = await reader.all<CarrierRow>(
      `SELECT ${carrierColumns} FROM claim_carriers c JOIN provisioning_records r ON r.id = c.record_id
        WHERE c.driver = ? AND c.device_id = ? ORDER BY c.recorded_at, c.certificate_id`,
      [driver, deviceId],
    );
    return rows.map(toCarrier);
  }

  /**
   * The device no longer carries these claims: an identity of its own, or another claim, is written over
   * them by attempt `recordId`, in the caller's transaction (the one that records what replaces them).
   * `keep` is the claim being written, if one is. Each row removed is audited, so a leak is still traced.
   */
  async removeCarrier(
    tx: Transaction,
    carrier: { driver: string; deviceId: string; recordId: number; keep?: string },
  ): Promise<void> {
    const removed = await tx.all<{ certificate_id: string; job_id: number; record_id: number }>(
      `DELETE FROM claim_carriers WHERE driver = ? AND device_id = ? AND certificate_id != ?
        RETURNING certificate_id, job_id, record_id`,
      [carrier.driver, carrier.deviceId, carrier.keep ?? ''],
    );
    for (const row of removed) {
      await tx.audit('claim.carrier-superseded', `${carrier.driver}:${carrier.deviceId}`, {
        certificateId: row.certificate_id,
        jobId: row.job_id,
        recordId: row.record_id,
        supersededBy: carrier.recordId,
      });
    }
  }

  /** The claims (certificate ids) a device carries, oldest first. */
  async carriedBy(driver: string, deviceId: string, reader: SqlReader = this.reader): Promise<string[]> {
    const rows = await reader.all<{ certificate_id: string }>(
      'SELECT certificate_id FROM claim_carriers WHERE driver = ? AND device_id = ? ORDER BY recorded_at',
      [driver, deviceId],
    );
    return rows.map((row) => row.certificate_id);
  }
}
