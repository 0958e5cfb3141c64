import type { Migration } from './migration.js';

/**
 * Billing groups (aws-iot-spec.md 2, 5): like thing types and groups they must exist before a thing names
 * one, so a thing a template puts in one can be uploaded (billing groups go up before things). Things keep
 * the name in billing_group_name (migration 5); the things module checks it exists when it is set. The
 * billing groups things named before this step become rows, and are queued for upload, as if created.
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
INSERT INTO billing_groups (name, description, created_at)
  SELECT DISTINCT billing_group_name, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM things WHERE billing_group_name IS NOT NULL;
INSERT OR IGNORE INTO outbox (kind, subject, payload, created_at)
  SELECT 'billing-group', name, json_object('billingGroupName', name, 'description', NULL), created_at
    FROM billing_groups ORDER BY name;
`,
};
