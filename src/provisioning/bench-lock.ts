import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { StationError } from '../api/errors.js';

/**
 * One bench per data folder: recovery closes every unfinished attempt, which is only right when no other
 * process is still working on them. The lock file holds the owner's pid and, on Linux, which process that
 * was (the boot and the process's start time): after a crash or a power loss the pid may belong to some
 * other program by now, and a lock whose owner is gone is taken over.
 */
export class BenchLock {
  private constructor(private readonly file: string) {}

  static async acquire(dataDir: string): Promise<BenchLock> {
    const file = path.join(dataDir, 'bench.lock');
    // Known before the file exists, so that it is written at once: an empty lock looks abandoned.
    const content = `${process.pid}\n${(await processIdentity(process.pid)) ?? ''}\n`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(file, 'wx');
        await handle.writeFile(content);
        await handle.close();
        return new BenchLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const [pidLine = '', identity = ''] = (await readFile(file, 'utf8').catch(() => '')).split('\n');
      const owner = Number.parseInt(pidLine, 10);
      if (Number.isInteger(owner) && owner !== process.pid && (await isOwnerAlive(owner, identity))) {
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

/** The pid runs, and is still the process that wrote the lock where the lock says which that was. */
async function isOwnerAlive(pid: number, identity: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return identity === '' || (await processIdentity(pid)) === identity;
}

/**
 * Linux: this boot's id and the process's start time (field 22 of /proc/PID/stat, in clock ticks since
 * boot); together they name one process for good. Undefined elsewhere or when the process is gone.
 */
async function processIdentity(pid: number): Promise<string | undefined> {
  try {
    const [boot, stat] = await Promise.all([
      readFile('/proc/sys/kernel/random/boot_id', 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
    ]);
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return startTime === undefined ? undefined : `${boot.trim()} ${startTime}`;
  } catch {
    return undefined;
  }
}
