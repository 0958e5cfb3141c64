import type { Migration } from './migration.js';

/**
 * Billing groups (aws-iot-spec.md 2, 5): like thing types and groups they must exist before a thing names
 * one, so a thing a template puts in one can be uploaded (billing groups go up before things). Things keep
 * the name in billing_group_name (migration 5); the things module checks it exists when it is set.
 */
export const billingGroups: Migration = {
  version: 6,
  name: 'billing groups',
  sql: `
CREATE TABLE billing_groups (
  name        TEXT PRIMARY KEY,
  description TEXT,
  created_at  TEXT NOT NULL
);
`,
};
