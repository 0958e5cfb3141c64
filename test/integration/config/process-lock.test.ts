import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockHolder, ProcessLock } from '../../../src/config/process-lock.js';

describe('lockHolder', () => {
  it('names the process holding the lock, and no one once it is released', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'process-lock-'));
    try {
      const file = path.join(dir, 'some.lock');
      const lock = ProcessLock.tryTake(file);
      expect(lock).not.toBe('busy');
      if (process.platform === 'linux') expect(await lockHolder(file)).toBe(process.pid);
      if (lock !== 'busy') lock.release();
      expect(await lockHolder(file)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  // Two fresh tmpfs give files of the same inode number on two devices; mounting takes root.
  it.runIf(process.getuid?.() === 0 && process.platform === 'linux')(
    'does not take a lock on a file of the same inode number on another file system for one',
    async (context) => {
      const base = mkdtempSync(path.join(os.tmpdir(), 'process-lock-'));
      const [one, two] = [path.join(base, 'one'), path.join(base, 'two')];
      mkdirSync(one);
      mkdirSync(two);
      const mounted: string[] = [];
      let other: ProcessLock | 'busy' | undefined;
      try {
        for (const point of [one, two]) {
          try {
            execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', point], { stdio: 'ignore' });
          } catch {
            return context.skip(); // no mount privilege here (a container without CAP_SYS_ADMIN)
          }
          mounted.push(point);
        }
        const ours = path.join(one, 'bench.lock');
        writeFileSync(ours, '');
        const unrelated = path.join(two, 'some.db');
        writeFileSync(unrelated, '');
        expect(statSync(unrelated).ino).toBe(statSync(ours).ino);
        other = ProcessLock.tryTake(unrelated);
        expect(other).not.toBe('busy');
        expect(await lockHolder(ours)).toBeUndefined();
      } finally {
        if (other && other !== 'busy') other.release();
        for (const point of mounted) execFileSync('umount', [point]);
        rmSync(base, { recursive: true });
      }
    },
  );
});
