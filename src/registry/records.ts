import type { PipelineStep, RecordState, StepOutcome } from '../api/provisioning.js';
import type { SqlReader, SqlValue } from './database.js';
import type { Transaction } from './transaction.js';

/**
 * Provisioning records: one per device attempt, with every step's outcome and duration
 * (tables provisioning_records and record_steps). Each change is audited in the caller's transaction.
 */
export interface ProvisioningRecord {
  id: number;
  jobId: number;
  port: string;
  driver: string | null;
  deviceId: string | null;
  thingName: string | null;
  certificateId: string | null;
  state: RecordState;
  stepReached: PipelineStep | null;
  errorCode: string | null;
  errorMessage: string | null;
  parameters: Record<string, string> | null;
  resources: Record<string, unknown> | null;
  resumesRecordId: number | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface RecordStep {
  seq: number;
  step: PipelineStep;
  outcome: StepOutcome;
  startedAt: string;
  durationMs: number;
  detail: string | null;
}

interface RecordRow {
  id: number;
  job_id: number;
  port: string;
  driver: string | null;
  device_id: string | null;
  thing_name: string | null;
  certificate_id: string | null;
  state: RecordState;
  step_reached: PipelineStep | null;
  error_code: string | null;
  error_message: string | null;
  resolved_parameters: string | null;
  resources: string | null;
  resumes_record_id: number | null;
  started_at: string;
  finished_at: string | null;
}

const columns =
  'id, job_id, port, driver, device_id, thing_name, certificate_id, state, step_reached, error_code, error_message, resolved_parameters, resources, resumes_record_id, started_at, finished_at';

/**
 * An attempt that failed before it chose parameters or a certificate (a device refused as it identified
 * itself): it carries nothing to resume, and does not hide the attempt before it from the queries that
 * look for a device's latest one.
 */
function carriesNothing(table: string): string {
  return `(${table}.state = 'FAILED' AND ${table}.certificate_id IS NULL AND ${table}.resolved_parameters IS NULL)`;
}

export class RecordTable {
  constructor(private readonly reader: SqlReader) {}

  async start(
    tx: Transaction,
    input: { jobId: number; port: string; driver?: string; operator?: string },
  ): Promise<number> {
    const { lastId } = await tx.run(
      'INSERT INTO provisioning_records (job_id, port, driver, operator_name, started_at) VALUES (?, ?, ?, ?, ?)',
      [input.jobId, input.port, input.driver ?? null, input.operator ?? null, new Date().toISOString()],
    );
    await tx.audit('record.start', String(lastId), { jobId: input.jobId, port: input.port });
    return lastId;
  }

  /**
   * Records who the device is, and which earlier attempt of the same device this one finishes; `parameters`
   * are those an earlier failed attempt chose, kept so that every later retry finds them here too.
   */
  async identify(
    tx: Transaction,
    id: number,
    device: {
      driver: string;
      deviceId: string;
      resumes?: ProvisioningRecord;
      parameters?: Record<string, string>;
    },
  ): Promise<void> {
    const resumes = device.resumes;
    const parameters = device.parameters ?? resumes?.parameters;
    await tx.run(
      `UPDATE provisioning_records SET driver = ?, device_id = ?, resumes_record_id = ?, thing_name = ?,
         certificate_id = ?, resolved_parameters = ?, resources = ? WHERE id = ?`,
      [
        device.driver,
        device.deviceId,
        resumes?.id ?? null,
        resumes?.thingName ?? null,
        resumes?.certificateId ?? null,
        parameters ? JSON.stringify(parameters) : null,
        resumes?.resources ? JSON.stringify(resumes.resources) : null,
        id,
      ],
    );
    await tx.audit('record.identify', String(id), {
      driver: device.driver,
      deviceId: device.deviceId,
      ...(resumes && { resumes: resumes.id }),
    });
  }

  async setParameters(tx: Transaction, id: number, parameters: Record<string, string>): Promise<void> {
    await tx.run('UPDATE provisioning_records SET resolved_parameters = ? WHERE id = ?', [
      JSON.stringify(parameters),
      id,
    ]);
    await tx.audit('record.parameters', String(id), { parameters });
  }

  /**
   * Appends finished steps to the record's step log (one statement) and moves step_reached to `reached`
   * (the step making this checkpoint), else to the last step that ran. The pipeline hands steps over with
   * its next state change, so a device costs a few transactions, not one per step. `saved` is how many
   * steps the record has already: the attempt that owns the record counts them, saving a query.
   */
  async stepsEnded(
    tx: Transaction,
    id: number,
    steps: readonly Omit<RecordStep, 'seq'>[],
    position: { saved: number; reached?: PipelineStep | undefined },
  ): Promise<void> {
    const lastRun = [...steps].reverse().find((step) => step.outcome !== 'skipped');
    const reached = position.reached ?? lastRun?.step;
    if (reached) await tx.run('UPDATE provisioning_records SET step_reached = ? WHERE id = ?', [reached, id]);
    if (steps.length === 0) return;
    const values: SqlValue[] = [];
    steps.forEach((step, index) => {
      values.push(
        id,
        position.saved + index + 1,
        step.step,
        step.outcome,
        step.startedAt,
        step.durationMs,
        step.detail,
      );
    });
    await tx.run(
      `INSERT INTO record_steps (record_id, seq, step, outcome, started_at, duration_ms, detail) VALUES ${steps
        .map(() => '(?, ?, ?, ?, ?, ?, ?)')
        .join(', ')}`,
      values,
    );
    await tx.audit('record.steps', String(id), {
      steps: steps.map((step) => `${step.step}:${step.outcome}:${Math.round(step.durationMs)}ms`),
    });
  }

  /** The identity now exists in the registry: thing, certificate and attachments (design.md 8). */
  async markIssued(
    tx: Transaction,
    id: number,
    issued: { thingName: string | null; certificateId: string; resources: Record<string, unknown> },
  ): Promise<void> {
    await tx.run(
      `UPDATE provisioning_records SET state = 'ISSUED', thing_name = ?, certificate_id = ?, resources = ? WHERE id = ?`,
      [issued.thingName, issued.certificateId, JSON.stringify(issued.resources), id],
    );
    await tx.audit('record.issued', String(id), {
      thingName: issued.thingName,
      certificateId: issued.certificateId,
    });
  }

  /** The device of an attempt that ends before its identity was recorded; a recorded one stays. */
  async nameDevice(tx: Transaction, id: number, driver: string, deviceId: string): Promise<void> {
    await tx.run(
      'UPDATE provisioning_records SET driver = ?, device_id = ? WHERE id = ? AND device_id IS NULL',
      [driver, deviceId, id],
    );
  }

  async finish(
    tx: Transaction,
    id: number,
    outcome:
      | { state: 'PROVISIONED' }
      | { state: 'FAILED' | 'ABANDONED'; step: PipelineStep | null; code: string; message: string },
  ): Promise<void> {
    const now = new Date().toISOString();
    if (outcome.state === 'PROVISIONED') {
      await tx.run(
        `UPDATE provisioning_records SET state = 'PROVISIONED', error_code = NULL, error_message = NULL, finished_at = ? WHERE id = ?`,
        [now, id],
      );
      await tx.audit('record.provisioned', String(id));
      return;
    }
    await tx.run(
      `UPDATE provisioning_records SET state = ?, step_reached = coalesce(?, step_reached), error_code = ?,
         error_message = ?, finished_at = ? WHERE id = ?`,
      [outcome.state, outcome.step, outcome.code, outcome.message, now, id],
    );
    await tx.audit(outcome.state === 'FAILED' ? 'record.failed' : 'record.abandoned', String(id), {
      step: outcome.step,
      code: outcome.code,
      message: outcome.message,
    });
  }

  async byId(id: number, reader: SqlReader = this.reader): Promise<ProvisioningRecord | undefined> {
    const row = await reader.get<RecordRow>(`SELECT ${columns} FROM provisioning_records WHERE id = ?`, [id]);
    return row && toRecord(row);
  }

  /**
   * The newest attempt for a device in a job (what a re-plug resumes or re-verifies). An attempt that
   * failed before it chose parameters or a certificate carries nothing to resume, and does not hide the
   * one before it: a device refused as it identified itself keeps its earlier thing name.
   */
  async latestForDevice(
    jobId: number,
    driver: string,
    deviceId: string,
    reader: SqlReader = this.reader,
  ): Promise<ProvisioningRecord | undefined> {
    const row = await reader.get<RecordRow>(
      `SELECT ${columns} FROM provisioning_records WHERE driver = ? AND device_id = ? AND job_id = ?
          AND NOT ${carriesNothing('provisioning_records')}
        ORDER BY id DESC LIMIT 1`,
      [driver, deviceId, jobId],
    );
    return row && toRecord(row);
  }

  /**
   * The certificate this device was given last, in any job (its own, an existing one, or a claim), and the
   * thing it was for: the device's history, whatever became of the thing since (certificate detached,
   * thing deleted). Last by the attempt that first named it: a later attempt that names an earlier one
   * (a re-verification on another job's bench) does not make it the latest again.
   */
  async lastIdentityOf(
    driver: string,
    deviceId: string,
    reader: SqlReader = this.reader,
  ): Promise<{ certificateId: string; thingName: string | null } | undefined> {
    // With one min() aggregate, SQLite takes the bare columns from the row holding the minimum.
    const row = await reader.get<{ certificate_id: string; thing_name: string | null }>(
      `SELECT certificate_id, thing_name, min(id) AS first FROM provisioning_records
        WHERE driver = ? AND device_id = ? AND certificate_id IS NOT NULL
        GROUP BY certificate_id ORDER BY first DESC LIMIT 1`,
      [driver, deviceId],
    );
    return row && { certificateId: row.certificate_id, thingName: row.thing_name };
  }

  /** Whether an attempt of this device ever finished (PROVISIONED) with this certificate, in any job. */
  async provisionedWith(
    driver: string,
    deviceId: string,
    certificateId: string,
    reader: SqlReader = this.reader,
  ): Promise<boolean> {
    const row = await reader.get(
      `SELECT 1 AS found FROM provisioning_records
        WHERE driver = ? AND device_id = ? AND certificate_id = ? AND state = 'PROVISIONED' LIMIT 1`,
      [driver, deviceId, certificateId],
    );
    return row !== undefined;
  }

  /**
   * Identities a job issued that never reached their device: for each device, its latest attempt in the
   * job names a certificate still ACTIVE that no attempt of the device ever completed (PROVISIONED). A
   * claim is not one: it is shared, and a device whose write of it failed may go to any claim job.
   */
  async unfinishedIdentities(jobId: number, reader: SqlReader = this.reader): Promise<ProvisioningRecord[]> {
    const rows = await reader.all<RecordRow>(
      `SELECT ${columns
        .split(', ')
        .map((column) => `r.${column}`)
        .join(', ')}
         FROM provisioning_records r JOIN certificates c ON c.id = r.certificate_id
        WHERE r.job_id = ? AND r.state != 'PROVISIONED' AND c.status = 'ACTIVE' AND c.key_origin != 'claim'
          AND r.id = (SELECT max(l.id) FROM provisioning_records l
                       WHERE l.job_id = r.job_id AND l.driver = r.driver AND l.device_id = r.device_id
                         AND NOT ${carriesNothing('l')})
          AND NOT EXISTS (SELECT 1 FROM provisioning_records p
                           WHERE p.driver = r.driver AND p.device_id = r.device_id
                             AND p.certificate_id = r.certificate_id AND p.state = 'PROVISIONED')
        ORDER BY r.id`,
      [jobId],
    );
    return rows.map(toRecord);
  }

  /** Attempts no process finished: after a crash, what recovery reports and resolves. */
  async unfinished(jobId?: number): Promise<ProvisioningRecord[]> {
    const params: SqlValue[] = [];
    let where = `state IN ('IN_PROGRESS', 'ISSUED')`;
    if (jobId !== undefined) {
      where += ' AND job_id = ?';
      params.push(jobId);
    }
    const rows = await this.reader.all<RecordRow>(
      `SELECT ${columns} FROM provisioning_records WHERE ${where} ORDER BY id`,
      params,
    );
    return rows.map(toRecord);
  }

  async list(jobId: number, limit = 1000): Promise<ProvisioningRecord[]> {
    const rows = await this.reader.all<RecordRow>(
      `SELECT ${columns} FROM provisioning_records WHERE job_id = ? ORDER BY id LIMIT ?`,
      [jobId, limit],
    );
    return rows.map(toRecord);
  }

  async steps(id: number): Promise<RecordStep[]> {
    const rows = await this.reader.all<{
      seq: number;
      step: PipelineStep;
      outcome: StepOutcome;
      started_at: string;
      duration_ms: number;
      detail: string | null;
    }>(
      'SELECT seq, step, outcome, started_at, duration_ms, detail FROM record_steps WHERE record_id = ? ORDER BY seq',
      [id],
    );
    return rows.map((row) => ({
      seq: row.seq,
      step: row.step,
      outcome: row.outcome,
      startedAt: row.started_at,
      durationMs: row.duration_ms,
      detail: row.detail,
    }));
  }

  /**
   * The devices of a job whose latest attempt did not end PROVISIONED (failed, abandoned, or cut short),
   * oldest first: what still needs a technician. A device provisioned later is not among them.
   */
  async needingAttention(jobId: number, limit = 1000): Promise<ProvisioningRecord[]> {
    const rows = await this.reader.all<RecordRow>(
      `SELECT ${columns} FROM provisioning_records AS r
        WHERE job_id = ? AND device_id IS NOT NULL AND state <> 'PROVISIONED'
          AND id = (SELECT max(id) FROM provisioning_records
                     WHERE job_id = r.job_id AND driver = r.driver AND device_id = r.device_id)
        ORDER BY id LIMIT ?`,
      [jobId, limit],
    );
    return rows.map(toRecord);
  }

  /** Failed attempts that ended before the device said who it is (a dead port, a silent device). */
  async unidentifiedFailures(jobId: number): Promise<number> {
    const row = await this.reader.get<{ n: number }>(
      `SELECT count(*) AS n FROM provisioning_records WHERE job_id = ? AND device_id IS NULL AND state = 'FAILED'`,
      [jobId],
    );
    return row?.n ?? 0;
  }

  async countByState(jobId: number): Promise<Partial<Record<RecordState, number>>> {
    const rows = await this.reader.all<{ state: RecordState; n: number }>(
      'SELECT state, count(*) AS n FROM provisioning_records WHERE job_id = ? GROUP BY state',
      [jobId],
    );
    return Object.fromEntries(rows.map((row) => [row.state, row.n]));
  }
}

function toRecord(row: RecordRow): ProvisioningRecord {
  return {
    id: row.id,
    jobId: row.job_id,
    port: row.port,
    driver: row.driver,
    deviceId: row.device_id,
    thingName: row.thing_name,
    certificateId: row.certificate_id,
    state: row.state,
    stepReached: row.step_reached,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    parameters: row.resolved_parameters
      ? (JSON.parse(row.resolved_parameters) as Record<string, string>)
      : null,
    resources: row.resources ? (JSON.parse(row.resources) as Record<string, unknown>) : null,
    resumesRecordId: row.resumes_record_id,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
