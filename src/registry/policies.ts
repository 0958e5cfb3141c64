import { invalidInput, StationError } from '../api/errors.js';
import { policyNameSchema } from '../api/policies.js';
import { isConstraintError, type SqlReader } from './database.js';
import { linkSubject, OutboxTable } from './outbox.js';
import type { Transaction } from './transaction.js';

/**
 * IoT policies in the registry (aws-iot-spec.md 4, 5): named, versioned documents with one default version,
 * attached to certificates. Documents arrive already checked by the policy engine (src/policy
 * validatePolicyDocument) and are stored as the text given. Every change is audited in its transaction.
 */

/** CreatePolicyVersion: at most five versions (VersionsLimitExceededException). */
export const policyVersionsMax = 5;
/** AttachPolicy: at most ten policies per certificate (LimitExceededException). */
export const policiesPerCertificateMax = 10;

export interface PolicySummary {
  readonly name: string;
  readonly defaultVersion: number;
  readonly versionCount: number;
  readonly certificateCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface PolicyVersion {
  readonly version: number;
  readonly document: string;
  readonly isDefault: boolean;
  readonly createdAt: string;
}

export interface PolicyDescription extends PolicySummary {
  /** The default version's document text. */
  readonly document: string;
  readonly versions: PolicyVersion[];
  readonly certificateIds: string[];
}

/** A policy as the evaluator takes it: the name and the default version's document text. */
export interface StoredPolicy {
  readonly name: string;
  readonly document: string;
}

export interface DefaultVersionChange {
  readonly policyName: string;
  readonly defaultVersion: number;
  readonly previousVersion: number;
  /** false when the version was already the default. */
  readonly changed: boolean;
}

export interface PolicyAdded {
  readonly name: string;
  readonly version: number;
  readonly isDefault: boolean;
  /** true when the policy itself was created (version 1); false for a new version of an existing one. */
  readonly created: boolean;
}

interface SummaryRow {
  name: string;
  default_version: number;
  version_count: number;
  certificate_count: number;
  created_at: string;
  updated_at: string;
}

interface VersionRow {
  version: number;
  document: string;
  created_at: string;
}

const summarySelect = `
  SELECT p.name, p.default_version, p.created_at, p.updated_at,
    (SELECT COUNT(*) FROM policy_versions v WHERE v.policy_name = p.name) AS version_count,
    (SELECT COUNT(*) FROM policy_certificates c WHERE c.policy_name = p.name) AS certificate_count
  FROM policies p`;

export class PolicyRegistry {
  constructor(private readonly reader: SqlReader) {}

  /** CreatePolicy: version 1, the default. A name already taken is a conflict, as in AWS. */
  async create(tx: Transaction, name: string, document: string): Promise<PolicyAdded> {
    checkPolicyName(name);
    if (await this.summary(name, tx)) {
      throw new StationError(
        'registry.conflict',
        `Policy ${name} already exists; add a new version of it or choose another name.`,
        { field: 'policyName', subject: name },
      );
    }
    const now = new Date().toISOString();
    await tx.run('INSERT INTO policies (name, default_version, created_at, updated_at) VALUES (?, 1, ?, ?)', [
      name,
      now,
      now,
    ]);
    await tx.run(
      'INSERT INTO policy_versions (policy_name, version, document, created_at) VALUES (?, 1, ?, ?)',
      [name, document, now],
    );
    await tx.audit('policy.create', name, { version: 1, document });
    this.queueUpload(tx, name, { version: 1, document });
    return { name, version: 1, isDefault: true, created: true };
  }

  /**
   * CreatePolicyVersion: the next version number; at most five versions, so delete an old one first.
   * Version numbers count up from the highest kept version.
   */
  async createVersion(
    tx: Transaction,
    name: string,
    document: string,
    setAsDefault: boolean,
  ): Promise<PolicyAdded> {
    const summary = await this.requireSummary(name, tx);
    if (summary.versionCount >= policyVersionsMax) {
      throw new StationError(
        'policy.versions_limit',
        `Policy ${name} already has ${policyVersionsMax} versions; delete one that is not the default first (station policy describe ${name} lists them; station policy delete-version ${name} VERSION).`,
        { subject: name },
      );
    }
    // After the highest number the policy ever had: a deleted version's number never names another document.
    const last = await tx.get<{ last_version: number }>('SELECT last_version FROM policies WHERE name = ?', [
      name,
    ]);
    const version = (last?.last_version ?? 0) + 1;
    const now = new Date().toISOString();
    await tx.run(
      'INSERT INTO policy_versions (policy_name, version, document, created_at) VALUES (?, ?, ?, ?)',
      [name, version, document, now],
    );
    await tx.run(
      `UPDATE policies SET last_version = ?, updated_at = ?${setAsDefault ? ', default_version = ?' : ''} WHERE name = ?`,
      setAsDefault ? [version, now, version, name] : [version, now, name],
    );
    await tx.audit('policy.version.create', name, { version, setAsDefault, document });
    if (setAsDefault) this.queueUpload(tx, name, { version, document });
    return { name, version, isDefault: setAsDefault, created: false };
  }

  /**
   * Creates the policy, or adds a version to it when it exists; the new version becomes the default unless
   * `setAsDefault` is false (a station adds a document to use it; AWS's CreatePolicyVersion defaults to false).
   */
  async add(tx: Transaction, name: string, document: string, setAsDefault = true): Promise<PolicyAdded> {
    return (await this.summary(name, tx))
      ? this.createVersion(tx, name, document, setAsDefault)
      : this.create(tx, name, document);
  }

  /** SetDefaultPolicyVersion; choosing the version that is already the default changes nothing. */
  async setDefaultVersion(tx: Transaction, name: string, version: number): Promise<DefaultVersionChange> {
    const summary = await this.requireSummary(name, tx);
    const document = await this.requireVersion(name, version, tx);
    const change = { policyName: name, defaultVersion: version, previousVersion: summary.defaultVersion };
    if (summary.defaultVersion === version) return { ...change, changed: false };
    await tx.run('UPDATE policies SET default_version = ?, updated_at = ? WHERE name = ?', [
      version,
      new Date().toISOString(),
      name,
    ]);
    await tx.audit('policy.version.default', name, { version, previous: summary.defaultVersion });
    this.queueUpload(tx, name, { version, document });
    return { ...change, changed: true };
  }

  /**
   * DeletePolicyVersion: never the default version (DeleteConflictException). Nothing is queued: an upload
   * carries only the default document, which this leaves as it was.
   */
  async deleteVersion(tx: Transaction, name: string, version: number): Promise<void> {
    const summary = await this.requireSummary(name, tx);
    const document = await this.requireVersion(name, version, tx);
    if (summary.defaultVersion === version) {
      throw new StationError(
        'registry.in_use',
        summary.versionCount === 1
          ? `Version ${version} is the only version of policy ${name}; delete the policy instead (station policy delete ${name}).`
          : `Version ${version} is the default of policy ${name}; make another version the default first (station policy set-default ${name} VERSION).`,
        { field: 'version', subject: name, details: { version } },
      );
    }
    await tx.run('DELETE FROM policy_versions WHERE policy_name = ? AND version = ?', [name, version]);
    // The document, as policy.create and policy.version.create record it: the audit log keeps what was lost.
    await tx.audit('policy.version.delete', name, { version, document });
  }

  /** DeletePolicy: refused while certificates hold it (DeleteConflictException); its versions go with it. */
  async delete(tx: Transaction, name: string): Promise<void> {
    const policy = await this.require(name, tx);
    if (policy.certificateIds.length > 0) {
      throw new StationError(
        'registry.in_use',
        // Whole ids: they are what policy detach takes.
        `Policy ${name} is attached to ${policy.certificateIds.length} certificate(s) (${policy.certificateIds.join(', ')}); detach it from each first (station policy detach ${name} --cert ID).`,
        { subject: name, details: { certificateIds: policy.certificateIds } },
      );
    }
    await tx.run('DELETE FROM policies WHERE name = ?', [name]);
    // Every version's document goes with it: the audit log keeps them.
    await tx.audit('policy.delete', name, {
      defaultVersion: policy.defaultVersion,
      versions: policy.versions.map(({ version, document }) => ({ version, document })),
    });
    this.queueUpload(tx, name, { deleted: true });
  }

  /**
   * The policy's state for a later upload, in the change's transaction: its default document (AWS
   * CreatePolicy / CreatePolicyVersion as default), or that it was deleted. Queued before any attachment
   * that names it.
   */
  private queueUpload(tx: Transaction, name: string, state: Record<string, unknown>): void {
    new OutboxTable(this.reader).enqueue(tx, 'policy', name, { policyName: name, ...state });
  }

  /** Whether the policy is on the certificate, for a later upload (AttachPolicy / DetachPolicy). */
  private queueAttachment(tx: Transaction, name: string, certificateId: string, attached: boolean): void {
    new OutboxTable(this.reader).enqueue(tx, 'policy-attachment', linkSubject(name, certificateId), {
      policyName: name,
      certificateId,
      attached,
    });
  }

  /**
   * AttachPolicy: the certificate must be in the registry and hold fewer than ten policies.
   * Attaching a policy that is already attached changes nothing (attached: false).
   */
  /**
   * AttachPolicy. One statement in the usual case (the provisioning pipeline attaches on every device):
   * the insert happens only while the certificate holds fewer than the maximum; when it does not happen,
   * the slower checks below say why.
   */
  async attach(tx: Transaction, name: string, certificateId: string): Promise<{ attached: boolean }> {
    let inserted = false;
    try {
      const { changes } = await tx.run(
        `INSERT INTO policy_certificates (policy_name, certificate_id, attached_at)
         SELECT ?1, ?2, ?3 WHERE (SELECT count(*) FROM policy_certificates WHERE certificate_id = ?2) < ?4
         ON CONFLICT (policy_name, certificate_id) DO NOTHING`,
        [name, certificateId, new Date().toISOString(), policiesPerCertificateMax],
      );
      inserted = changes === 1;
    } catch (error) {
      if (!isConstraintError(error)) throw error; // a missing policy or certificate: said below
    }
    if (inserted) {
      await tx.audit('policy.attach', name, { certificateId });
      this.queueAttachment(tx, name, certificateId, true);
      return { attached: true };
    }
    await this.requireSummary(name, tx);
    await requireCertificate(certificateId, tx);
    const held = await tx.all<{ policy_name: string }>(
      'SELECT policy_name FROM policy_certificates WHERE certificate_id = ?',
      [certificateId],
    );
    if (held.some((row) => row.policy_name === name)) return { attached: false };
    throw new StationError(
      'policy.attach_limit',
      `Certificate ${certificateId} already holds ${policiesPerCertificateMax} policies; detach one first.`,
      { subject: certificateId },
    );
  }

  /** DetachPolicy; detaching a policy that is not attached changes nothing (detached: false). */
  async detach(tx: Transaction, name: string, certificateId: string): Promise<{ detached: boolean }> {
    await this.requireSummary(name, tx);
    const result = await tx.run(
      'DELETE FROM policy_certificates WHERE policy_name = ? AND certificate_id = ?',
      [name, certificateId],
    );
    if (result.changes === 0) return { detached: false };
    await tx.audit('policy.detach', name, { certificateId });
    this.queueAttachment(tx, name, certificateId, false);
    return { detached: true };
  }

  async list(reader: SqlReader = this.reader): Promise<PolicySummary[]> {
    const rows = await reader.all<SummaryRow>(`${summarySelect} ORDER BY p.name`);
    return rows.map(toSummary);
  }

  /** Whether the policy exists: one indexed lookup, unlike describe, which counts its attachments. */
  async exists(name: string, reader: SqlReader = this.reader): Promise<boolean> {
    return (await reader.get('SELECT 1 AS found FROM policies WHERE name = ?', [name])) !== undefined;
  }

  async describe(name: string, reader: SqlReader = this.reader): Promise<PolicyDescription | undefined> {
    const summary = await this.summary(name, reader);
    if (!summary) return undefined;
    const versionRows = await reader.all<VersionRow>(
      'SELECT version, document, created_at FROM policy_versions WHERE policy_name = ? ORDER BY version',
      [name],
    );
    const versions = versionRows.map((row) => ({
      version: row.version,
      document: row.document,
      isDefault: row.version === summary.defaultVersion,
      createdAt: row.created_at,
    }));
    const certificates = await reader.all<{ certificate_id: string }>(
      'SELECT certificate_id FROM policy_certificates WHERE policy_name = ? ORDER BY certificate_id',
      [name],
    );
    return {
      ...summary,
      document: versions.find((version) => version.isDefault)?.document ?? '',
      versions,
      certificateIds: certificates.map((row) => row.certificate_id),
    };
  }

  async require(name: string, reader: SqlReader = this.reader): Promise<PolicyDescription> {
    const description = await this.describe(name, reader);
    if (!description) throw policyNotFound(name);
    return description;
  }

  /** The default documents of the policies attached to a certificate, by name: what AWS evaluates for it. */
  async forCertificate(certificateId: string, reader: SqlReader = this.reader): Promise<StoredPolicy[]> {
    return reader.all<StoredPolicy>(
      `SELECT p.name AS name, v.document AS document
       FROM policy_certificates c
       JOIN policies p ON p.name = c.policy_name
       JOIN policy_versions v ON v.policy_name = p.name AND v.version = p.default_version
       WHERE c.certificate_id = ?
       ORDER BY p.name`,
      [certificateId],
    );
  }

  private async summary(name: string, reader: SqlReader): Promise<PolicySummary | undefined> {
    const row = await reader.get<SummaryRow>(`${summarySelect} WHERE p.name = ?`, [name]);
    return row ? toSummary(row) : undefined;
  }

  private async requireSummary(name: string, reader: SqlReader): Promise<PolicySummary> {
    const summary = await this.summary(name, reader);
    if (!summary) throw policyNotFound(name);
    return summary;
  }

  /** The version's document; a version the policy does not have is refused. */
  private async requireVersion(name: string, version: number, reader: SqlReader): Promise<string> {
    const row = await reader.get<{ document: string }>(
      'SELECT document FROM policy_versions WHERE policy_name = ? AND version = ?',
      [name, version],
    );
    if (!row) {
      throw new StationError(
        'registry.not_found',
        `Policy ${name} has no version ${version} (station policy describe ${name} lists its versions).`,
        { field: 'version', subject: name },
      );
    }
    return row.document;
  }
}

function checkPolicyName(name: string): void {
  const result = policyNameSchema.safeParse(name);
  if (!result.success)
    throw invalidInput('policyName', `${result.error.issues[0]?.message ?? 'not a policy name'}.`);
}

async function requireCertificate(certificateId: string, reader: SqlReader): Promise<void> {
  const row = await reader.get('SELECT 1 AS found FROM certificates WHERE id = ?', [certificateId]);
  if (!row) {
    throw new StationError(
      'registry.not_found',
      `Certificate ${certificateId} is not in the registry; check the ID (the SHA-256 of the certificate).`,
      { field: 'certificateId', subject: certificateId },
    );
  }
}

function policyNotFound(name: string): StationError {
  return new StationError('registry.not_found', `Policy ${name} does not exist; add it first.`, {
    field: 'policyName',
    subject: name,
  });
}

function toSummary(row: SummaryRow): PolicySummary {
  return {
    name: row.name,
    defaultVersion: row.default_version,
    versionCount: row.version_count,
    certificateCount: row.certificate_count,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
