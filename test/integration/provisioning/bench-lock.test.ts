import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BenchLock } from '../../../src/provisioning/bench-lock.js';

describe('BenchLock', () => {
  let dir: string;
  let other: ChildProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bench-lock-'));
  });

  afterEach(async () => {
    other?.kill();
    other = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** Another live process, as a second station would be (or any program that got a crashed one's pid). */
  async function liveProcess(): Promise<ChildProcess> {
    other = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((resolve) => other!.once('spawn', resolve));
    return other;
  }

  it('refuses while the process that took it runs, and is free once released', async () => {
    const lock = await BenchLock.acquire(dir);
    const [pid, identity] = (await readFile(path.join(dir, 'bench.lock'), 'utf8')).split('\n');
    expect(pid).toBe(String(process.pid));
    if (process.platform === 'linux') expect(identity).toMatch(/^\S+ \d+$/);
    // The lock as another station that is still running wrote it.
    const running = await liveProcess();
    const runningIdentity = identity!.replace(/\d+$/, '') + (await startTime(running.pid!));
    await lock.release();
    await writeFile(path.join(dir, 'bench.lock'), `${running.pid}\n${runningIdentity}\n`);
    await expect(BenchLock.acquire(dir)).rejects.toMatchObject({ code: 'provisioning.bench-busy' });
  });

  it('takes over a lock whose pid now belongs to another process (a crash, then pid reuse)', async () => {
    const unrelated = await liveProcess();
    // Written by a station that died before this boot's process with the same pid started.
    await writeFile(path.join(dir, 'bench.lock'), `${unrelated.pid}\nearlier-boot 12345\n`);
    const lock = await BenchLock.acquire(dir);
    expect((await readFile(path.join(dir, 'bench.lock'), 'utf8')).split('\n')[0]).toBe(String(process.pid));
    await lock.release();
  });

  it('takes over a lock whose process is gone', async () => {
    await writeFile(path.join(dir, 'bench.lock'), '2147483646\n');
    await (await BenchLock.acquire(dir)).release();
  });
});

async function startTime(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}
