import type { Migration } from './migration.js';

/**
 * A thing's billing group (a template's BillingGroup, aws-iot-spec.md 1). Without it a thing provisioned
 * by a template that names one could never be provisioned again: the stored thing had no billing group,
 * so the template's always differed, and with no override key for it that difference is a conflict.
 */
export const thingBillingGroup: Migration = {
  version: 5,
  name: 'thing billing group',
  sql: `
ALTER TABLE things ADD COLUMN billing_group_name TEXT;
`,
};
