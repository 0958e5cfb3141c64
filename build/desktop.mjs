// `npm run desktop`: installs the Electron shell (its own package, see electron/README.md), builds it and
// starts it. Electron's binary is downloaded here, not during the root install, so a machine that cannot
// reach the download host fails only this command, with a message saying so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shell = path.join(root, 'electron');

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit' });
  return result.status === 0;
}

if (!existsSync(path.join(root, 'renderer', 'dist', 'index.html'))) {
  console.error(
    'not yet: the desktop UI (renderer/) has not been built in this version; use the `station` CLI.',
  );
  process.exit(1);
}
if (!run('npm', ['ci', '--no-audit', '--no-fund'], shell)) {
  console.error('Installing Electron failed. Its binary comes from the Electron download host; on a machine');
  console.error('without access, set ELECTRON_MIRROR to a reachable mirror and run `npm run desktop` again.');
  process.exit(1);
}
if (!run('npm', ['run', 'build'], shell)) process.exit(1);
process.exit(run('npm', ['start'], shell) ? 0 : 1);
