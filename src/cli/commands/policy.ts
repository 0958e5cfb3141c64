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
import type { CommandModule, ContextFactory } from '../program.js';

/**
 * `station policy ...`: check and try IoT policies. Other tools drive `validate` and `test`, so their output
 * shapes are fixed: a `{path, message}` list for faults, `{decision, ...}` for a test (TestAuthorization).
 */
export const policyCommands: CommandModule = {
  register(program, context) {
    const policy = program.command('policy').description('IoT policies: validate, test, store and attach');
    registerValidate(policy, context);
    registerTest(policy, context);
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

type LoadedPolicy =
  { ok: true; name: string; document: PolicyDocument } | { ok: false; name: string; errors: PolicyIssue[] };

function loadPolicy(file: string): LoadedPolicy {
  const source = readPolicySource(readText(file, 'file'), path.basename(file, path.extname(file)));
  const validation = validatePolicyDocument(source.text);
  return validation.ok
    ? { ok: true, name: source.name, document: validation.document }
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
    return readFileSync(file, 'utf8');
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
