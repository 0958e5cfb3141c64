import { DatabaseSync, type DatabaseSyncInstance } from '@photostructure/sqlite';
import { readFile, stat } from 'node:fs/promises';

/**
 * A lock on a file in the data folder that the operating system holds for this process, taken through
 * SQLite on an empty database file: a transaction held open keeps a POSIX record lock on the file, which the
 * kernel drops when the process ends however it ends. So a crash leaves nothing to clean up, and no pid can
 * be mistaken for the owner after a reboot or pid reuse. The file stays: removing a lock file while another
 * process waits on it would let two hold locks on two different files of one name.
 */
export class ProcessLock {
  private constructor(private readonly db: DatabaseSyncInstance) {}

  /**
   * The lock, or 'busy' while another process (or another holder in this one) has it. Other failures
   * throw SQLite's error, e.g. SQLITE_NOTADB for a file that is not an SQLite database.
   */
  static tryTake(file: string): ProcessLock | 'busy' {
    const db = new DatabaseSync(file, { timeout: 0 });
    try {
      db.exec('BEGIN IMMEDIATE');
      return new ProcessLock(db);
    } catch (error) {
      db.close();
      if ((error as { sqliteCodeName?: string }).sqliteCodeName === 'SQLITE_BUSY') return 'busy';
      throw error;
    }
  }

  /** Tries again every 50 ms for up to `waitMs`: for locks held only briefly. */
  static async take(file: string, waitMs: number): Promise<ProcessLock | 'busy'> {
    const deadline = performance.now() + waitMs;
    for (;;) {
      const lock = ProcessLock.tryTake(file);
      if (lock !== 'busy' || performance.now() + 50 > deadline) return lock;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  release(): void {
    this.db.close(); // ends the transaction and its lock
  }
}

/** Linux: the process holding a lock on the file, from /proc/locks (for messages only). */
export async function lockHolder(file: string): Promise<number | undefined> {
  try {
    const [{ dev, ino }, locks] = await Promise.all([
      stat(file, { bigint: true }),
      readFile('/proc/locks', 'utf8'),
    ]);
    // "1: POSIX  ADVISORY  WRITE 4242 fe:00:1234567 1073741824 1073741824": pid, then the device's major and
    // minor number in hex and the inode: all three, since another file system has the same inode numbers.
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
    const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
    for (const line of locks.split('\n')) {
      const fields = line.trim().split(/\s+/);
      const [lockMajor, lockMinor, lockInode] = fields[5]?.split(':') ?? [];
      if (
        fields[1] === 'POSIX' &&
        lockInode === String(ino) &&
        BigInt(`0x${lockMajor}`) === major &&
        BigInt(`0x${lockMinor}`) === minor
      )
        return Number(fields[4]);
    }
  } catch {
    // Not Linux, or the file went away: the message goes without the pid.
  }
  return undefined;
}
