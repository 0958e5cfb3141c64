import type { Migration } from './migration.js';
import { initialSchema } from './001-initial-schema.js';
import { thingSearchIndexes } from './002-thing-search-indexes.js';
import { claimsAndKeyOptions } from './003-claims-and-key-options.js';
import { templateUndeclaredParameters } from './004-template-undeclared-parameters.js';
import { thingBillingGroup } from './005-thing-billing-group.js';
import { billingGroups } from './006-billing-groups.js';
import { policyVersionCounter } from './007-policy-version-counter.js';

export type { Migration } from './migration.js';

/** Every schema step, in order. Append new ones; never edit a released step. */
export const migrations: readonly Migration[] = [
  initialSchema,
  thingSearchIndexes,
  claimsAndKeyOptions,
  templateUndeclaredParameters,
  thingBillingGroup,
  billingGroups,
  policyVersionCounter,
];
