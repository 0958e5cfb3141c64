import { mkdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StationError } from '../api/errors.js';

const appFolder = 'provisioning-station';

/**
 * Where the station keeps its registry and key store: --data, else STATION_DATA, else the per-user data
 * folder. An empty --data (an unset shell variable in a script) is refused: falling back to the default
 * folder would quietly work on another registry. An empty STATION_DATA counts as unset, as shells treat it.
 */
export function resolveDataDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined) {
    if (explicit.trim().length === 0)
      throw new StationError('input.invalid', '--data is empty; give the data folder, or leave --data out.', {
        field: 'data',
      });
    return path.resolve(explicit);
  }
  if (env.STATION_DATA?.trim()) return path.resolve(env.STATION_DATA);
  return path.join(platformDataHome(env), appFolder);
}

function platformDataHome(env: NodeJS.ProcessEnv): string {
  const home = os.homedir();
  switch (process.platform) {
    case 'win32':
      return env.APPDATA ?? path.join(home, 'AppData', 'Roaming');
    case 'darwin':
      return path.join(home, 'Library', 'Application Support');
    default:
      return env.XDG_DATA_HOME ?? path.join(home, '.local', 'share');
  }
}

/**
 * `mkdir -p`, walking up at most once per path component. Node 20's own recursive mkdir never returns
 * for a folder where the system answers ENOENT although the parent exists (/proc/1/x): it retries the
 * same folder forever.
 */
export async function makeDirectory(folder: string, mode?: number): Promise<void> {
  try {
    const missing: string[] = [];
    for (let current = path.resolve(folder); ; current = path.dirname(current)) {
      try {
        await mkdir(current, { mode });
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' && (await stat(current)).isDirectory()) break;
        if (code !== 'ENOENT' || path.dirname(current) === current) throw error;
        missing.push(current);
      }
    }
    for (const parentFirst of missing.reverse()) {
      // Made by another process meanwhile is as good; a folder that still cannot be made ends it here.
      await mkdir(parentFirst, { mode }).catch(async (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !(await stat(parentFirst)).isDirectory())
          throw error;
      });
    }
  } catch (error) {
    throw new StationError(
      'config.unwritable',
      `Cannot create the folder ${folder}: ${error instanceof Error ? error.message : String(error)}. Choose a folder you can write (--data DIR).`,
      { cause: error },
    );
  }
}
