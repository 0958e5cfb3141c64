import type { IssueList } from './template-issues.js';

/**
 * A policy document inside a template, given either as an object or as escaped JSON text (bulk and JITP
 * samples use the string form, fleet samples the object; aws-iot-spec.md 1). Returns the document object,
 * or records why it is not one.
 */
export function readPolicyDocument(
  value: unknown,
  path: string,
  issues: IssueList,
): Record<string, unknown> | undefined {
  let document = value;
  if (typeof value === 'string') {
    try {
      document = JSON.parse(value) as unknown;
    } catch (error) {
      issues.add(path, `PolicyDocument is not valid JSON (${(error as Error).message})`);
      return undefined;
    }
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    issues.add(path, 'PolicyDocument must be a JSON object with Version and Statement');
    return undefined;
  }
  return document as Record<string, unknown>;
}
