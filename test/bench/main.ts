// `npm run bench -- NAME [args]`: runs test/bench/NAME (compiled, see build/bench.mjs), whose default export
// prints its figures.
// Speed lives here, never in tests; each bench reports ratios against a baseline it measures in the same run.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
// .ts from the sources (tsx), .js when compiled into .bench/ (npm run bench).
const extension = path.extname(self);
const available = readdirSync(path.dirname(self))
  .filter((file) => file.endsWith(extension) && file !== path.basename(self) && !file.includes('.test.'))
  .map((file) => file.slice(0, -extension.length))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [args]`);
  process.exit(name ? 1 : 0);
}
const bench = (await import(`./${name}${extension}`)) as { default: (args: string[]) => Promise<void> };
await bench.default(args);
