// `npm run bench -- NAME [args]`: installs the Debian packages the benches drive, compiles the benches and the code they measure with tsc into .bench/
// (as `npm run build` compiles the station for production) and runs them there. Under tsx's loader the
// same station spent more CPU per device (4% over four side-by-side `bench` pairs, 2-15% in memory):
// the figures are the production build's. `npx tsx test/bench/main.ts NAME` still runs the sources.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(import.meta.url), '../..');
// The benches drive SoftHSM2 and pseudo-terminals as the tests do: install those first, as `pretest` does.
const packages = spawnSync(process.execPath, ['build/test-packages.mjs'], { cwd: root, stdio: 'inherit' });
if (packages.status !== 0) process.exit(packages.status ?? 1);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.bench.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
const run = spawnSync(process.execPath, ['.bench/test/bench/main.js', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
