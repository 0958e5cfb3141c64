import type { Migration } from './migration.js';

/**
 * How a template version resolves a Ref to a parameter it does not declare (`template add
 * --undeclared-from-params`, as AWS's samples T04/T05 need): kept with the body, so that the jobs using
 * the version read it as it was validated. Existing versions were validated with the default, 'reject'.
 */
export const templateUndeclaredParameters: Migration = {
  version: 4,
  name: 'template undeclared-parameter policy',
  sql: `
ALTER TABLE template_versions ADD COLUMN undeclared_parameters TEXT NOT NULL DEFAULT 'reject'
  CHECK (undeclared_parameters IN ('reject', 'from-dictionary'));
`,
};
