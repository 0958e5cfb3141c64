import os from 'node:os';
import { registryFile, requireSettings } from '../config/settings.js';
import { Registry } from '../registry/registry.js';
import type { CliContext } from './context.js';

/** Opens the data folder's registry (refusing a folder `station init` never made), runs `work`, closes it. */
export async function withRegistry<T>(cli: CliContext, work: (registry: Registry) => Promise<T>): Promise<T> {
  await requireSettings(cli.dataDir);
  const registry = await Registry.open(registryFile(cli.dataDir));
  try {
    return await work(registry);
  } finally {
    await registry.close();
  }
}

/** Who the audit log names for changes made from the command line. */
export function cliActor(): string {
  let user: string | undefined;
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (some containers): fall back to the environment.
    user = process.env.USER ?? process.env.USERNAME;
  }
  return `cli:${user || 'unknown'}`;
}
