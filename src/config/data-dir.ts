import os from 'node:os';
import path from 'node:path';

const appFolder = 'provisioning-station';

/** Where the station keeps its registry and key store: --data, else STATION_DATA, else the per-user data folder. */
export function resolveDataDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return path.resolve(explicit);
  if (env.STATION_DATA) return path.resolve(env.STATION_DATA);
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
