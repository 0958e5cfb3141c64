import { normaliseCertificateStatus } from './resource-constraints.js';
import type { DocumentNode, Expression, ParsedTemplate } from './template-model.js';

/**
 * The parameter a template's certificate takes its CSR from, when it is exactly a Ref to a declared parameter
 * (`"CertificateSigningRequest": {"Ref": "CSR"}`, as in AWS's bulk-registration templates).
 */
export function certificateRequestParameter(template: ParsedTemplate): string | undefined {
  for (const resource of template.resources) {
    if (resource.type !== 'AWS::IoT::Certificate' || resource.source.kind !== 'csr') continue;
    const { csr } = resource.source;
    if (csr.kind === 'ref' && template.parameters.has(csr.name)) return csr.name;
  }
  return undefined;
}

/** Registry entries a template refers to by a constant name: provisioning creates none of them. */
export interface NamedResources {
  thingType?: string;
  billingGroup?: string;
  thingGroups: string[];
  policies: string[];
}

/**
 * The thing type, billing group, thing groups and policies a template names with plain text, or with a Ref to a parameter
 * whose value is the same for every device (`fixed`: a job's constants, the Defaults nothing overrides).
 */
export function namedResources(
  template: ParsedTemplate,
  fixed: ReadonlyMap<string, string> = new Map(),
): NamedResources {
  const textOf = (expression: Expression | undefined) => fixedText(expression, fixed);
  const named: NamedResources = { thingGroups: [], policies: [] };
  for (const resource of template.resources) {
    if (resource.type === 'AWS::IoT::Thing') {
      const type = textOf(resource.thingTypeName);
      if (type !== undefined) named.thingType = type;
      const billingGroup = textOf(resource.billingGroup);
      if (billingGroup !== undefined) named.billingGroup = billingGroup;
      const groups = resource.thingGroups;
      const items = groups?.kind === 'list' ? groups.items : groups ? [groups] : [];
      for (const item of items) {
        const group = textOf(item);
        if (group !== undefined) named.thingGroups.push(group);
      }
    } else if (resource.type === 'AWS::IoT::Policy' && resource.policy.kind === 'name') {
      const policy = textOf(resource.policy.policyName);
      if (policy !== undefined) named.policies.push(policy);
    }
  }
  return named;
}

/** One place a template reads a parameter: the name, and the JSON path of the Ref or Fn::Sub reading it. */
export interface ParameterRead {
  name: string;
  path: string;
}

/**
 * The certificate's Status (ACTIVE or INACTIVE, default ACTIVE) when it is the same for every device: text,
 * or a Ref to a `fixed` parameter (as for namedResources). Undefined when the template has no certificate,
 * or each device's values decide.
 */
export function fixedCertificateStatus(
  template: ParsedTemplate,
  fixed: ReadonlyMap<string, string> = new Map(),
): 'ACTIVE' | 'INACTIVE' | undefined {
  const certificate = template.resources.find((resource) => resource.type === 'AWS::IoT::Certificate');
  if (!certificate) return undefined;
  if (!certificate.status) return 'ACTIVE';
  const status = fixedText(certificate.status, fixed);
  return status === undefined ? undefined : normaliseCertificateStatus(status);
}

function fixedText(
  expression: Expression | undefined,
  fixed: ReadonlyMap<string, string>,
): string | undefined {
  if (expression?.kind === 'text') return expression.value;
  return expression?.kind === 'ref' ? fixed.get(expression.name) : undefined;
}

/**
 * Every name the template reads from its parameters: Refs and Fn::Sub variables anywhere, declared or not
 * (a template validated with undeclared Refs allowed reads those from the dictionary as well).
 */
export function referencedParameters(template: ParsedTemplate): Set<string> {
  return new Set(parameterReads(template).map((read) => read.name));
}

/** Each Ref and Fn::Sub variable of the template, with the path of the node that reads it. */
export function parameterReads(template: ParsedTemplate): ParameterRead[] {
  const reads: ParameterRead[] = [];
  const visit = (expression: Expression | undefined): void => {
    if (expression === undefined) return;
    switch (expression.kind) {
      case 'text':
      case 'number':
        return;
      case 'ref':
        reads.push({ name: expression.name, path: expression.path });
        return;
      case 'list':
        return expression.items.forEach(visit);
      case 'join':
        return visit(expression.list);
      case 'select':
        visit(expression.index);
        return visit(expression.list);
      case 'split':
        return visit(expression.source);
      case 'find-in-map':
        [expression.mapName, expression.topKey, expression.secondKey].forEach(visit);
        return;
      case 'sub':
        for (const piece of expression.pieces)
          if (piece.kind === 'variable' && !expression.variables.has(piece.name))
            reads.push({ name: piece.name, path: expression.path });
        return [...expression.variables.values()].forEach(visit);
    }
  };
  const visitDocument = (node: DocumentNode): void => {
    if (node.kind === 'expression') visit(node.expression);
    else if (node.kind === 'object') node.entries.forEach(([, value]) => visitDocument(value));
    else if (node.kind === 'array') node.items.forEach(visitDocument);
  };
  for (const resource of template.resources) {
    if (resource.type === 'AWS::IoT::Thing') {
      [resource.thingName, resource.thingTypeName, resource.thingGroups, resource.billingGroup].forEach(
        visit,
      );
      resource.attributes?.forEach(([, value]) => visit(value));
    } else if (resource.type === 'AWS::IoT::Certificate') {
      const { source } = resource;
      if (source.kind === 'csr') visit(source.csr);
      else if (source.kind === 'id') visit(source.certificateId);
      else [source.certificatePem, source.caCertificatePem].forEach(visit);
      visit(resource.status);
    } else if (resource.policy.kind === 'name') visit(resource.policy.policyName);
    else if (resource.policy.kind === 'document-text') visit(resource.policy.text);
    else visitDocument(resource.policy.document);
  }
  template.deviceConfiguration.forEach(([, value]) => visit(value));
  return reads;
}
