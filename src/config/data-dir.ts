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
