import type { Migration } from './migration.js';

/**
 * Indexes behind thing search (design.md 10: under 20 ms with 1,000,000 things). Each ends in the
 * thing name so that a search walks the index in name order and keyset pagination needs no sort.
 * Name prefix and group searches use the primary keys of things and thing_group_members.
 */
export const thingSearchIndexes: Migration = {
  version: 2,
  name: 'thing search indexes',
  sql: `
CREATE INDEX things_by_type ON things(thing_type_name, name);
CREATE INDEX thing_attributes_by_value ON thing_attributes(name, value, thing_name);
`,
};
