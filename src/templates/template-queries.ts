import type { Expression, ParsedTemplate } from './template-model.js';

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
  thingGroups: string[];
  policies: string[];
}

/**
 * The thing type, thing groups and policies a template names with plain text, or with a Ref to a parameter
 * whose value is the same for every device (`fixed`: a job's constants, the Defaults nothing overrides).
 */
export function namedResources(
  template: ParsedTemplate,
  fixed: ReadonlyMap<string, string> = new Map(),
): NamedResources {
  const textOf = (expression: Expression | undefined): string | undefined => {
    if (expression?.kind === 'text') return expression.value;
    return expression?.kind === 'ref' ? fixed.get(expression.name) : undefined;
  };
  const named: NamedResources = { thingGroups: [], policies: [] };
  for (const resource of template.resources) {
    if (resource.type === 'AWS::IoT::Thing') {
      const type = textOf(resource.thingTypeName);
      if (type !== undefined) named.thingType = type;
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
