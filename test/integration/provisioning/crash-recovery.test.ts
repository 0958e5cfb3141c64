// Kills the provisioning process (SIGKILL) at a random point of a batch, restarts it, lets it finish, and
// checks every invariant; over CRASH_RUNS runs (default 50). Each run prints its seed and kill delay:
// CRASH_SEED=<seed> CRASH_RUNS=1 replays one.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from '@photostructure/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverName } from '../../../hardware/drivers/device-driver.js';
import { startPtySims, type PtySimDevice, type SimHost } from '../../../hardware/sim/sim-host.js';
import { registryFile } from '../../../src/config/settings.js';
import { createSoftHsmToken, type SoftHsmToken } from '../../helpers/softhsm.js';
import { createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants, tokenPrivateKeyLabels } from './invariants.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../../..');
const runs = Number(process.env.CRASH_RUNS ?? 50);
const firstSeed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
const batches: { keyMode: 'csr' | 'inject'; drivers: DriverName[] }[] = [
  { keyMode: 'csr', drivers: ['nrf91', 'jsonl'] },
  { keyMode: 'inject', drivers: ['esp-at', 'quectel'] },
];

/** mulberry32: a small seeded generator, so a printed seed replays the same kill point. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('crash safety of the bench', () => {
  let token: SoftHsmToken;
  let fixture: BenchFixture;

  beforeAll(async () => {
    token = await createSoftHsmToken();
    fixture = await createBenchFixture(
      { kind: 'pkcs11', module: token.module, tokenLabel: token.tokenLabel },
      { pin: token.pin },
    );
  });

  afterAll(async () => {
    await fixture?.cleanup();
    await token?.cleanup();
  });

  function provision(job: number, ports: string[]): ChildProcess {
    return spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        '--data',
        fixture.dataDir,
        'provision',
        '--job',
        String(job),
        '--ports',
        ...ports,
      ],
      { cwd: repoRoot, env: { ...process.env, ...fixture.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  }

  function exited(
    child: ChildProcess,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, output })));
  }

  /** Resolves once the child has started its first device record (the pipeline window begins). */
  async function firstRecordAfter(known: number, child: ChildProcess): Promise<void> {
    const db = new DatabaseSync(registryFile(fixture.dataDir), { readOnly: true, timeout: 50 });
    const count = db.prepare('SELECT count(*) AS n FROM provisioning_records');
    try {
      for (let polls = 0; polls < 600 && child.exitCode === null; polls++) {
        let seen = known;
        try {
          seen = (count.get() as { n: number }).n;
        } catch {
          // the child holds a lock for a moment: look again at the next poll
        }
        if (seen > known) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      db.close();
    }
  }

  /** Where each attempt of this batch stood when the process died: the kill point, for the log. */
  async function killPoint(known: number): Promise<string> {
    const station = await fixture.open();
    try {
      const rows = await station.registry.reader.all<{ state: string; step_reached: string | null }>(
        'SELECT state, step_reached FROM provisioning_records WHERE id > ? ORDER BY id',
        [known],
      );
      return rows.map((row) => `${row.state}@${row.step_reached ?? 'start'}`).join(', ') || 'no record yet';
    } finally {
      await station.close();
    }
  }

  async function recordCount(): Promise<number> {
    const station = await fixture.open();
    try {
      const row = await station.registry.reader.get<{ n: number }>(
        'SELECT count(*) AS n FROM provisioning_records',
      );
      return row!.n;
    } finally {
      await station.close();
    }
  }

  it(`keeps every invariant when killed at random points (${runs} runs)`, async () => {
    let windowMs = 0;
    for (let index = 0; index <= runs; index++) {
      // Run 0 calibrates: how long a batch takes once its first record exists.
      const calibrating = index === 0;
      const seed = firstSeed + index;
      const batch = batches[index % batches.length]!;
      const sims: SimHost<PtySimDevice>[] = [];
      try {
        for (const driver of batch.drivers)
          sims.push(await startPtySims({ driver, count: 2, baudRate: 115_200 }));
        const ports = sims.flatMap((sim) => sim.devices.map((device) => `${sim.driver}=${device.path}`));
        const job = fixture.jobs[batch.keyMode];
        const known = await recordCount();
        const child = provision(job, ports);
        const done = exited(child);
        await firstRecordAfter(known, child);
        const windowStart = performance.now();
        if (calibrating) {
          const result = await done;
          expect(result.code, result.output).toBe(0);
          windowMs = performance.now() - windowStart;
        } else {
          // The calibration run is the slowest (cold caches): aim inside the batch, not after it.
          const delay = Math.round(random(seed)() * windowMs * 0.8);
          await new Promise((resolve) => setTimeout(resolve, delay));
          child.kill('SIGKILL');
          const killed = await done;
          console.log(
            `crash run ${index}: seed ${seed}, ${batch.keyMode} batch, SIGKILL ${delay} ms into the batch (${killed.signal ?? `exit ${killed.code}`}); attempts stood at: ${await killPoint(known)}`,
          );
          // Restart on the same ports: recovery closes the interrupted attempts, the devices finish.
          const restarted = await exited(provision(job, ports));
          expect(restarted.code, `seed ${seed}: the restart finishes the batch\n${restarted.output}`).toBe(0);
        }
        const station = await fixture.open();
        try {
          await expectInvariants(
            station,
            sims.flatMap((sim) => sim.devices.map((device) => device.simulator)),
          );
        } finally {
          await station.close();
        }
      } finally {
        for (const sim of sims) await sim.stop();
      }
    }
    expect(await tokenPrivateKeyLabels(token.module, token.tokenLabel, token.pin)).toEqual(['ca:factory']);
  }, 3_600_000);
});
