import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { X509Certificate } from '@peculiar/x509';
import { CommanderError, type Command } from 'commander';
import { invalidInput, StationError } from '../../api/errors.js';
import type { CertificateFacts, ResourcePlan, TemplateIssue } from '../../api/templates.js';
import {
  evaluateTemplate,
  formatIssue,
  loadTemplate,
  parseTemplate,
  planResources,
  readBulkInput,
  type BulkInputLine,
  type ParsedTemplate,
  type ParseOptions,
} from '../../templates/index.js';
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
      const plan = planResources(parsed, { parameters, certificate });
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
    return readFileSync(file, 'utf8');
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
