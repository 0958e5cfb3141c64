// `npm run bench -- bench [--ports N] [--rounds R] [--latency MS]`: the bench at full load. N simulated
// devices (default 32, spread over the four drivers) run in separate processes (`station sim`) on
// pseudo-terminals, paced as 115,200 baud UARTs with a per-answer device latency; this process is the
// station, with its CA key in a SoftHSM2 token (P-256). Every port provisions R devices in a row (rounds
// after the first replace the identity, the full pipeline again). Prints devices per minute; the ratio of
// each port's time to its wire-time limit (bytes x 10 / baud + device latency per answer), summed over
// ports (budget >= 0.95); station work per device, i.e. this process's CPU time per device (budget < 10 ms)
// next to a baseline measured here (one HSM P-256 signature); and the event-loop delay p99.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { DriverName } from '../../hardware/drivers/device-driver.js';
import { driverByName } from '../../hardware/drivers/index.js';
import type { ByteLink } from '../../hardware/transport/byte-link.js';
import { openSerialLink } from '../../hardware/transport/serial-link.js';
import { Bench } from '../../src/provisioning/bench.js';
import type { DevicePort } from '../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../src/provisioning/job-runtime.js';
import type { Station } from '../../src/station.js';
import { actor, createBenchFixture, keyModeFor } from '../integration/provisioning/bench-fixture.js';
import { createSoftHsmToken } from '../helpers/softhsm.js';

const repoRoot = path.resolve(fileURLToPath(import.meta.url), '../../..');
const baudRate = 115_200;
const drivers: DriverName[] = ['nrf91', 'esp-at', 'quectel', 'jsonl'];

interface PortStats {
  driver: DriverName;
  txBytes: number;
  rxBytes: number;
  /** Device answers (final results, prompts, JSON responses): each costs the device's latency once. */
  answers: number;
  deviceMs: number;
  provisioned: number;
  failed: number;
}

function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  const value = index >= 0 ? Number(args[index + 1]) : fallback;
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} takes a number`);
  return value;
}

/** A final result, a prompt-bearing CONNECT or a JSON-lines response: each costs the device's latency once. */
function isAnswer(line: string): boolean {
  return (
    line === 'OK' ||
    line === 'ERROR' ||
    line.startsWith('+CME ERROR') ||
    line.startsWith('CONNECT') ||
    line.startsWith('{')
  );
}

/** Counts what crosses a port, and the device's answers, for the port's wire-time limit. */
function countingLink(link: ByteLink, stats: PortStats): ByteLink {
  let partial = '';
  // Cheap on purpose: this runs in the station's process, so its CPU counts as station work.
  link.onData((chunk) => {
    stats.rxBytes += chunk.length;
    const text = partial + chunk.toString('latin1');
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      if (isAnswer(text.slice(start, end).trim())) stats.answers++;
      start = end + 1;
    }
    partial = text.slice(start);
    if (partial === '>') stats.answers++; // the ESP-AT prompt ends without a line end
  });
  return {
    get port() {
      return link.port;
    },
    get closed() {
      return link.closed;
    },
    write(data, signal) {
      stats.txBytes += data.length;
      return link.write(data, signal);
    },
    onData: (listener) => link.onData(listener),
    onClose: (listener) => link.onClose(listener),
    close: () => link.close(),
  };
}

async function startSimulators(driver: DriverName, count: number, latencyMs: number) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'sim',
      '--driver',
      driver,
      '--count',
      String(count),
      '--baud',
      String(baudRate),
      '--latency',
      String(latencyMs),
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const paths = await new Promise<string[]>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const lines = text.split('\n').filter((line) => line.startsWith(`${driver} `));
      if (lines.length === count) resolve(lines.map((line) => line.slice(driver.length + 1).trim()));
    });
    child.on('exit', (code) => reject(new Error(`station sim --driver ${driver} exited with ${code}`)));
  });
  return { child, paths };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** BENCH_PROFILE=FILE writes a CPU profile of the run itself (setup excluded), for Chrome DevTools. */
async function startProfile(file: string | undefined): Promise<{ stop(): Promise<void> }> {
  if (!file) return { stop: () => Promise.resolve() };
  const session = new Session();
  session.connect();
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, (error, result) => (error ? reject(error) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
      console.log(`CPU profile of the run: ${file}`);
    },
  };
}

/** Per driver, the mean duration of each step that ran, from the provisioning records of the jobs. */
async function stepMeans(station: Station, jobIds: readonly number[]): Promise<string[]> {
  const totals = new Map<string, Map<string, { ms: number; count: number }>>();
  for (const jobId of jobIds) {
    for (const record of await station.records.list(jobId, 100_000)) {
      const byStep = totals.get(record.driver ?? '?') ?? new Map<string, { ms: number; count: number }>();
      totals.set(record.driver ?? '?', byStep);
      for (const step of await station.records.steps(record.id)) {
        if (step.outcome !== 'ok') continue;
        const total = byStep.get(step.step) ?? { ms: 0, count: 0 };
        total.ms += step.durationMs;
        total.count += 1;
        byStep.set(step.step, total);
      }
    }
  }
  return [...totals].map(
    ([driver, byStep]) =>
      `${driver.padEnd(8)} ${[...byStep].map(([step, { ms, count }]) => `${step} ${(ms / count).toFixed(0)}`).join(', ')}`,
  );
}

export default async function benchBench(args: string[]): Promise<void> {
  const portCount = option(args, 'ports', 32);
  const rounds = Math.max(1, option(args, 'rounds', 2));
  const latencyMs = option(args, 'latency', 20);
  const token = await createSoftHsmToken();
  const fixture = await createBenchFixture(
    { kind: 'pkcs11', module: token.module, tokenLabel: token.tokenLabel },
    { pin: token.pin },
    portCount * rounds,
  );
  const sims: ChildProcess[] = [];
  const station = await fixture.open();
  try {
    const ports: { port: DevicePort; stats: PortStats; keyMode: 'csr' | 'inject' }[] = [];
    for (const [index, driver] of drivers.entries()) {
      const count = Math.floor(portCount / drivers.length) + (index < portCount % drivers.length ? 1 : 0);
      if (count === 0) continue;
      const started = await startSimulators(driver, count, latencyMs);
      sims.push(started.child);
      for (const devicePath of started.paths) {
        const stats: PortStats = {
          driver,
          txBytes: 0,
          rxBytes: 0,
          answers: 0,
          deviceMs: 0,
          provisioned: 0,
          failed: 0,
        };
        const deviceDriver = driverByName(driver);
        ports.push({
          keyMode: keyModeFor(driver),
          stats,
          port: {
            name: devicePath,
            driver: deviceDriver,
            open: async () => countingLink(await openSerialLink(devicePath, deviceDriver.serial), stats),
          },
        });
      }
    }
    const benches = {
      csr: new Bench(
        await openJobRuntime(station, fixture.jobs.csr, { actor, reprovision: true, emit: () => undefined }),
      ),
      inject: new Bench(
        await openJobRuntime(station, fixture.jobs.inject, {
          actor,
          reprovision: true,
          emit: () => undefined,
        }),
      ),
    };

    // Baseline in this run: one P-256 signature by the CA key on the token.
    const pki = await station.pki();
    const ca = await pki.factoryCa.signingCa('factory');
    const keyStore = await station.keyStore();
    const signCpu = process.cpuUsage();
    const signatures = 500;
    for (let index = 0; index < signatures; index++)
      await keyStore.sign(ca.key, Buffer.alloc(200, index), 'SHA-256');
    const signCost = process.cpuUsage(signCpu);
    const signMs = (signCost.user + signCost.system) / 1000 / signatures;

    const profile = await startProfile(process.env.BENCH_PROFILE);
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const cpuStart = process.cpuUsage();
    const eluStart = performance.eventLoopUtilization();
    const started = performance.now();
    await Promise.all(
      ports.map(async ({ port, stats, keyMode }) => {
        for (let round = 0; round < rounds; round++) {
          const begin = performance.now();
          const outcome = await benches[keyMode].run(port);
          stats.deviceMs += performance.now() - begin;
          if (outcome?.state === 'PROVISIONED') stats.provisioned++;
          else {
            stats.failed++;
            console.error(`${port.name}: ${outcome?.error?.message ?? 'did not run'}`);
          }
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuStart);
    const elu = performance.eventLoopUtilization(eluStart);
    await profile.stop();
    loopDelay.disable();

    const devices = ports.reduce((sum, { stats }) => sum + stats.provisioned, 0);
    const failed = ports.reduce((sum, { stats }) => sum + stats.failed, 0);
    const limitMs = ports.reduce(
      (sum, { stats }) =>
        sum + ((stats.txBytes + stats.rxBytes) * 10 * 1000) / baudRate + stats.answers * latencyMs,
      0,
    );
    const actualMs = ports.reduce((sum, { stats }) => sum + stats.deviceMs, 0);
    const stationMsPerDevice = (cpu.user + cpu.system) / 1000 / Math.max(1, devices + failed);

    console.log(
      `${ports.length} ports (${drivers.join(', ')}), ${rounds} devices per port, ${baudRate} baud, ${latencyMs} ms per device answer`,
    );
    console.log(`devices provisioned: ${devices}, failed: ${failed}, in ${(elapsedMs / 1000).toFixed(1)} s`);
    console.log(`throughput: ${((devices / elapsedMs) * 60_000).toFixed(0)} devices/minute`);
    console.log(
      `wire-time limit / achieved port time: ${(limitMs / actualMs).toFixed(3)} (budget >= 0.95; limit ${(limitMs / 1000).toFixed(1)} s, achieved ${(actualMs / 1000).toFixed(1)} s, summed over ports)`,
    );
    for (const driver of drivers) {
      const mine = ports.filter(({ stats }) => stats.driver === driver).map(({ stats }) => stats);
      if (mine.length === 0) continue;
      const perDevice = (total: number) => total / mine.length / rounds;
      const bytes = perDevice(mine.reduce((sum, stats) => sum + stats.txBytes + stats.rxBytes, 0));
      const answers = perDevice(mine.reduce((sum, stats) => sum + stats.answers, 0));
      const deviceMs = perDevice(mine.reduce((sum, stats) => sum + stats.deviceMs, 0));
      const limit = (bytes * 10 * 1000) / baudRate + answers * latencyMs;
      console.log(
        `  ${driver.padEnd(8)} ${bytes.toFixed(0)} B and ${answers.toFixed(0)} answers per device: limit ${limit.toFixed(0)} ms, achieved ${deviceMs.toFixed(0)} ms (${(limit / deviceMs).toFixed(3)})`,
      );
    }
    console.log(
      `station work per device: ${stationMsPerDevice.toFixed(2)} ms CPU (budget < 10 ms) = ${(stationMsPerDevice / signMs).toFixed(1)} x one HSM P-256 signature (${signMs.toFixed(3)} ms, baseline measured in this run)`,
    );
    console.log(
      `  of which the JavaScript thread: ${(elu.active / Math.max(1, devices + failed)).toFixed(2)} ms per device (the rest: SQLite, file and serial I/O threads)`,
    );
    console.log('  where a device spends its time, mean ms per step (the records the pipeline kept):');
    for (const line of await stepMeans(station, Object.values(fixture.jobs))) console.log(`    ${line}`);
    console.log(
      `event-loop delay during the run: p50 ${(loopDelay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`,
    );
  } finally {
    await station.close();
    await Promise.all(sims.map(stop));
    await fixture.cleanup();
    await token.cleanup();
  }
}
