import type {
  CertificateFacts,
  CertificateParameterName,
  CertificatePlan,
  PolicyPlan,
  ResourcePlan,
  ThingPlan,
} from '../api/templates.js';
import {
  evaluateExpression,
  evaluateList,
  evaluateString,
  type EvaluationScope,
} from './evaluate-expression.js';
import { isBuiltInParameter } from './parse-expression.js';
import { readPolicyDocument } from './policy-document.js';
import { policyNameForDocument } from './policy-naming.js';
import {
  checkAttributeValue,
  checkBillingGroupName,
  checkCertificateId,
  checkNotEmpty,
  checkPolicyName,
  checkThingGroupName,
  checkThingName,
  checkThingTypeName,
  maxParameterNameLength,
  maxParameterValueLength,
  maxThingGroups,
  normaliseCertificateStatus,
  type ValueCheck,
} from './resource-constraints.js';
import { childPath, IssueList, type Outcome } from './template-issues.js';
import type {
  CertificateResource,
  DocumentNode,
  Expression,
  ParsedTemplate,
  PolicyResource,
  ThingResource,
} from './template-model.js';

export interface EvaluationInput {
  /** The parameter dictionary (a bulk line, RegisterThing `parameters`); checked here, so `unknown` values. */
  parameters: Record<string, unknown>;
  /** The device certificate, when there is one: fills the AWS::IoT::Certificate::* built-ins. */
  certificate?: CertificateFacts;
}

const certificateFields: Record<CertificateParameterName, (facts: CertificateFacts) => string | undefined> = {
  'AWS::IoT::Certificate::Id': (facts) => facts.id,
  'AWS::IoT::Certificate::CommonName': (facts) => facts.subject.commonName,
  'AWS::IoT::Certificate::Country': (facts) => facts.subject.country,
  'AWS::IoT::Certificate::Organization': (facts) => facts.subject.organization,
  'AWS::IoT::Certificate::OrganizationalUnit': (facts) => facts.subject.organizationalUnit,
  'AWS::IoT::Certificate::DistinguishedNameQualifier': (facts) => facts.subject.distinguishedNameQualifier,
  'AWS::IoT::Certificate::StateName': (facts) => facts.subject.stateName,
  // OPEN (aws-iot-spec.md 1): AWS says values come "from the subject field", so this is the subject's
  // serialNumber attribute (2.5.4.5), not the X.509 serial the deep-dive README (T09) mentions.
  'AWS::IoT::Certificate::SerialNumber': (facts) => facts.subject.serialNumber,
};

/**
 * Evaluates a validated template with a parameter dictionary into a ResourcePlan, or every fault found.
 *
 * Parameter resolution (aws-iot-spec.md 1): the dictionary value, else the Default, else a fault naming the
 * parameter. An explicit "" is a value and wins over the Default: the docs use the Default only "when the
 * dictionary has no value" (OPEN for T08, whose "" then fails the group-name rule rather than silently
 * becoming "unclaimed"). With a certificate, the built-ins come from it alone (a device cannot override
 * its certificate's subject through the dictionary), falling back to a declared Default (stated, T09).
 */
export function evaluateTemplate(template: ParsedTemplate, input: EvaluationInput): Outcome<ResourcePlan> {
  const issues = new IssueList();
  const dictionary = checkDictionary(input.parameters, issues);
  const resolved = new Map<string, string | undefined>();
  const scope: EvaluationScope = {
    issues,
    mappings: template.mappings,
    resolveParameter(name, path) {
      if (resolved.has(name)) return resolved.get(name);
      const value = resolveParameter(name, path, template, dictionary, input.certificate, issues);
      resolved.set(name, value);
      return value;
    },
  };
  const thing = template.resources.find((resource) => resource.type === 'AWS::IoT::Thing');
  const certificate = template.resources.find((resource) => resource.type === 'AWS::IoT::Certificate');
  const policies = template.resources.filter((resource) => resource.type === 'AWS::IoT::Policy');
  const plan: ResourcePlan = {
    parameters: {},
    ...(thing && { thing: planThing(thing, scope) }),
    ...(certificate && { certificate: planCertificate(certificate, scope) }),
    policies: policies.map((policy) => planPolicy(policy, scope)).filter((policy) => policy !== undefined),
    deviceConfiguration: Object.fromEntries(
      template.deviceConfiguration.map(([key, expression]) => [key, evaluateString(expression, scope) ?? '']),
    ),
  };
  if (!issues.empty) return { ok: false, errors: issues.issues };
  for (const [name, value] of resolved) if (value !== undefined) plan.parameters[name] = value;
  return { ok: true, value: plan };
}

/** The dictionary's usable values, and the names whose value it refused (each fault recorded once, there). */
interface CheckedDictionary {
  values: Map<string, string>;
  refused: Set<string>;
}

function checkDictionary(parameters: Record<string, unknown>, issues: IssueList): CheckedDictionary {
  const checked: CheckedDictionary = { values: new Map(), refused: new Set() };
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
    issues.add('parameters', 'the parameters must be a JSON object of name: string');
    return checked;
  }
  for (const [name, value] of Object.entries(parameters)) {
    const problem = dictionaryEntryProblem(name, value);
    if (problem === undefined) {
      checked.values.set(name, value as string);
    } else {
      issues.add(childPath('parameters', name), problem);
      checked.refused.add(name);
    }
  }
  return checked;
}

function dictionaryEntryProblem(name: string, value: unknown): string | undefined {
  if (name.length > maxParameterNameLength) {
    return `a parameter name has at most ${maxParameterNameLength} characters`;
  }
  if (typeof value !== 'string') {
    return `a parameter value must be a string, found ${value === null ? 'null' : typeof value}`;
  }
  if (value.length > maxParameterValueLength) {
    return `a parameter value has at most ${maxParameterValueLength} characters, found ${value.length}`;
  }
  return undefined;
}

function resolveParameter(
  name: string,
  path: string,
  template: ParsedTemplate,
  dictionary: CheckedDictionary,
  certificate: CertificateFacts | undefined,
  issues: IssueList,
): string | undefined {
  const fallback = template.parameters.get(name)?.default;
  if (certificate && isBuiltInParameter(name)) {
    const value = certificateFields[name as CertificateParameterName](certificate) ?? fallback;
    if (value === undefined) {
      // "the certificate must contain values for all of the parameters" (aws-iot-spec.md 1, JITP).
      issues.add(path, `the certificate has no value for ${name} and the parameter has no Default`);
    }
    return value;
  }
  const value = dictionary.values.get(name) ?? fallback;
  // A value the dictionary refused has its fault already; "no value" would send the technician astray.
  if (value === undefined && !dictionary.refused.has(name)) {
    issues.add(path, `parameter "${name}" has no value and no Default`);
  }
  return value;
}

/** Evaluates a string and holds it to an AWS limit; undefined after recording a fault. */
function checkedString(
  expression: Expression | undefined,
  check: ValueCheck,
  scope: EvaluationScope,
): string | undefined {
  if (!expression) return undefined;
  const value = evaluateString(expression, scope);
  const problem = value === undefined ? undefined : check(value);
  if (problem) scope.issues.add(expression.path, problem);
  return problem ? undefined : value;
}

function planThing(thing: ThingResource, scope: EvaluationScope): ThingPlan {
  const thingName = checkedString(thing.thingName, checkThingName, scope) ?? '';
  const attributes =
    thing.attributes &&
    Object.fromEntries(
      thing.attributes.map(([name, expression]) => [
        name,
        checkedString(expression, checkAttributeValue, scope) ?? '',
      ]),
    );
  const thingTypeName = checkedString(thing.thingTypeName, checkThingTypeName, scope);
  const thingGroups = thing.thingGroups && planThingGroups(thing.thingGroups, scope);
  const billingGroup = checkedString(thing.billingGroup, checkBillingGroupName, scope);
  return {
    logicalName: thing.logicalName,
    thingName,
    ...(attributes && { attributes }),
    ...(thingTypeName !== undefined && { thingTypeName }),
    ...(thingGroups && { thingGroups }),
    ...(billingGroup !== undefined && { billingGroup }),
    overrideSettings: thing.overrideSettings,
  };
}

function planThingGroups(expression: Expression, scope: EvaluationScope): string[] {
  const groups = evaluateList(expression, scope) ?? [];
  for (const [index, group] of groups.entries()) {
    const problem = checkThingGroupName(group);
    if (problem) scope.issues.add(childPath(expression.path, index), problem);
  }
  // The same group named twice (a literal and a Ref with the same value) is one membership.
  const unique = [...new Set(groups)];
  if (unique.length > maxThingGroups) {
    scope.issues.add(
      expression.path,
      `a thing belongs to at most ${maxThingGroups} groups, found ${unique.length}`,
    );
  }
  return unique;
}

function planCertificate(
  certificate: CertificateResource,
  scope: EvaluationScope,
): CertificatePlan | undefined {
  const statusText = certificate.status ? evaluateString(certificate.status, scope) : 'ACTIVE';
  const status = statusText === undefined ? undefined : normaliseCertificateStatus(statusText);
  if (statusText !== undefined && !status && certificate.status) {
    scope.issues.add(certificate.status.path, `certificate Status "${statusText}" is not ACTIVE or INACTIVE`);
  }
  const base = {
    logicalName: certificate.logicalName,
    status: status ?? 'ACTIVE',
    overrideSettings: certificate.overrideSettings,
  };
  const { source } = certificate;
  switch (source.kind) {
    case 'csr': {
      const csr = checkedString(source.csr, checkNotEmpty('CertificateSigningRequest'), scope);
      return { source: 'csr', certificateSigningRequest: csr ?? '', ...base };
    }
    case 'id': {
      const id = checkedString(source.certificateId, checkCertificateId, scope);
      return { source: 'id', certificateId: id?.toLowerCase() ?? '', ...base };
    }
    case 'pem': {
      const pem = checkedString(source.certificatePem, checkNotEmpty('CertificatePem'), scope);
      const ca = checkedString(source.caCertificatePem, checkNotEmpty('CACertificatePem'), scope);
      return {
        source: 'pem',
        certificatePem: pem ?? '',
        ...(ca !== undefined && { caCertificatePem: ca }),
        ...base,
      };
    }
  }
}

function planPolicy(resource: PolicyResource, scope: EvaluationScope): PolicyPlan | undefined {
  const { policy, logicalName } = resource;
  if (policy.kind === 'name') {
    const policyName = checkedString(policy.policyName, checkPolicyName, scope);
    return policyName === undefined ? undefined : { kind: 'existing', logicalName, policyName };
  }
  const value =
    policy.kind === 'document-text'
      ? evaluateString(policy.text, scope)
      : evaluateDocument(policy.document, scope);
  if (value === undefined) return undefined;
  const document = readPolicyDocument(value, policy.path, scope.issues);
  if (!document) return undefined;
  return { kind: 'new', logicalName, policyName: policyNameForDocument(document), document };
}

function evaluateDocument(node: DocumentNode, scope: EvaluationScope): unknown {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'expression':
      return evaluateExpression(node.expression, scope);
    case 'array':
      return node.items.map((item) => evaluateDocument(item, scope));
    case 'object': {
      const object: Record<string, unknown> = {};
      for (const [key, value] of node.entries) {
        Object.defineProperty(object, key, {
          value: evaluateDocument(value, scope),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
  }
}
