import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Registry } from '../../../src/registry/registry.js';

export interface TempRegistry {
  readonly registry: Registry;
  readonly dir: string;
  readonly file: string;
  dispose(): Promise<void>;
}

/** A registry file in a fresh temp folder; dispose() closes it and removes the folder. */
export async function openTempRegistry(): Promise<TempRegistry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'registry-'));
  const file = path.join(dir, 'registry.sqlite');
  const registry = await Registry.open(file);
  return {
    registry,
    dir,
    file,
    async dispose() {
      await registry.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
