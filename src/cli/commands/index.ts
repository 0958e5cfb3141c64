import type { CommandModule } from '../program.js';

/** Every command family of `station`, in the order `station --help` lists them. */
export const commandModules: CommandModule[] = [];
