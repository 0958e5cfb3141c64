import { validatePolicyDocument } from '../policy/index.js';
import { childPath, type IssueList } from './template-issues.js';

/**
 * A policy document inside a template, given either as an object or as escaped JSON text (bulk and JITP
 * samples use the string form, fleet samples the object; aws-iot-spec.md 1). It is held to the rules of
 * CreatePolicy by the policy engine, so a template cannot create a policy AWS would refuse. Returns the
 * document, or records every fault under the template path of the document.
 */
export function readPolicyDocument(
  value: unknown,
  path: string,
  issues: IssueList,
): Record<string, unknown> | undefined {
  if (typeof value !== 'string' && (typeof value !== 'object' || value === null)) {
    issues.add(path, 'PolicyDocument must be a JSON object with Version and Statement, or its JSON text');
    return undefined;
  }
  const validation = validatePolicyDocument(value);
  if (validation.ok) return validation.document as Record<string, unknown>;
  for (const error of validation.errors) {
    issues.add(error.path === '' ? path : childPath(path, error.path), error.message);
  }
  return undefined;
}
