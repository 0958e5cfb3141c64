import { createHash } from 'node:crypto';
import { invalidInput, StationError } from '../api/errors.js';
import {
  defaultTemplateType,
  templateDescriptionSchema,
  templateNameSchema,
  type TemplateType,
  type UndeclaredParameterPolicy,
} from '../api/templates.js';
import type { SqlReader } from './database.js';
import type { Transaction } from './transaction.js';

/**
 * Provisioning templates in the registry (aws-iot-spec.md 1): named, with versioned bodies and one default
 * version, which is what a new work order uses. Bodies arrive already validated by the template engine
 * (src/templates) and are stored as the text given. Every change is audited in its transaction.
 */

export interface TemplateSummary {
  readonly name: string;
  readonly description?: string;
  readonly templateType: TemplateType;
  readonly defaultVersion: number;
  readonly versionCount: number;
  readonly enabled: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface TemplateVersionSummary {
  readonly version: number;
  readonly isDefault: boolean;
  readonly createdAt: string;
}

export interface TemplateDescription extends TemplateSummary {
  /** The version described: the default unless one was asked for. */
  readonly version: number;
  readonly body: string;
  /** How this version's body resolves a Ref to an undeclared parameter: parse it with the same. */
  readonly undeclaredParameters: UndeclaredParameterPolicy;
  readonly versions: TemplateVersionSummary[];
}

export interface TemplateAdded {
  readonly name: string;
  readonly version: number;
  /** true when the template itself was created (version 1); false for a new version of an existing one. */
  readonly created: boolean;
}

export interface TemplateAddOptions {
  readonly description?: string;
  /** For a new template only; AWS fixes the type at creation. */
  readonly templateType?: TemplateType;
  /** What the body was validated with (default 'reject'); kept with the version. */
  readonly undeclaredParameters?: UndeclaredParameterPolicy;
}

interface SummaryRow {
  name: string;
  description: string | null;
  template_type: TemplateType;
  default_version: number;
  version_count: number;
  enabled: number;
  created_at: string;
  updated_at: string;
}

const summarySelect = `
  SELECT t.name, t.description, t.template_type, t.default_version, t.enabled, t.created_at, t.updated_at,
    (SELECT COUNT(*) FROM template_versions v WHERE v.template_name = t.name) AS version_count
  FROM templates t`;

/** AWS CreateProvisioningTemplate takes a body of at most 10,240 characters (aws-iot-spec.md 1). */
const maxBodyLength = 10_240;
/**
 * CreateProvisioningTemplateVersion: a template keeps at most five versions (VersionsLimitExceededException,
 * aws-iot-spec.md 1), as a policy does; a station kept to AWS's limit can upload every version it holds.
 */
export const templateVersionsMax = 5;

export class TemplateRegistry {
  constructor(private readonly reader: SqlReader) {}

  /**
   * Creates the template (version 1), or adds the next version to it and makes that the default: a station
   * adds a body to use it. The body must already have passed the template engine's validation.
   */
  async add(
    tx: Transaction,
    name: string,
    body: string,
    options: TemplateAddOptions = {},
  ): Promise<TemplateAdded> {
    checkName(name);
    checkBody(body);
    if (options.description !== undefined) checkDescription(options.description);
    const existing = await this.summary(name, tx);
    const now = new Date().toISOString();
    const bodySha256 = createHash('sha256').update(body).digest('hex');
    const undeclaredParameters = options.undeclaredParameters ?? 'reject';
    if (!existing) {
      const templateType = options.templateType ?? defaultTemplateType;
      await tx.run(
        `INSERT INTO templates (name, description, template_type, default_version, created_at, updated_at)
         VALUES (?, ?, ?, 1, ?, ?)`,
        [name, options.description ?? null, templateType, now, now],
      );
      await tx.run(
        `INSERT INTO template_versions (template_name, version, body, undeclared_parameters, created_at)
         VALUES (?, 1, ?, ?, ?)`,
        [name, body, undeclaredParameters, now],
      );
      await tx.audit('template.create', name, {
        version: 1,
        templateType,
        bodySha256,
        undeclaredParameters,
      });
      return { name, version: 1, created: true };
    }
    if (options.templateType !== undefined && options.templateType !== existing.templateType) {
      throw new StationError(
        'registry.conflict',
        `Template ${name} is a ${existing.templateType} template; its type is fixed, so add a new template instead.`,
        { field: 'templateType', subject: name },
      );
    }
    if (existing.versionCount >= templateVersionsMax) {
      throw new StationError(
        'template.versions_limit',
        `Template ${name} already has ${templateVersionsMax} versions; delete one that is not the default first (station template delete-version ${name} VERSION).`,
        { subject: name },
      );
    }
    // Version numbers count up from the highest ever kept, so a number never names two bodies.
    const highest = await tx.get<{ version: number }>(
      'SELECT MAX(version) AS version FROM template_versions WHERE template_name = ?',
      [name],
    );
    const version = (highest?.version ?? 0) + 1;
    await tx.run(
      `INSERT INTO template_versions (template_name, version, body, undeclared_parameters, created_at)
       VALUES (?, ?, ?, ?, ?)`,
      [name, version, body, undeclaredParameters, now],
    );
    await tx.run(
      `UPDATE templates SET default_version = ?, updated_at = ?${options.description === undefined ? '' : ', description = ?'}
       WHERE name = ?`,
      options.description === undefined ? [version, now, name] : [version, now, options.description, name],
    );
    await tx.audit('template.version.create', name, {
      version,
      previousDefault: existing.defaultVersion,
      bodySha256,
      undeclaredParameters,
    });
    return { name, version, created: false };
  }

  /**
   * DeleteProvisioningTemplateVersion: never the default version (the only one is the default). A version a
   * job was created with stays: the job provisions with it, whether open or closed, and its records name it.
   */
  async deleteVersion(tx: Transaction, name: string, version: number): Promise<void> {
    const summary = await this.summary(name, tx);
    if (!summary) {
      throw new StationError('registry.not_found', `Template ${name} does not exist.`, {
        field: 'templateName',
        subject: name,
      });
    }
    const kept = await tx.get<{ version: number }>(
      'SELECT version FROM template_versions WHERE template_name = ? AND version = ?',
      [name, version],
    );
    if (!kept) {
      throw new StationError('registry.not_found', `Template ${name} has no version ${version}.`, {
        field: 'version',
        subject: name,
      });
    }
    if (summary.defaultVersion === version) {
      throw new StationError(
        'registry.in_use',
        `Version ${version} is the default of template ${name}, the one new jobs use, so it cannot be deleted.`,
        { field: 'version', subject: name },
      );
    }
    const jobs = await tx.all<{ id: number }>(
      'SELECT id FROM jobs WHERE template_name = ? AND template_version = ? ORDER BY id',
      [name, version],
    );
    if (jobs.length > 0) {
      throw new StationError(
        'registry.in_use',
        `Version ${version} of template ${name} is the one job ${jobs.map((job) => job.id).join(', ')} provisions with, so it is kept; delete another version, or add the new body as a template of another name.`,
        { field: 'version', subject: name, details: { jobs: jobs.map((job) => job.id) } },
      );
    }
    await tx.run('DELETE FROM template_versions WHERE template_name = ? AND version = ?', [name, version]);
    await tx.run('UPDATE templates SET updated_at = ? WHERE name = ?', [new Date().toISOString(), name]);
    await tx.audit('template.version.delete', name, { version });
  }

  async list(reader: SqlReader = this.reader): Promise<TemplateSummary[]> {
    const rows = await reader.all<SummaryRow>(`${summarySelect} ORDER BY t.name`);
    return rows.map(toSummary);
  }

  /** The template with the body of `version` (default: the default version); undefined when no such template. */
  async describe(
    name: string,
    version?: number,
    reader: SqlReader = this.reader,
  ): Promise<TemplateDescription | undefined> {
    const summary = await this.summary(name, reader);
    if (!summary) return undefined;
    const wanted = version ?? summary.defaultVersion;
    const rows = await reader.all<{
      version: number;
      body: string;
      undeclared_parameters: UndeclaredParameterPolicy;
      created_at: string;
    }>(
      `SELECT version, body, undeclared_parameters, created_at FROM template_versions
       WHERE template_name = ? ORDER BY version`,
      [name],
    );
    const described = rows.find((row) => row.version === wanted);
    if (!described) {
      throw new StationError('registry.not_found', `Template ${name} has no version ${wanted}.`, {
        field: 'version',
        subject: name,
      });
    }
    return {
      ...summary,
      version: wanted,
      body: described.body,
      undeclaredParameters: described.undeclared_parameters,
      versions: rows.map((row) => ({
        version: row.version,
        isDefault: row.version === summary.defaultVersion,
        createdAt: row.created_at,
      })),
    };
  }

  async require(
    name: string,
    version?: number,
    reader: SqlReader = this.reader,
  ): Promise<TemplateDescription> {
    const description = await this.describe(name, version, reader);
    if (!description) {
      throw new StationError('registry.not_found', `Template ${name} does not exist; add it first.`, {
        field: 'templateName',
        subject: name,
      });
    }
    return description;
  }

  private async summary(name: string, reader: SqlReader): Promise<TemplateSummary | undefined> {
    const row = await reader.get<SummaryRow>(`${summarySelect} WHERE t.name = ?`, [name]);
    return row ? toSummary(row) : undefined;
  }
}

function checkName(name: string): void {
  const result = templateNameSchema.safeParse(name);
  if (!result.success)
    throw invalidInput('templateName', `${result.error.issues[0]?.message ?? 'not a template name'}.`);
}

function checkDescription(description: string): void {
  const result = templateDescriptionSchema.safeParse(description);
  if (!result.success) throw invalidInput('description', `${result.error.issues[0]?.message ?? 'too long'}.`);
}

function checkBody(body: string): void {
  if (body.length === 0 || body.length > maxBodyLength) {
    throw invalidInput('body', `a template body has 1 to ${maxBodyLength} characters, found ${body.length}.`);
  }
}

function toSummary(row: SummaryRow): TemplateSummary {
  return {
    name: row.name,
    ...(row.description !== null && { description: row.description }),
    templateType: row.template_type,
    defaultVersion: row.default_version,
    versionCount: row.version_count,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
