import { StationError } from '../api/errors.js';
import {
  jobKeyOptionsSchema,
  jobSpecSchema,
  type JobKeyOptions,
  type JobSpec,
  type ParameterSource,
} from '../api/jobs.js';
import type { KeyMode } from '../api/provisioning.js';
import type { SqlReader } from './database.js';
import type { Transaction } from './transaction.js';

/** Work orders (table `jobs`). A job is `active` from creation until closed (`completed`). */
export type JobStatus = 'draft' | 'active' | 'paused' | 'completed' | 'cancelled';

export interface Job {
  id: number;
  label: string;
  templateName: string;
  templateVersion: number;
  parameters: ParameterSource;
  driver: JobSpec['driver'];
  caId: string | null;
  keyMode: KeyMode;
  quota: number | null;
  issuedCount: number;
  validityDays: number;
  claimCertificateId: string | null;
  /** Options of the key mode (existing: CA-less registration, proof of possession). */
  keyOptions: JobKeyOptions;
  status: JobStatus;
  createdBy: string;
  createdAt: string;
  finishedAt: string | null;
}

interface JobRow {
  id: number;
  label: string;
  template_name: string;
  template_version: number;
  parameter_source: string;
  driver: string;
  ca_id: string | null;
  key_mode: string;
  quota: number | null;
  issued_count: number;
  validity_days: number;
  claim_certificate_id: string | null;
  key_options: string;
  status: string;
  created_by: string;
  created_at: string;
  finished_at: string | null;
}

const columns =
  'id, label, template_name, template_version, parameter_source, driver, ca_id, key_mode, quota, issued_count, validity_days, claim_certificate_id, key_options, status, created_by, created_at, finished_at';

export interface NewJob {
  spec: JobSpec;
  templateVersion: number;
  /** Null for a job that registers existing certificates without a CA. */
  caId: string | null;
  validityDays: number;
}

export class JobTable {
  constructor(private readonly reader: SqlReader) {}

  async create(tx: Transaction, job: NewJob): Promise<Job> {
    const { spec } = job;
    const now = new Date().toISOString();
    const { lastId } = await tx.run(
      `INSERT INTO jobs (label, template_name, template_version, parameter_source, driver, ca_id, key_mode, quota,
         validity_days, next_sequence, claim_certificate_id, key_options, status, created_by, created_at,
         started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)`,
      [
        spec.label,
        spec.template.name,
        job.templateVersion,
        JSON.stringify(spec.parameters),
        spec.driver,
        job.caId,
        spec.keyMode,
        spec.quota,
        job.validityDays,
        spec.parameters.sequence?.start ?? null,
        spec.claimCertificateId ?? null,
        JSON.stringify(keyOptionsOf(spec)),
        tx.actor,
        now,
        now,
      ],
    );
    await tx.audit('job.create', String(lastId), {
      label: spec.label,
      template: `${spec.template.name}:${job.templateVersion}`,
      driver: spec.driver,
      keyMode: spec.keyMode,
      quota: spec.quota,
      caId: job.caId,
      ...(spec.claimCertificateId && { claimCertificateId: spec.claimCertificateId }),
      ...(spec.existing && { existing: spec.existing }),
    });
    return (await this.byId(lastId, tx))!;
  }

  async byId(id: number, reader: SqlReader = this.reader): Promise<Job | undefined> {
    const row = await reader.get<JobRow>(`SELECT ${columns} FROM jobs WHERE id = ?`, [id]);
    return row && toJob(row);
  }

  async require(id: number, reader: SqlReader = this.reader): Promise<Job> {
    const job = await this.byId(id, reader);
    if (!job) throw new StationError('registry.not_found', `There is no job ${id}.`, { field: 'job' });
    return job;
  }

  async list(status?: JobStatus): Promise<Job[]> {
    const rows = await this.reader.all<JobRow>(
      `SELECT ${columns} FROM jobs ${status ? 'WHERE status = ?' : ''} ORDER BY id`,
      status ? [status] : [],
    );
    return rows.map(toJob);
  }

  async close(tx: Transaction, id: number): Promise<Job> {
    const job = await this.require(id, tx);
    if (job.status === 'completed') return job;
    await tx.run(`UPDATE jobs SET status = 'completed', finished_at = ? WHERE id = ?`, [
      new Date().toISOString(),
      id,
    ]);
    await tx.audit('job.close', String(id), { issued: job.issuedCount, quota: job.quota });
    return (await this.byId(id, tx))!;
  }

  /**
   * Spends one certificate of the quota in the caller's transaction. The CHECK on issued_count makes
   * over-issuing impossible even if two callers race; here it becomes a clear error.
   */
  async spendQuota(tx: Transaction, id: number): Promise<void> {
    const { changes } = await tx.run(
      `UPDATE jobs SET issued_count = issued_count + 1
        WHERE id = ? AND status = 'active' AND (quota IS NULL OR issued_count < quota)`,
      [id],
    );
    if (changes === 1) return;
    throw (
      this.unusable(await this.require(id, tx)) ??
      new StationError('internal.quota-unspent', `Job ${id} could not spend its quota.`, { userFault: false })
    );
  }

  /**
   * Fails as spendQuota would, without spending: a device is turned away before it makes a key for a
   * certificate the job may no longer issue. spendQuota still decides, atomically, in the registry step.
   */
  async requireQuotaLeft(id: number, reader: SqlReader = this.reader): Promise<void> {
    const refusal = this.unusable(await this.require(id, reader));
    if (refusal) throw refusal;
  }

  /**
   * Fails unless the job is active, read in the caller's transaction: a job that signs nothing (existing,
   * claim) has no quota to spend, yet a job closed while its bench runs must register no further device.
   */
  async requireActive(tx: Transaction, id: number): Promise<void> {
    const refusal = closedRefusal(await this.require(id, tx));
    if (refusal) throw refusal;
  }

  /** Why the job can issue no further certificate, if it cannot. */
  private unusable(job: Job): StationError | undefined {
    const closed = closedRefusal(job);
    if (closed) return closed;
    if (!quotaSpent(job)) return undefined;
    return new StationError(
      'provisioning.quota-exhausted',
      `Job ${job.id} (${job.label}) has issued all ${job.quota} certificates of its quota; open a new job (station job create) for more devices.`,
      { details: { jobId: job.id, quota: job.quota } },
    );
  }

  /** Hands out the next sequence number (atomic within the caller's transaction). */
  async allocateSequence(tx: Transaction, id: number): Promise<number> {
    const row = await tx.get<{ next_sequence: number | null }>(
      'UPDATE jobs SET next_sequence = next_sequence + 1 WHERE id = ? RETURNING next_sequence - 1 AS next_sequence',
      [id],
    );
    if (row?.next_sequence === null || row?.next_sequence === undefined) {
      throw new StationError('internal.no_sequence', `Job ${id} has no sequence parameter.`, {
        userFault: false,
      });
    }
    return row.next_sequence;
  }

  /** Hands out the index of the next list row (in-order assignment). */
  async allocateListRow(tx: Transaction, id: number): Promise<number> {
    const row = await tx.get<{ index: number }>(
      'UPDATE jobs SET next_list_row = next_list_row + 1 WHERE id = ? RETURNING next_list_row - 1 AS "index"',
      [id],
    );
    return row!.index;
  }
}

function keyOptionsOf(spec: JobSpec): JobKeyOptions {
  return spec.existing ? { existing: spec.existing } : {};
}

function toJob(row: JobRow): Job {
  const spec = jobSpecSchema.shape;
  return {
    id: row.id,
    label: row.label,
    templateName: row.template_name,
    templateVersion: row.template_version,
    parameters: JSON.parse(row.parameter_source) as ParameterSource,
    driver: spec.driver.parse(row.driver),
    caId: row.ca_id,
    keyMode: spec.keyMode.parse(row.key_mode),
    quota: row.quota,
    issuedCount: row.issued_count,
    validityDays: row.validity_days,
    claimCertificateId: row.claim_certificate_id,
    keyOptions: jobKeyOptionsSchema.parse(JSON.parse(row.key_options)),
    status: row.status as JobStatus,
    createdBy: row.created_by,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

function closedRefusal(job: Job): StationError | undefined {
  if (job.status === 'active') return undefined;
  return new StationError(
    'provisioning.job-closed',
    `Job ${job.id} (${job.label}) is ${job.status}; open a new job.`,
  );
}

/** Whether a job that signs certificates (csr, inject) has signed as many as its quota allows. */
export function quotaSpent(job: Job): boolean {
  return job.quota !== null && job.issuedCount >= job.quota;
}
