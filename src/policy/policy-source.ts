/**
 * Where a policy to check comes from: a bare policy document, or a file of the reference set
 * (shared/reference/aws/policies) that keeps the verbatim `policyText`, placeholder `substitutions` to apply to
 * that text before parsing, and an `id`. Pure: the caller reads the file.
 */
export interface PolicySource {
  /** The reference file's id, else the name the caller proposes (the file name). */
  name: string;
  /** JSON text for validatePolicyDocument (text, so the size limit counts what was written). */
  text: string;
}

export function readPolicySource(fileText: string, fallbackName: string): PolicySource {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fileText);
  } catch {
    return { name: fallbackName, text: fileText }; // validation reports the JSON fault
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { name: fallbackName, text: fileText };
  }
  const record = parsed as Record<string, unknown>;
  const name = typeof record.id === 'string' && record.id !== '' ? record.id : fallbackName;
  const substitutions = stringRecord(record.substitutions);
  if (typeof record.policyText === 'string') {
    return { name, text: applySubstitutions(record.policyText, substitutions) };
  }
  if (typeof record.policy === 'object' && record.policy !== null && !('Statement' in record)) {
    return { name, text: applySubstitutions(JSON.stringify(record.policy), substitutions) };
  }
  return { name: fallbackName, text: fileText };
}

/** Longest placeholder first, so one placeholder that contains another is replaced whole. */
export function applySubstitutions(text: string, substitutions: Record<string, string>): string {
  const placeholders = Object.keys(substitutions)
    .filter((placeholder) => placeholder !== '')
    .sort((a, b) => b.length - a.length);
  return placeholders.reduce(
    (result, placeholder) => result.split(placeholder).join(substitutions[placeholder]),
    text,
  );
}

function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}
