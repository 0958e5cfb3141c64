import { readFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import { StationError } from '../api/errors.js';
import { lockHolder, ProcessLock } from '../config/process-lock.js';

const benchLockFile = (dataDir: string): string => path.join(dataDir, 'bench.lock');

/**
 * One bench per data folder: recovery closes every unfinished attempt, which is only right when no other
 * process is still working on them. The operating system's lock (ProcessLock): two stations taking over a
 * crashed one's lock at the same moment cannot both get it, as they could a pid file read and then removed.
 */
export class BenchLock {
  private constructor(private readonly lock: ProcessLock) {}

  /** Linux: the pid of a bench running on the data folder, found without taking its lock. */
  static holder(dataDir: string): Promise<number | undefined> {
    return lockHolder(benchLockFile(dataDir));
  }

  static async acquire(dataDir: string): Promise<BenchLock> {
    const file = benchLockFile(dataDir);
    for (let attempt = 0; ; attempt++) {
      try {
        const lock = ProcessLock.tryTake(file);
        if (lock !== 'busy') return new BenchLock(lock);
        const owner = await lockHolder(file);
        throw new StationError(
          'provisioning.bench-busy',
          `Another station process${owner === undefined ? '' : ` (pid ${owner})`} is provisioning with this data folder; stop it first.`,
        );
      } catch (error) {
        if (error instanceof StationError) throw error;
        // The pid file of an earlier version, which took no OS lock: its station may still be running.
        if ((error as { sqliteCodeName?: string }).sqliteCodeName === 'SQLITE_NOTADB' && attempt === 0) {
          await takeOverPidFile(file);
          continue;
        }
        throw new StationError(
          'provisioning.bench-lock-failed',
          `Cannot take the bench lock ${file}: ${error instanceof Error ? error.message : String(error)}.`,
          { cause: error },
        );
      }
    }
  }

  release(): Promise<void> {
    this.lock.release();
    return Promise.resolve();
  }
}

/**
 * An earlier version's lock: the owner's pid and, on Linux, which process that was (this boot's id and the
 * process's start time), so that a pid reused since is not taken for it. Refused while that process runs;
 * emptied (and so made this version's lock file) once it is gone.
 */
async function takeOverPidFile(file: string): Promise<void> {
  const [pidLine = '', identity = ''] = (await readFile(file, 'utf8').catch(() => '')).split('\n');
  const owner = Number.parseInt(pidLine, 10);
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && (await isAlive(owner, identity))) {
    throw new StationError(
      'provisioning.bench-busy',
      `Another station process (pid ${owner}, an earlier version) is provisioning with this data folder; stop it first.`,
    );
  }
  await truncate(file);
}

async function isAlive(pid: number, identity: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return identity === '' || (await processIdentity(pid)) === identity;
}

/** Linux: this boot's id and the start time of the process (field 22 of /proc/PID/stat). */
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
