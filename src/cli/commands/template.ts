import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { X509Certificate } from '@peculiar/x509';
import { CommanderError, type Command } from 'commander';
import { invalidInput, StationError } from '../../api/errors.js';
import {
  defaultTemplateType,
  templateTypeSchema,
  type CertificateFacts,
  type ResourcePlan,
  type TemplateIssue,
  type TemplateType,
} from '../../api/templates.js';
import {
  TemplateRegistry,
  type TemplateAdded,
  type TemplateDescription,
  type TemplateSummary,
} from '../../registry/templates.js';
import {
  evaluateTemplate,
  formatIssue,
  loadTemplate,
  parseTemplate,
  templateError,
  templateTypeIssues,
  readBulkInput,
  type BulkInputLine,
  type ParsedTemplate,
  type ParseOptions,
} from '../../templates/index.js';
import { cliActor, withRegistry } from '../open-registry.js';
import { withoutByteOrderMark } from '../option-values.js';
import type { CommandModule, ContextFactory } from '../program.js';

/**
 * `station template ...`: check, try and store provisioning templates. Other tools drive `validate` and
 * `eval`, so their output shapes are fixed: a `{path, message}` list of faults, and the ResourcePlan as JSON.
 */
export const templateCommands: CommandModule = {
  register(program, context) {
    const template = program
      .command('template')
      .description('provisioning templates (AWS IoT format): validate, evaluate, store');
    registerValidate(template, context);
    registerEval(template, context);
    registerBulk(template, context);
    registerStore(template, context);
  },
};

const undeclaredOption = [
  '--undeclared-from-params',
  'read Refs to undeclared parameters from the parameters instead of refusing them (as AWS samples T04/T05 assume)',
] as const;

function parseOptions(options: { undeclaredFromParams?: boolean }): ParseOptions {
  return { undeclaredParameters: options.undeclaredFromParams ? 'from-dictionary' : 'reject' };
}

function registerValidate(template: Command, context: ContextFactory): void {
  template
    .command('validate')
    .description('check a template body as AWS would; lists every fault with its JSON path')
    .argument('<file>', 'template body (JSON)')
    .option(...undeclaredOption)
    .action((file: string, options: { undeclaredFromParams?: boolean }) => {
      const cli = context();
      const outcome = parseTemplate(readText(file, 'file'), parseOptions(options));
      const faults = outcome.ok ? [] : outcome.errors;
      cli.print<TemplateIssue[]>(faults, (list) =>
        list.length === 0 ? `${file}: valid` : list.map(formatIssue).join('\n'),
      );
      if (faults.length > 0) refuse(`${file} is not a valid template (${countOf(faults.length, 'fault')}).`);
    });
}

function registerEval(template: Command, context: ContextFactory): void {
  template
    .command('eval')
    .description('evaluate a template with parameters into the resources it would create (prints JSON)')
    .argument('<file>', 'template body (JSON)')
    .option('--params <json>', 'the parameter dictionary, as JSON or @FILE', '{}')
    .option('--cert <pem-file>', 'device certificate (PEM) whose subject fills AWS::IoT::Certificate::*')
    .option(...undeclaredOption)
    .action((file: string, options: { params: string; cert?: string; undeclaredFromParams?: boolean }) => {
      const cli = context();
      const parsed = loadTemplate(readText(file, 'file'), parseOptions(options));
      const parameters = readParameters(options.params);
      const certificate = options.cert === undefined ? undefined : readCertificateFacts(options.cert);
      const outcome = evaluateTemplate(parsed, { parameters, certificate });
      if (!outcome.ok) {
        // The error names the first fault; a technician reads them all (--json has them in details).
        if (!cli.json) for (const issue of outcome.errors) process.stderr.write(`${formatIssue(issue)}\n`);
        throw templateError('template.evaluation_failed', outcome.errors);
      }
      const plan = outcome.value;
      // Tools read the plan with or without --json, so it is JSON either way.
      cli.print(plan, (result) => JSON.stringify(result, null, 2));
    });
}

function registerBulk(template: Command, context: ContextFactory): void {
  template
    .command('bulk')
    .description('evaluate a template for every line of AWS bulk-registration input (prints JSON lines)')
    .argument('<file>', 'template body (JSON)')
    .requiredOption(
      '--input <jsonl-file>',
      'one parameter dictionary per line, as AWS bulk registration reads it',
    )
    .option(...undeclaredOption)
    .action(async (file: string, options: { input: string; undeclaredFromParams?: boolean }) => {
      context();
      const parsed = loadTemplate(readText(file, 'file'), parseOptions(options));
      const input = await openInput(options.input, '--input');
      let failed = 0;
      // One JSON line out per line in, in order, as AWS's RESULTS report lists them (aws-iot-spec.md 2).
      for await (const line of readBulkInput(input.createReadStream())) {
        const result = bulkLineResult(line, parsed);
        if ('errors' in result) failed += 1;
        process.stdout.write(`${JSON.stringify(result)}\n`);
      }
      if (failed > 0) refuse(`${countOf(failed, 'line')} of ${options.input} could not be evaluated.`);
    });
}

function bulkLineResult(
  line: BulkInputLine,
  template: ParsedTemplate,
): { line: number; plan: ResourcePlan } | { line: number; errors: TemplateIssue[] } {
  if ('errors' in line) return line;
  const outcome = evaluateTemplate(template, { parameters: line.parameters });
  return outcome.ok ? { line: line.line, plan: outcome.value } : { line: line.line, errors: outcome.errors };
}

/** `add`, `delete-version`, `list`, `describe`: templates kept in the registry, a new version on every add. */
function registerStore(template: Command, context: ContextFactory): void {
  template
    .command('add')
    .description('store a template after validating it; an existing name gets a new default version')
    .argument('<name>', 'template name: 1-36 letters, digits, "_" or "-"')
    .argument('<file>', 'template body (JSON)')
    .option('--description <text>', 'what the template is for (at most 500 characters)')
    .option('--type <type>', 'FLEET_PROVISIONING (default) or JITP; fixed when the template is created')
    .option(...undeclaredOption)
    .action(
      async (
        name: string,
        file: string,
        options: { description?: string; type?: string; undeclaredFromParams?: boolean },
      ) => {
        const cli = context();
        const body = readText(file, 'file');
        const outcome = parseTemplate(body, parseOptions(options));
        if (!outcome.ok) {
          cli.print(outcome.errors, (list) => list.map(formatIssue).join('\n'));
          refuse(
            `${file} is not a valid template (${countOf(outcome.errors.length, 'fault')}); nothing was stored.`,
          );
        }
        const templateType = options.type === undefined ? undefined : readTemplateType(options.type);
        const added = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), async (tx) => {
            const templates = new TemplateRegistry(registry.reader);
            // A new version takes the type the template was created with.
            const existing = await templates.describe(name, undefined, tx);
            const type = existing?.templateType ?? templateType ?? defaultTemplateType;
            const faults = templateTypeIssues(outcome.value, type);
            if (faults.length > 0)
              return { type, faults, typeChosen: existing !== undefined || templateType !== undefined };
            return templates.add(tx, name, body, {
              description: options.description,
              templateType,
              undeclaredParameters: outcome.value.undeclaredParameters,
            });
          }),
        );
        if ('faults' in added) {
          cli.print(added.faults, (list) => list.map(formatIssue).join('\n'));
          // JITP bodies read the certificate's subject; the default type would refuse them.
          const hint = added.typeChosen ? '' : ' (a JITP template is added with --type JITP)';
          refuse(
            `${file} does not suit a ${added.type} template (${countOf(added.faults.length, 'fault')}); nothing was stored${hint}.`,
          );
        }
        cli.print<TemplateAdded>(added, (result) =>
          result.created
            ? `template ${result.name} created (version 1)`
            : `template ${result.name}: version ${result.version} added and made the default`,
        );
      },
    );

  template
    .command('delete-version')
    .description('delete a version of a stored template: not the default, nor one a job was created with')
    .argument('<name>', 'template name')
    .argument('<version>', 'the version to delete')
    .action(async (name: string, version: string) => {
      const cli = context();
      const deleted = readVersion(version, 'version');
      await withRegistry(cli, (registry) =>
        registry.transaction(cliActor(), (tx) =>
          new TemplateRegistry(registry.reader).deleteVersion(tx, name, deleted),
        ),
      );
      cli.print({ name, version: deleted }, () => `template ${name}: version ${deleted} deleted`);
    });

  template
    .command('list')
    .description('list stored templates with their default version')
    .action(async () => {
      const cli = context();
      const summaries = await withRegistry(cli, (registry) => new TemplateRegistry(registry.reader).list());
      cli.print<TemplateSummary[]>(summaries, (list) =>
        list.length === 0
          ? 'no templates stored; add one with `station template add NAME FILE`'
          : list
              .map(
                (t) =>
                  `${t.name}  ${t.templateType}  v${t.defaultVersion} of ${t.versionCount}${t.description ? `  ${t.description}` : ''}`,
              )
              .join('\n'),
      );
    });

  template
    .command('describe')
    .description('show a stored template: its versions and the body of the default (or --version) one')
    .argument('<name>', 'template name')
    .option('--version <n>', 'the version to show (default: the default version)')
    .action(async (name: string, options: { version?: string }) => {
      const cli = context();
      const version = options.version === undefined ? undefined : readVersion(options.version, '--version');
      const description = await withRegistry(cli, (registry) =>
        new TemplateRegistry(registry.reader).require(name, version),
      );
      cli.print<TemplateDescription>(description, describeTemplate);
    });
}

function describeTemplate(t: TemplateDescription): string {
  const versions = t.versions
    .map((v) => `  v${v.version}${v.isDefault ? ' (default)' : ''}  ${v.createdAt}`)
    .join('\n');
  return [
    `${t.name}  ${t.templateType}${t.description ? `  ${t.description}` : ''}`,
    'versions:',
    versions,
    `body of version ${t.version}${t.undeclaredParameters === 'from-dictionary' ? ' (Refs to undeclared parameters read from the parameters)' : ''}:`,
    t.body,
  ].join('\n');
}

function readTemplateType(value: string): TemplateType {
  const result = templateTypeSchema.safeParse(value.toUpperCase());
  if (!result.success) throw invalidInput('--type', 'must be FLEET_PROVISIONING or JITP.');
  return result.data;
}

function readVersion(value: string, field: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value)) throw invalidInput(field, 'must be a version number (1 or more).');
  return Number(value);
}

function readParameters(value: string): Record<string, unknown> {
  const text = value.startsWith('@') ? readText(value.slice(1), '--params') : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidInput('--params', 'is not valid JSON; give a JSON object or @FILE.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidInput('--params', 'must be a JSON object of parameter name: string.');
  }
  return parsed as Record<string, unknown>;
}

// X.520 attribute types of the subject fields the built-ins read (aws-iot-spec.md 1).
const subjectOids = {
  commonName: '2.5.4.3',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  distinguishedNameQualifier: '2.5.4.46',
  stateName: '2.5.4.8',
  serialNumber: '2.5.4.5',
} as const;

/** The certificate's id (SHA-256 of the DER, lowercase hex, as AWS does) and first subject values. */
function readCertificateFacts(file: string): CertificateFacts {
  const pem = readText(file, '--cert');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (error) {
    throw invalidInput('--cert', `${file} is not a PEM certificate (${(error as Error).message}).`);
  }
  const subject: CertificateFacts['subject'] = {};
  for (const [field, oid] of Object.entries(subjectOids) as [keyof typeof subjectOids, string][]) {
    const value = certificate.subjectName.getField(oid)[0];
    if (value !== undefined) subject[field] = value;
  }
  const id = createHash('sha256').update(new Uint8Array(certificate.rawData)).digest('hex');
  return { id, subject };
}

function readText(file: string, field: string): string {
  try {
    return withoutByteOrderMark(readFileSync(file, 'utf8'));
  } catch (error) {
    throw unreadable(file, field, error);
  }
}

async function openInput(file: string, field: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (error) {
    throw unreadable(file, field, error);
  }
}

function unreadable(file: string, field: string, error: unknown): StationError {
  const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
  return new StationError('input.unreadable', `${field}: ${file} ${reason}; check the path.`, {
    field,
    cause: error,
  });
}

/**
 * Exit 1 with stdout holding only what was printed (the fault list or plan lines): a thrown StationError
 * would add an `{error}` object to stdout under --json, which tools reading the list do not expect.
 */
function refuse(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  throw new CommanderError(1, 'template.invalid', message);
}

function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
