import { DatabaseSync, type DatabaseSyncInstance } from '@photostructure/sqlite';
import { readFile, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { StationError } from '../api/errors.js';

/**
 * One bench per data folder: recovery closes every unfinished attempt, which is only right when no other
 * process is still working on them.
 *
 * The lock is the operating system's, taken through SQLite on an empty database file: a transaction held
 * open keeps a POSIX record lock on the file, which the kernel drops when the process ends however it
 * ends. So a crash leaves nothing to clean up, no pid can be mistaken for the owner after a reboot or pid
 * reuse, and two stations taking over a dead one's lock at the same moment cannot both get it (a pid
 * file, read and then removed, let both through). The file stays: removing a lock file while another
 * process waits on it would let two hold locks on two different files of one name.
 */
export class BenchLock {
  private constructor(private readonly db: DatabaseSyncInstance) {}

  static async acquire(dataDir: string): Promise<BenchLock> {
    const file = path.join(dataDir, 'bench.lock');
    for (let attempt = 0; ; attempt++) {
      const db = new DatabaseSync(file, { timeout: 0 });
      try {
        db.exec('BEGIN IMMEDIATE');
        return new BenchLock(db);
      } catch (error) {
        db.close();
        const code = (error as { sqliteCodeName?: string }).sqliteCodeName;
        if (code === 'SQLITE_BUSY') {
          const owner = await lockHolder(file);
          throw new StationError(
            'provisioning.bench-busy',
            `Another station process${owner === undefined ? '' : ` (pid ${owner})`} is provisioning with this data folder; stop it first.`,
          );
        }
        // The pid file of an earlier version, which took no OS lock: its station may still be running.
        if (code === 'SQLITE_NOTADB' && attempt === 0) {
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
    this.db.close(); // ends the transaction and its lock
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

/** Linux: the process holding a lock on the file, from /proc/locks (for the message only). */
async function lockHolder(file: string): Promise<number | undefined> {
  try {
    const [{ ino }, locks] = await Promise.all([stat(file), readFile('/proc/locks', 'utf8')]);
    // "1: POSIX  ADVISORY  WRITE 4242 08:01:1234567 1073741824 1073741824": pid, then dev:inode.
    for (const line of locks.split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[1] === 'POSIX' && Number(fields[5]?.split(':')[2]) === ino) return Number(fields[4]);
    }
  } catch {
    // Not Linux, or the file went away: the message goes without the pid.
  }
  return undefined;
}
