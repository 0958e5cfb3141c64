import { createHash } from 'node:crypto';

/** prev_hash of the first row: there is nothing before it. */
export const genesisHash = '0'.repeat(64);

/** What a row's hash covers besides the previous hash: everything but the hashes themselves. */
export interface AuditRowContent {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  /** Canonical JSON text, exactly as stored. */
  readonly details: string;
}

/**
 * SHA-256 over the previous row's hash and this row's content. seq is inside the hash, so moving a
 * row (swapping two rows' seq) breaks it as surely as editing it; prev_hash links the rows, so a
 * removed row breaks its successor. The content is a JSON array: no separator ambiguity.
 */
export function auditRowHash(prevHash: string, row: AuditRowContent): string {
  const content = JSON.stringify([row.seq, row.at, row.actor, row.action, row.subject, row.details]);
  return createHash('sha256').update(prevHash).update('\n').update(content).digest('hex');
}

/** JSON with object keys sorted at every level, so equal details always hash alike. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([key, item]) => [key, sortKeys(item)]));
  }
  return value;
}
