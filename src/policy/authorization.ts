import { StationError } from '../api/errors.js';
import type {
  AuthorizationContext,
  AuthorizationRequest,
  AuthorizationResult,
  PolicyDocument,
  PolicyStatement,
} from '../api/policies.js';
import {
  matchArnPattern,
  parseArnPattern,
  splitArn,
  type ArnPattern,
  type ArnSubject,
} from './arn-pattern.js';
import {
  compileCondition,
  parseConditionOperator,
  type CompiledCondition,
  type ContextLookup,
} from './condition-operators.js';
import { conditionValues, validatePolicyDocument, variablesVersion } from './document-validation.js';
import { resolveContextKey, type ContextValue } from './policy-variables.js';
import { constantGlob, matchGlob, parsePattern, type Glob } from './wildcard-pattern.js';

/**
 * Local TestAuthorization (aws-iot-spec.md 4, Evaluation): default deny, an Allow statement grants, and an
 * explicit Deny in any policy overrides every Allow.
 */
export interface NamedPolicy {
  name: string;
  document: PolicyDocument;
}

interface CompiledStatement {
  allow: boolean;
  /** Lower-cased globs: action names compare case-insensitively, as in IAM. */
  actions: Glob[];
  notAction: boolean;
  resources: ArnPattern[];
  notResource: boolean;
  conditions: CompiledCondition[];
}

/** Documents are compiled once and kept while the caller holds them; treat a document as immutable after use. */
const compiledDocuments = new WeakMap<object, CompiledStatement[]>();

export function evaluateAuthorization(
  request: AuthorizationRequest,
  context: AuthorizationContext,
  policies: readonly NamedPolicy[],
): AuthorizationResult {
  const lookup = new RequestLookup(context);
  const action = request.action.toLowerCase();
  const resource = splitArn(request.resource);
  const allowedBy: string[] = [];
  const explicitDenyBy: string[] = [];
  for (const policy of policies) {
    let allows = false;
    let denies = false;
    for (const statement of compilePolicy(policy)) {
      if (statement.allow ? allows : denies) continue;
      if (!appliesTo(statement, action, resource, lookup)) continue;
      if (statement.allow) allows = true;
      else denies = true;
    }
    if (allows) allowedBy.push(policy.name);
    if (denies) explicitDenyBy.push(policy.name);
  }
  const decision =
    explicitDenyBy.length > 0 ? 'EXPLICIT_DENY' : allowedBy.length > 0 ? 'ALLOWED' : 'IMPLICIT_DENY';
  return {
    decision,
    allowedBy,
    explicitDenyBy,
    implicitDenyBy: decision === 'IMPLICIT_DENY' ? policies.map((policy) => policy.name) : [],
    missingContextValues: [...lookup.missing].sort(),
  };
}

function appliesTo(
  statement: CompiledStatement,
  action: string,
  resource: ArnSubject,
  lookup: RequestLookup,
): boolean {
  const actionListed = statement.actions.some((glob) => matchGlob(glob, action));
  if (actionListed === statement.notAction) return false;
  if (!resourceApplies(statement, resource, lookup)) return false;
  return statement.conditions.every((condition) => condition(lookup));
}

/**
 * Resource: any listed pattern matches. NotResource: none matches; a NotResource entry whose variable cannot be
 * resolved makes the statement not apply, so an unresolvable variable never widens a grant.
 */
function resourceApplies(statement: CompiledStatement, resource: ArnSubject, lookup: RequestLookup): boolean {
  const resolve = (name: string): string | undefined => lookup.text(name);
  if (!statement.notResource) {
    return statement.resources.some((pattern) => matchArnPattern(pattern, resource, resolve) === 'match');
  }
  let listed = false;
  for (const pattern of statement.resources) {
    const outcome = matchArnPattern(pattern, resource, resolve);
    if (outcome === 'unresolved') return false;
    if (outcome === 'match') listed = true;
  }
  return !listed;
}

/** Context values for one request, looked up once each; keys that had no value are kept for the answer. */
class RequestLookup implements ContextLookup {
  readonly missing = new Set<string>();
  private readonly cache = new Map<string, ContextValue>();

  constructor(private readonly context: AuthorizationContext) {}

  value(name: string): ContextValue {
    if (this.cache.has(name)) return this.cache.get(name);
    const value = resolveContextKey(name, this.context);
    this.cache.set(name, value);
    if (value === undefined) this.missing.add(name);
    return value;
  }

  text(name: string): string | undefined {
    const value = this.value(name);
    if (typeof value === 'string') return value;
    if (value !== undefined) this.missing.add(name); // a list has no single text to substitute
    return undefined;
  }
}

function compilePolicy(policy: NamedPolicy): CompiledStatement[] {
  const cached = compiledDocuments.get(policy.document);
  if (cached !== undefined) return cached;
  const validation = validatePolicyDocument(policy.document);
  if (!validation.ok) {
    const first = validation.errors[0];
    throw new StationError(
      'policy.invalid',
      `Policy ${policy.name} is not a valid policy document (${first?.path || 'document'}: ${first?.message}); fix it before testing with it.`,
      { subject: policy.name, details: { errors: validation.errors } },
    );
  }
  const document = validation.document;
  const variables = document.Version === variablesVersion;
  const statements = (Array.isArray(document.Statement) ? document.Statement : [document.Statement]).map(
    (statement) => compileStatement(statement, variables),
  );
  compiledDocuments.set(policy.document, statements);
  return statements;
}

function compileStatement(statement: PolicyStatement, variables: boolean): CompiledStatement {
  const actions = asList(statement.Action ?? statement.NotAction);
  const resources = asList(statement.Resource ?? statement.NotResource);
  const syntax = { wildcards: true, variables };
  const conditions: CompiledCondition[] = [];
  for (const [operatorName, block] of Object.entries(statement.Condition ?? {})) {
    const operator = parseConditionOperator(operatorName);
    if (typeof operator === 'string') continue; // unreachable after validation
    for (const [key, raw] of Object.entries(block)) {
      conditions.push(compileCondition(operator, key, conditionValues(raw) ?? [], syntax));
    }
  }
  return {
    allow: statement.Effect === 'Allow',
    actions: actions.map((action) =>
      constantGlob(parsePattern(action, { wildcards: true, variables: false }), true),
    ),
    notAction: statement.Action === undefined,
    resources: resources.map((resource) => parseArnPattern(resource, syntax, 'resource')),
    notResource: statement.Resource === undefined,
    conditions,
  };
}

function asList(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : value;
}
