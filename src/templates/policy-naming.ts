import { createHash } from 'node:crypto';

/**
 * AWS names a template-created policy by "a hash of the policy document", shown as 40 uppercase hex
 * digits (aws-iot-spec.md 1). What AWS hashes is undocumented, so local names cannot match AWS's anyway;
 * we take SHA-256 (truncated to the documented 40 digits) rather than SHA-1, whose collisions can be
 * forged, over canonical JSON, so the same policy gets the same name however it is formatted.
 */
export function policyNameForDocument(document: unknown): string {
  return createHash('sha256').update(canonicalJson(document)).digest('hex').slice(0, 40).toUpperCase();
}

/** JSON with object keys sorted and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
