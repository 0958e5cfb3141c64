import type { TemplateIssue, TemplateType } from '../api/templates.js';
import { isBuiltInParameter } from './parse-expression.js';
import type { ParsedTemplate } from './template-model.js';
import { parameterReads } from './template-queries.js';

const certificateIdParameter = 'AWS::IoT::Certificate::Id';

/**
 * What a template's type asks of its body (aws-iot-spec.md 1). Fleet provisioning fills in only the id of
 * the certificate behind the ownership token: "only certificate IDs can be used with a fleet provisioning
 * template". JITP registers the certificate the device connected with, so its certificate is given by
 * CertificateId ("mandatory for JITP"), never made from a CSR or a PEM. Empty when the body suits the type.
 */
export function templateTypeIssues(template: ParsedTemplate, type: TemplateType): TemplateIssue[] {
  if (type === 'FLEET_PROVISIONING') {
    return parameterReads(template)
      .filter(({ name }) => isBuiltInParameter(name) && name !== certificateIdParameter)
      .map(({ name, path }) => ({
        path,
        message: `reads ${name}, but only certificate IDs (${certificateIdParameter}) can be used with a fleet provisioning template`,
      }));
  }
  const issues: TemplateIssue[] = [];
  for (const resource of template.resources) {
    if (resource.type !== 'AWS::IoT::Certificate' || resource.source.kind === 'id') continue;
    const { source } = resource;
    const [property, path] =
      source.kind === 'csr'
        ? ['CertificateSigningRequest', source.csr.path]
        : ['CertificatePem', source.certificatePem.path];
    issues.push({
      path,
      message: `a JITP template registers the certificate the device connects with: give it as CertificateId ({"Ref": "${certificateIdParameter}"}), not ${property}`,
    });
  }
  return issues;
}
