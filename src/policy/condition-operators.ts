import { isWellFormedArnPattern, matchArnPattern, parseArnPattern, splitArn } from './arn-pattern.js';
import { isInRange, parseIpAddress, parseIpRange } from './ip-address.js';
import type { ContextValue } from './policy-variables.js';
import { buildGlob, matchGlob, parsePattern, type PatternSyntax } from './wildcard-pattern.js';

/**
 * IAM condition operators as AWS IoT policies use them (aws-iot-spec.md 4, Conditions): the base operator,
 * an optional `ForAllValues:` / `ForAnyValue:` set qualifier and an optional `IfExists` suffix.
 */
type Family =
  | 'string'
  | 'stringIgnoreCase'
  | 'stringLike'
  | 'numeric'
  | 'date'
  | 'bool'
  | 'binary'
  | 'ip'
  | 'arn'
  | 'null';
type Comparison = 'eq' | 'lt' | 'le' | 'gt' | 'ge';

interface BaseOperator {
  family: Family;
  comparison: Comparison;
  /** "Not" operators: true when the request value matches none of the policy values. */
  negated: boolean;
}

const baseOperators: Record<string, BaseOperator> = {
  StringEquals: { family: 'string', comparison: 'eq', negated: false },
  StringNotEquals: { family: 'string', comparison: 'eq', negated: true },
  StringEqualsIgnoreCase: { family: 'stringIgnoreCase', comparison: 'eq', negated: false },
  StringNotEqualsIgnoreCase: { family: 'stringIgnoreCase', comparison: 'eq', negated: true },
  StringLike: { family: 'stringLike', comparison: 'eq', negated: false },
  StringNotLike: { family: 'stringLike', comparison: 'eq', negated: true },
  NumericEquals: { family: 'numeric', comparison: 'eq', negated: false },
  NumericNotEquals: { family: 'numeric', comparison: 'eq', negated: true },
  NumericLessThan: { family: 'numeric', comparison: 'lt', negated: false },
  NumericLessThanEquals: { family: 'numeric', comparison: 'le', negated: false },
  NumericGreaterThan: { family: 'numeric', comparison: 'gt', negated: false },
  NumericGreaterThanEquals: { family: 'numeric', comparison: 'ge', negated: false },
  DateEquals: { family: 'date', comparison: 'eq', negated: false },
  DateNotEquals: { family: 'date', comparison: 'eq', negated: true },
  DateLessThan: { family: 'date', comparison: 'lt', negated: false },
  DateLessThanEquals: { family: 'date', comparison: 'le', negated: false },
  DateGreaterThan: { family: 'date', comparison: 'gt', negated: false },
  DateGreaterThanEquals: { family: 'date', comparison: 'ge', negated: false },
  Bool: { family: 'bool', comparison: 'eq', negated: false },
  BinaryEquals: { family: 'binary', comparison: 'eq', negated: false },
  IpAddress: { family: 'ip', comparison: 'eq', negated: false },
  NotIpAddress: { family: 'ip', comparison: 'eq', negated: true },
  ArnEquals: { family: 'arn', comparison: 'eq', negated: false },
  ArnLike: { family: 'arn', comparison: 'eq', negated: false },
  ArnNotEquals: { family: 'arn', comparison: 'eq', negated: true },
  ArnNotLike: { family: 'arn', comparison: 'eq', negated: true },
  Null: { family: 'null', comparison: 'eq', negated: false },
};

export interface ConditionOperator extends BaseOperator {
  setQualifier: 'ForAllValues' | 'ForAnyValue' | undefined;
  ifExists: boolean;
}

const setQualifiers = ['ForAllValues', 'ForAnyValue'] as const;

function setQualifierOf(name: string): ConditionOperator['setQualifier'] {
  return setQualifiers.find((qualifier) => name.startsWith(`${qualifier}:`));
}

/** The operator, or a sentence saying why the name is not one. */
export function parseConditionOperator(name: string): ConditionOperator | string {
  const setQualifier = setQualifierOf(name);
  let rest = setQualifier === undefined ? name : name.slice(setQualifier.length + 1);
  // IAM's grammar allows one qualifier; running `ForAllValues:ForAnyValue:X` as either would guess.
  if (setQualifierOf(rest) !== undefined) {
    return `"${name}": a condition operator takes at most one set qualifier, ForAllValues: or ForAnyValue:`;
  }
  const ifExists = rest.endsWith('IfExists');
  if (ifExists) rest = rest.slice(0, -'IfExists'.length);
  const base = Object.hasOwn(baseOperators, rest) ? baseOperators[rest] : undefined;
  if (base === undefined) return `unknown condition operator "${name}"`;
  if (base.family === 'null' && (setQualifier !== undefined || ifExists)) {
    return `"${name}": Null takes neither a ForAllValues/ForAnyValue qualifier nor IfExists`;
  }
  return { ...base, setQualifier, ifExists };
}

const numberText = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const isoDateText = /^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?$/;

function parseNumber(text: string): number | undefined {
  return numberText.test(text) ? Number(text) : undefined;
}

/** ISO 8601 or epoch seconds, as IAM accepts them; milliseconds since the epoch out. */
function parseDate(text: string): number | undefined {
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  if (!isoDateText.test(text)) return undefined;
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : time;
}

/** A sentence when a policy value cannot be used with the operator, else undefined. */
export function checkConditionValue(operator: ConditionOperator, value: string): string | undefined {
  switch (operator.family) {
    case 'numeric':
      return parseNumber(value) === undefined ? `"${value}" is not a number` : undefined;
    case 'date':
      return parseDate(value) === undefined
        ? `"${value}" is not an ISO 8601 date or epoch seconds`
        : undefined;
    case 'bool':
    case 'null':
      return /^(true|false)$/i.test(value) ? undefined : `"${value}" is neither true nor false`;
    case 'ip':
      return parseIpRange(value) === undefined ? `"${value}" is not an IP address or CIDR range` : undefined;
    case 'arn':
      return isWellFormedArnPattern(value, 'condition')
        ? undefined
        : `"${value}" is not an ARN (arn:partition:service:region:account:resource)`;
    default:
      return undefined;
  }
}

/** Lookups of the request's context, remembering which keys had no value. */
export interface ContextLookup {
  value(name: string): ContextValue;
  /** A variable inside a pattern: single values only (a list cannot be substituted into text). */
  text(name: string): string | undefined;
}

type ValueMatcher = (requestValue: string, lookup: ContextLookup) => boolean;

function compareNumbers(comparison: Comparison, left: number, right: number): boolean {
  switch (comparison) {
    case 'eq':
      return left === right;
    case 'lt':
      return left < right;
    case 'le':
      return left <= right;
    case 'gt':
      return left > right;
    case 'ge':
      return left >= right;
  }
}

/** One policy value made into a test of one request value (before negation and set qualifiers). */
function compileValueMatcher(
  operator: ConditionOperator,
  value: string,
  syntax: PatternSyntax,
): ValueMatcher {
  switch (operator.family) {
    case 'string':
    case 'binary':
    case 'stringIgnoreCase': {
      const foldCase = operator.family === 'stringIgnoreCase';
      const parts = parsePattern(value, { wildcards: false, variables: syntax.variables });
      return (requestValue, lookup) => {
        const glob = buildGlob(parts, (name) => lookup.text(name), foldCase);
        return glob !== undefined && glob.text === (foldCase ? requestValue.toLowerCase() : requestValue);
      };
    }
    case 'stringLike': {
      const parts = parsePattern(value, { wildcards: true, variables: syntax.variables });
      return (requestValue, lookup) => {
        const glob = buildGlob(parts, (name) => lookup.text(name));
        return glob !== undefined && matchGlob(glob, requestValue);
      };
    }
    case 'numeric':
    case 'date': {
      const parse = operator.family === 'numeric' ? parseNumber : parseDate;
      const limit = parse(value);
      return (requestValue) => {
        const actual = parse(requestValue);
        return (
          actual !== undefined && limit !== undefined && compareNumbers(operator.comparison, actual, limit)
        );
      };
    }
    case 'bool': {
      const expected = value.toLowerCase();
      return (requestValue) => requestValue.toLowerCase() === expected;
    }
    case 'ip': {
      const range = parseIpRange(value);
      return (requestValue) => {
        const address = parseIpAddress(requestValue);
        return address !== undefined && range !== undefined && isInRange(address, range);
      };
    }
    case 'arn': {
      const pattern = parseArnPattern(value, { wildcards: true, variables: syntax.variables }, 'condition');
      return (requestValue, lookup) =>
        matchArnPattern(pattern, splitArn(requestValue), (name) => lookup.text(name)) === 'match';
    }
    case 'null':
      return () => false; // Null looks at presence only; see compileCondition
  }
}

export type CompiledCondition = (lookup: ContextLookup) => boolean;

/** One `"Operator": {"key": values}` entry made into a test of a request. */
export function compileCondition(
  operator: ConditionOperator,
  key: string,
  values: readonly string[],
  syntax: PatternSyntax,
): CompiledCondition {
  if (operator.family === 'null') {
    const wantAbsent = values.map((value) => value.toLowerCase() === 'true');
    return (lookup) => {
      const present = isPresent(lookup.value(key));
      return wantAbsent.some((absent) => absent !== present);
    };
  }
  const matchers = values.map((value) => compileValueMatcher(operator, value, syntax));
  const matchesAny = (requestValue: string, lookup: ContextLookup): boolean =>
    matchers.some((matcher) => matcher(requestValue, lookup));
  const satisfies = (requestValue: string, lookup: ContextLookup): boolean =>
    operator.negated !== matchesAny(requestValue, lookup);

  return (lookup) => {
    const found = lookup.value(key);
    const requestValues = found === undefined ? [] : typeof found === 'string' ? [found] : found;
    switch (operator.setQualifier) {
      // IAM: true for every member of the set, so vacuously true for an absent or empty set (P18).
      case 'ForAllValues':
        return requestValues.every((value) => satisfies(value, lookup));
      // IAM: needs the key present and at least one member that satisfies the operator.
      case 'ForAnyValue':
        return requestValues.some((value) => satisfies(value, lookup));
      case undefined:
        // An absent key matches nothing: positive operators fail, negated ones hold; IfExists makes it pass.
        if (found === undefined) return operator.ifExists || operator.negated;
        return operator.negated
          ? !requestValues.some((value) => matchesAny(value, lookup))
          : requestValues.some((value) => matchesAny(value, lookup));
    }
  };
}

function isPresent(value: ContextValue): boolean {
  return value !== undefined && (typeof value === 'string' || value.length > 0);
}
