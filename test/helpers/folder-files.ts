import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// Reads in a child process on purpose. POSIX record locks belong to a process, and closing any descriptor
// of a file drops all of that process's locks on it: reading registry.sqlite or its -shm file here, while
// a registry is open in this process, would silently drop SQLite's locks, and another process (a CLI
// command) could then reset the WAL under the open connection, which goes on reading an old snapshot.
const script = `
const { readdirSync, readFileSync, statSync } = require('node:fs');
const path = require('node:path');
const dir = process.argv[1];
const files = readdirSync(dir, { recursive: true })
  .map((entry) => path.join(dir, entry))
  .filter((file) => statSync(file).isFile())
  .map((file) => ({ file, base64: readFileSync(file).toString('base64') }));
process.stdout.write(JSON.stringify(files));
`;

/** Every file under `dir`, recursively, with its bytes (read by another process: see above). */
export async function filesUnder(dir: string): Promise<{ file: string; bytes: Buffer }[]> {
  const { stdout } = await run(process.execPath, ['-e', script, path.resolve(dir)], {
    maxBuffer: 512 * 1024 * 1024,
  });
  return (JSON.parse(stdout) as { file: string; base64: string }[]).map(({ file, base64 }) => ({
    file,
    bytes: Buffer.from(base64, 'base64'),
  }));
}
