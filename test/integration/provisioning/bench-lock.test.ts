import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BenchLock } from '../../../src/provisioning/bench-lock.js';
import { repoRoot } from '../../helpers/repo-root.js';

/** A station process that takes the bench lock, says so (or says it was refused), and holds it. */
function stationTakingTheLock(dir: string): { child: ChildProcess; answer: Promise<string> } {
  const script = `
    import { BenchLock } from './src/provisioning/bench-lock.ts';
    BenchLock.acquire(process.argv[1]).then(
      (lock) => {
        globalThis.lock = lock; // held for as long as the process runs
        console.log('taken');
      },
      (error) => console.log(error.code),
    );
    setTimeout(() => undefined, 30_000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const answer = new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the station process exited with ${code}`)));
  });
  return { child, answer };
}

describe('BenchLock', () => {
  let dir: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bench-lock-'));
  });

  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses while another station holds it, naming it, and is free the moment that one is killed', async () => {
    const other = stationTakingTheLock(dir);
    children.push(other.child);
    expect(await other.answer).toBe('taken');
    const refusal = BenchLock.acquire(dir);
    await expect(refusal).rejects.toMatchObject({ code: 'provisioning.bench-busy' });
    if (process.platform === 'linux')
      await expect(refusal).rejects.toThrow(`Another station process (pid ${other.child.pid})`);

    const gone = new Promise((resolve) => other.child.once('exit', resolve));
    other.child.kill('SIGKILL'); // a crash: nothing runs to release it
    await gone;
    await (await BenchLock.acquire(dir)).release();
  });

  it('lets exactly one of several stations starting at once take it, over a crashed one too', async () => {
    // What an earlier version left after a crash: a pid file naming a process that is gone.
    await writeFile(path.join(dir, 'bench.lock'), '2147483646\n');
    const stations = Array.from({ length: 4 }, () => stationTakingTheLock(dir));
    children.push(...stations.map(({ child }) => child));
    const answers = await Promise.all(stations.map(({ answer }) => answer));
    expect(answers.filter((answer) => answer === 'taken')).toHaveLength(1);
    expect(answers.filter((answer) => answer === 'provisioning.bench-busy')).toHaveLength(3);
  });

  it('is held once per process too, and free again once released', async () => {
    const lock = await BenchLock.acquire(dir);
    await expect(BenchLock.acquire(dir)).rejects.toMatchObject({ code: 'provisioning.bench-busy' });
    await lock.release();
    await (await BenchLock.acquire(dir)).release();
  });

  it("takes over an earlier version's pid file once its station is gone, not while it runs", async () => {
    const file = path.join(dir, 'bench.lock');
    // A live process, as the earlier version wrote its lock (pid, then boot id and start time on Linux).
    const running = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(running);
    await new Promise((resolve) => running.once('spawn', resolve));
    await writeFile(file, `${running.pid}\n${await processIdentity(running.pid!)}\n`);
    await expect(BenchLock.acquire(dir)).rejects.toMatchObject({
      code: 'provisioning.bench-busy',
      message: expect.stringContaining(`pid ${running.pid}, an earlier version`),
    });
    // The same pid, but a process of an earlier boot: gone, whoever has the number now.
    await writeFile(file, `${running.pid}\nearlier-boot 12345\n`);
    await (await BenchLock.acquire(dir)).release();
    await writeFile(file, '2147483646\n');
    await (await BenchLock.acquire(dir)).release();
  });
});

/** As the earlier version identified a process: this boot's id and the process's start time. */
async function processIdentity(pid: number): Promise<string> {
  const [boot, stat] = await Promise.all([
    readFile('/proc/sys/kernel/random/boot_id', 'utf8'),
    readFile(`/proc/${pid}/stat`, 'utf8'),
  ]);
  return `${boot.trim()} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
}
