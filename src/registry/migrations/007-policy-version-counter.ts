import type { Migration } from './migration.js';

/**
 * The highest version number a policy ever had. A new version takes the next one, so a number deleted with
 * its version (`policy delete-version`) never names another document, in the audit log or an upload.
 */
export const policyVersionCounter: Migration = {
  version: 7,
  name: 'policy version counter',
  sql: `
ALTER TABLE policies ADD COLUMN last_version INTEGER NOT NULL DEFAULT 1;
UPDATE policies SET last_version =
  coalesce((SELECT max(version) FROM policy_versions WHERE policy_name = policies.name), 1);
`,
};
