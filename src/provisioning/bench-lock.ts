import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { StationError } from '../api/errors.js';

/**
 * One bench per data folder: recovery closes every unfinished attempt, which is only right when no other
 * process is still working on them. The lock file holds the owner's pid; a lock left by a process that
 * died (a crash) is taken over.
 */
export class BenchLock {
  private constructor(private readonly file: string) {}

  static async acquire(dataDir: string): Promise<BenchLock> {
    const file = path.join(dataDir, 'bench.lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(file, 'wx');
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        return new BenchLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw new StationError(
          'provisioning.bench-busy',
          `Another station process (pid ${owner}) is provisioning with this data folder; stop it first.`,
        );
      }
      await rm(file, { force: true }); // its owner is gone: a crash left it
    }
    throw new StationError('provisioning.bench-busy', 'Could not take the bench lock; try again.');
  }

  release(): Promise<void> {
    return rm(this.file, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
