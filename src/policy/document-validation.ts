import type { PolicyDocument, PolicyIssue } from '../api/policies.js';
import { isWellFormedArnPattern } from './arn-pattern.js';
import { checkConditionValue, parseConditionOperator } from './condition-operators.js';
import { findUnclosedVariable } from './wildcard-pattern.js';

/** CreatePolicy: 1-2048 characters excluding whitespace (aws-iot-spec.md 4, Limits). */
export const policyDocumentMaxCharacters = 2048;
/** IAM policy language versions; only 2012-10-17 substitutes `${...}` variables. */
export const policyVersions = ['2012-10-17', '2008-10-17'] as const;
export const variablesVersion = '2012-10-17';

export type PolicyValidation = { ok: true; document: PolicyDocument } | { ok: false; errors: PolicyIssue[] };

const documentElements = new Set(['Version', 'Id', 'Statement']);
const statementElements = new Set([
  'Sid',
  'Effect',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
]);
/**
 * IoT policies carry iot: actions, greengrass: ones for Greengrass cores (DG:iot-policy-actions), and
 * iotjobsdata: ones for the jobs data plane, as the DG's basic job policy example writes them.
 */
const actionPattern = /^(?:\*|(?:iot|greengrass|iotjobsdata):[A-Za-z0-9*?]+)$/i;
const conditionKeyPattern = /^[A-Za-z0-9-]+:\S+$/;

/**
 * Checks a policy document (JSON text or an already parsed object) as CreatePolicy would and returns every
 * fault found, each with its path, e.g. `Statement[1].Condition.StringEqual`.
 */
export function validatePolicyDocument(input: string | object): PolicyValidation {
  let parsed: unknown;
  let text: string;
  if (typeof input === 'string') {
    text = input;
    try {
      parsed = JSON.parse(input);
    } catch (error) {
      return fail('', `the document is not valid JSON: ${describeJsonFault(input, error)}`);
    }
  } else {
    parsed = input;
    try {
      text = JSON.stringify(input) ?? '';
    } catch {
      return fail('', 'the document is not JSON data (it has cycles or values JSON cannot hold)');
    }
  }
  const errors: PolicyIssue[] = [];
  const characters = text.replace(/\s+/g, '').length;
  if (characters > policyDocumentMaxCharacters) {
    errors.push({
      path: '',
      message: `the document has ${characters} characters excluding whitespace; AWS allows at most ${policyDocumentMaxCharacters}`,
    });
  }
  if (!isPlainObject(parsed)) {
    errors.push({ path: '', message: 'a policy document is a JSON object with Version and Statement' });
    return { ok: false, errors };
  }
  checkDocument(parsed, errors);
  return errors.length === 0 ? { ok: true, document: parsed as PolicyDocument } : { ok: false, errors };
}

function checkDocument(document: Record<string, unknown>, errors: PolicyIssue[]): void {
  for (const key of Object.keys(document)) {
    if (!documentElements.has(key)) {
      errors.push({
        path: key,
        message: 'unknown element; a policy document has only Version, Id and Statement',
      });
    }
  }
  const version = document.Version;
  if (version !== undefined && !(policyVersions as readonly unknown[]).includes(version)) {
    errors.push({ path: 'Version', message: `must be "${variablesVersion}" (or the older "2008-10-17")` });
  }
  if (document.Id !== undefined && typeof document.Id !== 'string') {
    errors.push({ path: 'Id', message: 'must be a string' });
  }
  const variables = version === variablesVersion;
  const statement = document.Statement;
  if (statement === undefined) {
    errors.push({ path: 'Statement', message: 'is required: one statement object or a list of them' });
  } else if (Array.isArray(statement)) {
    if (statement.length === 0) errors.push({ path: 'Statement', message: 'needs at least one statement' });
    statement.forEach((entry, i) => checkStatement(entry, `Statement[${i}]`, variables, errors));
    checkDistinctSids(statement, errors);
  } else {
    checkStatement(statement, 'Statement', variables, errors);
  }
}

function checkStatement(statement: unknown, path: string, variables: boolean, errors: PolicyIssue[]): void {
  if (!isPlainObject(statement)) {
    errors.push({ path, message: 'a statement is an object with Effect, Action and Resource' });
    return;
  }
  for (const key of Object.keys(statement)) {
    if (key === 'Principal' || key === 'NotPrincipal') {
      errors.push({
        path: `${path}.${key}`,
        message: 'IoT policies attach to principals and cannot name one',
      });
    } else if (!statementElements.has(key)) {
      errors.push({ path: `${path}.${key}`, message: 'unknown element' });
    }
  }
  if (
    statement.Sid !== undefined &&
    (typeof statement.Sid !== 'string' || !/^[A-Za-z0-9]*$/.test(statement.Sid))
  ) {
    errors.push({ path: `${path}.Sid`, message: 'must be a string of letters and digits' });
  }
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') {
    errors.push({ path: `${path}.Effect`, message: 'must be "Allow" or "Deny"' });
  }
  checkExclusivePair(statement, path, 'Action', 'NotAction', errors, (value, at) => {
    if (!actionPattern.test(value)) {
      errors.push({ path: at, message: `"${value}" is not an IoT action (iot:Publish, iot:*, *)` });
    }
  });
  checkExclusivePair(statement, path, 'Resource', 'NotResource', errors, (value, at) => {
    if (!isWellFormedArnPattern(value, 'resource', { wildcards: true, variables })) {
      errors.push({
        path: at,
        message: `"${value}" is neither * nor an ARN (arn:aws:iot:region:account:type/name; fewer parts only where one ends in *, as in arn:aws:iot:us-east-1:*)`,
      });
    } else {
      checkVariables(value, at, variables, errors);
    }
  });
  if (statement.Condition !== undefined)
    checkCondition(statement.Condition, `${path}.Condition`, variables, errors);
}

/** Exactly one of Action/NotAction (Resource/NotResource), holding a string or a non-empty list of strings. */
function checkExclusivePair(
  statement: Record<string, unknown>,
  path: string,
  element: string,
  notElement: string,
  errors: PolicyIssue[],
  checkValue: (value: string, path: string) => void,
): void {
  const has = statement[element] !== undefined;
  const hasNot = statement[notElement] !== undefined;
  if (has === hasNot) {
    errors.push({
      path: `${path}.${has ? notElement : element}`,
      message: has
        ? `cannot appear together with ${element}`
        : `a statement needs ${element} or ${notElement}`,
    });
  }
  for (const name of [element, notElement]) {
    const value = statement[name];
    if (value === undefined) continue;
    const at = `${path}.${name}`;
    if (typeof value === 'string') {
      checkValue(value, at);
    } else if (Array.isArray(value) && value.length > 0) {
      value.forEach((item, i) => {
        if (typeof item === 'string') checkValue(item, `${at}[${i}]`);
        else errors.push({ path: `${at}[${i}]`, message: 'must be a string' });
      });
    } else {
      errors.push({ path: at, message: 'must be a string or a non-empty list of strings' });
    }
  }
}

function checkCondition(condition: unknown, path: string, variables: boolean, errors: PolicyIssue[]): void {
  if (!isPlainObject(condition)) {
    errors.push({ path, message: 'must be an object of condition operators' });
    return;
  }
  for (const [operatorName, block] of Object.entries(condition)) {
    const at = `${path}.${operatorName}`;
    const operator = parseConditionOperator(operatorName);
    if (typeof operator === 'string') {
      errors.push({ path: at, message: operator });
      continue;
    }
    if (!isPlainObject(block) || Object.keys(block).length === 0) {
      errors.push({ path: at, message: 'must be an object of condition keys and their values' });
      continue;
    }
    for (const [key, raw] of Object.entries(block)) {
      const keyPath = `${at}.${key}`;
      if (!conditionKeyPattern.test(key)) {
        errors.push({ path: keyPath, message: 'a condition key looks like iot:ClientId or aws:SourceIp' });
      }
      const values = conditionValues(raw);
      if (values === undefined) {
        errors.push({
          path: keyPath,
          message: 'must be a string, number, boolean or a non-empty list of them',
        });
        continue;
      }
      values.forEach((value, i) => {
        const valuePath = Array.isArray(raw) ? `${keyPath}[${i}]` : keyPath;
        const problem = checkConditionValue(operator, value);
        if (problem !== undefined) errors.push({ path: valuePath, message: problem });
        else checkVariables(value, valuePath, variables, errors);
      });
    }
  }
}

/** Condition values as text: IAM compares numbers and booleans by their JSON spelling. */
export function conditionValues(raw: unknown): string[] | undefined {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) return undefined;
  const values: string[] = [];
  for (const item of list) {
    if (typeof item === 'string') values.push(item);
    else if (typeof item === 'number' && Number.isFinite(item)) values.push(String(item));
    else if (typeof item === 'boolean') values.push(String(item));
    else return undefined;
  }
  return values;
}

function checkVariables(value: string, path: string, variables: boolean, errors: PolicyIssue[]): void {
  if (variables && findUnclosedVariable(value) >= 0) {
    errors.push({ path, message: `"${value}" opens a policy variable with \${ but never closes it with }` });
  }
}

function checkDistinctSids(statements: unknown[], errors: PolicyIssue[]): void {
  const seen = new Set<string>();
  statements.forEach((statement, i) => {
    const sid = isPlainObject(statement) ? statement.Sid : undefined;
    if (typeof sid !== 'string' || sid === '') return;
    if (seen.has(sid))
      errors.push({ path: `Statement[${i}].Sid`, message: `"${sid}" is used by an earlier statement` });
    seen.add(sid);
  });
}

/** JSON.parse names a character offset; a technician fixing the file needs the line and column. */
function describeJsonFault(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const offset = /at position (\d+)/.exec(message)?.[1];
  if (offset === undefined || /line \d+/.test(message)) return message;
  const before = text.slice(0, Number(offset));
  const line = before.split('\n').length;
  const column = Number(offset) - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(path: string, message: string): PolicyValidation {
  return { ok: false, errors: [{ path, message }] };
}
