import type { CommandModule } from '../program.js';
import { auditCommands } from './audit.js';
import { billingGroupCommands } from './billing-group.js';
import { caCommands } from './ca.js';
import { certCommands } from './cert.js';
import { claimCommands } from './claim.js';
import { demoCommands } from './demo.js';
import { initCommands } from './init.js';
import { jobCommands } from './job.js';
import { provisionCommands } from './provision.js';
import { thingGroupCommands } from './thing-group.js';
import { thingTypeCommands } from './thing-type.js';
import { thingCommands } from './thing.js';
import { policyCommands } from './policy.js';
import { simCommands } from './sim.js';
import { templateCommands } from './template.js';

/** Every command family of `station`, in the order `station --help` lists them. */
export const commandModules: CommandModule[] = [
  demoCommands,
  initCommands,
  thingCommands,
  thingTypeCommands,
  thingGroupCommands,
  billingGroupCommands,
  auditCommands,
  policyCommands,
  simCommands,
  templateCommands,
  caCommands,
  certCommands,
  jobCommands,
  provisionCommands,
  claimCommands,
];
