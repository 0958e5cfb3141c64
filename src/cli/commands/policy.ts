import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CommanderError, type Command } from 'commander';
import { invalidInput, StationError } from '../../api/errors.js';
import {
  authorizationContextSchema,
  authorizationRequestSchema,
  type AuthorizationResult,
  type PolicyIssue,
} from '../../api/policies.js';
import {
  evaluateAuthorization,
  readPolicySource,
  validatePolicyDocument,
  type PolicyDocument,
} from '../../policy/index.js';
import {
  PolicyRegistry,
  type DefaultVersionChange,
  type PolicyAdded,
  type PolicyDescription,
  type PolicySummary,
} from '../../registry/policies.js';
import type { Registry } from '../../registry/registry.js';
import { cliActor, withRegistry } from '../open-registry.js';
import { certificateIdArgument, wholeNumber, withoutByteOrderMark } from '../option-values.js';
import type { CommandModule, ContextFactory } from '../program.js';

/**
 * `station policy ...`: check and try IoT policies. Other tools drive `validate` and `test`, so their output
 * shapes are fixed: a `{path, message}` list for faults, `{decision, ...}` for a test (TestAuthorization).
 */
export const policyCommands: CommandModule = {
  register(program, context) {
    const policy = program
      .command('policy')
      .description('IoT policies: validate, test, store, attach and delete');
    registerValidate(policy, context);
    registerTest(policy, context);
    registerStore(policy, context);
  },
};

function registerValidate(policy: Command, context: ContextFactory): void {
  policy
    .command('validate')
    .description('check a policy document (or a reference policy file) as AWS CreatePolicy would')
    .argument('<file>', 'policy document JSON, or a file with policyText/substitutions')
    .action((file: string) => {
      const cli = context();
      const loaded = loadPolicy(file);
      if (!loaded.ok) {
        cli.print(loaded.errors, formatIssues);
        refuse(`policy ${loaded.name} is not valid (${countOf(loaded.errors.length, 'fault')}).`);
      }
      cli.print({ name: loaded.name, valid: true }, (result) => `policy ${result.name} is valid`);
    });
}

function registerTest(policy: Command, context: ContextFactory): void {
  policy
    .command('test')
    .description('decide a request against a policy as AWS TestAuthorization would (prints JSON)')
    .argument('<file>', 'policy document JSON, or a file with policyText/substitutions')
    .requiredOption('--request <json>', 'the request {action, resource}, as JSON or @FILE')
    .option(
      '--context <json>',
      'who asks: {clientId, principalAttachedThings, certificate, ...}, as JSON or @FILE',
    )
    .action((file: string, options: { request: string; context?: string }) => {
      const cli = context();
      const loaded = loadPolicy(file);
      if (!loaded.ok) {
        process.stderr.write(formatIssues(loaded.errors));
        refuse(`policy ${loaded.name} is not valid; fix the faults above.`);
      }
      const request = parseOption('--request', options.request, authorizationRequestSchema);
      const requestContext = parseOption('--context', options.context ?? '{}', authorizationContextSchema);
      const result = evaluateAuthorization(request, requestContext, [loaded]);
      // Tools read this output with or without --json, so it is JSON either way.
      cli.print<AuthorizationResult>(result, (answer) => JSON.stringify(answer, null, 2));
    });
}

/**
 * `add`, `list`, `describe`, `attach`, `detach`, `set-default`, `delete-version`, `delete`: policies kept in
 * the registry (versions, attachments).
 */
function registerStore(policy: Command, context: ContextFactory): void {
  policy
    .command('add')
    .description('store a validated policy; an existing name gets a new version (at most 5)')
    .argument('<name>', 'policy name: 1-128 of letters, digits and _ + = , . @ -')
    .argument('<file>', 'policy document JSON, or a file with policyText/substitutions')
    .option('--keep-default', 'add the version without making it the default')
    .action(async (name: string, file: string, options: { keepDefault?: boolean }) => {
      const cli = context();
      const loaded = loadPolicy(file);
      if (!loaded.ok) {
        cli.print(loaded.errors, formatIssues);
        refuse(
          `policy ${loaded.name} is not valid (${countOf(loaded.errors.length, 'fault')}); nothing was stored.`,
        );
      }
      const added = await withPolicies(cli, (registry, policies) =>
        registry.transaction(cliActor(), (tx) => policies.add(tx, name, loaded.text, !options.keepDefault)),
      );
      cli.print(added, describeAdded);
    });

  policy
    .command('list')
    .description('list stored policies with their default version and attachments')
    .action(async () => {
      const cli = context();
      const summaries = await withPolicies(cli, (_registry, policies) => policies.list());
      cli.print(summaries, formatSummaries);
    });

  policy
    .command('describe')
    .description('show a stored policy: default document, versions, certificates')
    .argument('<name>', 'policy name')
    .action(async (name: string) => {
      const cli = context();
      const description = await withPolicies(cli, (_registry, policies) => policies.require(name));
      cli.print(description, formatDescription);
    });

  policy
    .command('attach')
    .description('attach a stored policy to a certificate in the registry (at most 10 per certificate)')
    .argument('<name>', 'policy name')
    .requiredOption('--cert <id>', 'certificate ID (SHA-256 of the DER, hex)')
    .action(async (name: string, options: { cert: string }) => {
      const cli = context();
      const certificateId = certificateIdArgument(options.cert, 'cert');
      const outcome = await withPolicies(cli, (registry, policies) =>
        registry.transaction(cliActor(), (tx) => policies.attach(tx, name, certificateId)),
      );
      cli.print({ policyName: name, certificateId, ...outcome }, (result) =>
        result.attached
          ? `attached policy ${name} to certificate ${certificateId}`
          : `policy ${name} was already attached to certificate ${certificateId}`,
      );
    });

  policy
    .command('detach')
    .description('detach a policy from a certificate')
    .argument('<name>', 'policy name')
    .requiredOption('--cert <id>', 'certificate ID (SHA-256 of the DER, hex)')
    .action(async (name: string, options: { cert: string }) => {
      const cli = context();
      const certificateId = certificateIdArgument(options.cert, 'cert');
      const outcome = await withPolicies(cli, (registry, policies) =>
        registry.transaction(cliActor(), (tx) => policies.detach(tx, name, certificateId)),
      );
      cli.print({ policyName: name, certificateId, ...outcome }, (result) =>
        result.detached
          ? `detached policy ${name} from certificate ${certificateId}`
          : `policy ${name} was not attached to certificate ${certificateId}`,
      );
    });

  policy
    .command('set-default')
    .description('make a stored version of a policy its default (the document devices are held to)')
    .argument('<name>', 'policy name')
    .argument('<version>', 'version number (station policy describe lists them)')
    .action(async (name: string, versionText: string) => {
      const cli = context();
      const version = wholeNumber('version', versionText, 1);
      const change = await withPolicies(cli, (registry, policies) =>
        registry.transaction(cliActor(), (tx) => policies.setDefaultVersion(tx, name, version)),
      );
      cli.print(change, (result: DefaultVersionChange) =>
        result.changed
          ? `version ${version} is now the default of policy ${name} (was version ${result.previousVersion})`
          : `version ${version} was already the default of policy ${name}`,
      );
    });

  policy
    .command('delete-version')
    .description('delete a version of a policy that is not its default')
    .argument('<name>', 'policy name')
    .argument('<version>', 'version number (station policy describe lists them)')
    .action(async (name: string, versionText: string) => {
      const cli = context();
      const version = wholeNumber('version', versionText, 1);
      await withPolicies(cli, (registry, policies) =>
        registry.transaction(cliActor(), (tx) => policies.deleteVersion(tx, name, version)),
      );
      cli.print(
        { policyName: name, version, deleted: true },
        () => `deleted version ${version} of policy ${name}`,
      );
    });

  policy
    .command('delete')
    .description('delete a policy and all its versions (refused while attached to a certificate)')
    .argument('<name>', 'policy name')
    .action(async (name: string) => {
      const cli = context();
      await withPolicies(cli, (registry, policies) =>
        registry.transaction(cliActor(), (tx) => policies.delete(tx, name)),
      );
      cli.print({ policyName: name, deleted: true }, () => `deleted policy ${name}`);
    });
}

function withPolicies<T>(
  cli: ReturnType<ContextFactory>,
  work: (registry: Registry, policies: PolicyRegistry) => Promise<T>,
): Promise<T> {
  return withRegistry(cli, (registry) => work(registry, new PolicyRegistry(registry.reader)));
}

function describeAdded(added: PolicyAdded): string {
  if (added.created) return `created policy ${added.name} (version 1, default)`;
  return `added version ${added.version} of policy ${added.name}${added.isDefault ? ' (now the default)' : ''}`;
}

function formatSummaries(summaries: readonly PolicySummary[]): string {
  if (summaries.length === 0) return 'no policies';
  return summaries
    .map(
      (summary) =>
        `${summary.name}  default v${summary.defaultVersion} of ${summary.versionCount}  ` +
        `${countOf(summary.certificateCount, 'certificate')}`,
    )
    .join('\n');
}

function formatDescription(description: PolicyDescription): string {
  const versions = description.versions
    .map((version) => `v${version.version}${version.isDefault ? ' (default)' : ''}  ${version.createdAt}`)
    .join('\n  ');
  const certificates =
    description.certificateIds.length > 0 ? description.certificateIds.join('\n  ') : '(none)';
  return [
    `policy ${description.name}`,
    `versions:\n  ${versions}`,
    `certificates:\n  ${certificates}`,
    `document (v${description.defaultVersion}):`,
    description.document,
  ].join('\n');
}

type LoadedPolicy =
  | { ok: true; name: string; document: PolicyDocument; text: string }
  | { ok: false; name: string; errors: PolicyIssue[] };

function loadPolicy(file: string): LoadedPolicy {
  const source = readPolicySource(readText(file, 'file'), path.basename(file, path.extname(file)));
  const validation = validatePolicyDocument(source.text);
  return validation.ok
    ? { ok: true, name: source.name, document: validation.document, text: source.text }
    : { ok: false, name: source.name, errors: validation.errors };
}

/** `JSON` inline or `@FILE`, checked against the schema; faults name the option. */
function parseOption<T>(
  option: string,
  value: string,
  schema: { safeParse(input: unknown): SafeParse<T> },
): T {
  const text = value.startsWith('@') ? readText(value.slice(1), option) : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidInput(option, 'is not valid JSON; give JSON text or @FILE.');
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw invalidInput(option, `${where}${issue?.message ?? 'does not have the expected shape'}.`);
  }
  return result.data;
}

type SafeParse<T> =
  | { success: true; data: T }
  | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };

function readText(file: string, field: string): string {
  try {
    return withoutByteOrderMark(readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new StationError('input.unreadable', `${field}: ${file} ${reason}; check the path.`, {
      field,
      cause: error,
    });
  }
}

/**
 * Exit 1 with stdout holding only what was printed (the fault list): a thrown StationError would add an
 * `{error}` object to stdout under --json, which tools reading the list do not expect.
 */
function refuse(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  throw new CommanderError(1, 'policy.invalid', message);
}

function formatIssues(issues: readonly PolicyIssue[]): string {
  return issues.map((issue) => `${issue.path || '(document)'}: ${issue.message}\n`).join('');
}

function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
