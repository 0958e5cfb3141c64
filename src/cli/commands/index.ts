import type { CommandModule } from '../program.js';
import { policyCommands } from './policy.js';
import { simCommands } from './sim.js';
import { templateCommands } from './template.js';

/** Every command family of `station`, in the order `station --help` lists them. */
export const commandModules: CommandModule[] = [policyCommands, simCommands, templateCommands];
