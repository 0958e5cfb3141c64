// `npm run bench -- bench [--ports N] [--rounds R] [--latency MS]`: the bench at full load. N simulated
// devices (default 32, spread over the four drivers) run in separate processes (`station sim`) on
// pseudo-terminals, paced as 115,200 baud UARTs with a per-answer device latency; this process is the
// station, with its CA key in a SoftHSM2 token (P-256). Every port provisions R devices in a row (default
// 8; rounds after the first replace the identity, the full pipeline again).
// Prints devices per minute; the ratio of each port's time to its wire-time limit (bytes x 10 / baud +
// the latency the simulated device waited before its answers, as the simulator reports it when stopped),
// summed over ports (budget >= 0.95), and how much of the gap is the station's (its turnaround from an
// answer to the next command, and its time before a device's first command and after its last answer);
// station work per device, i.e. this process's CPU time per device (budget < 10 ms), next to a baseline
// measured here (one HSM P-256 signature), with its kernel share and the simulators' CPU on the same cores;
// and the event-loop delay p99.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { DriverName } from '../../hardware/drivers/device-driver.js';
import type { ByteLink } from '../../hardware/transport/byte-link.js';
import { driverByName } from '../../hardware/drivers/index.js';
import { openSerialLink } from '../../hardware/transport/serial-link.js';
import { Bench } from '../../src/provisioning/bench.js';
import type { DevicePort } from '../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../src/provisioning/job-runtime.js';
import type { Station } from '../../src/station.js';
import { actor, createBenchFixture, keyModeFor } from '../integration/provisioning/bench-fixture.js';
import { repoRoot } from '../helpers/repo-root.js';
import { createSoftHsmToken } from '../helpers/softhsm.js';

const baudRate = 115_200;
const drivers: DriverName[] = ['nrf91', 'esp-at', 'quectel', 'jsonl'];
const loopSampleMs = 20;

interface PortStats {
  driver: DriverName;
  /** The station's turnarounds on this port: from the last bytes of an answer to the next command. */
  turnarounds: number[];
  /** Summed over its devices: from the first command to the last answer (the rest is before and after). */
  talkMs: number;
  deviceMs: number;
  provisioned: number;
  failed: number;
  /** From the simulator once stopped: what crossed the device's wire and the latency it waited. */
  wire?: SimulatorReport;
}

interface SimulatorReport {
  rxBytes: number;
  txBytes: number;
  latencyAnswers: number;
  latencyMs: number;
}

function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  const value = index >= 0 ? Number(args[index + 1]) : fallback;
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} takes a number`);
  return value;
}

const reportLine =
  /^(\S+) (\S+) stopped: received (\d+) B, sent (\d+) B, answered (\d+) times after the latency \((\d+) ms\)$/;

/**
 * The simulators run the same build as this process: compiled with it into .bench/ (`npm run bench`), or
 * the sources under tsx. They share the two cores with the station: under tsx they used about 10% more CPU
 * (13.7-15.2 against 12.0-13.6 ms per device, two side-by-side pairs), and the ratio fell by 0.01-0.02.
 */
const simulatorEntry = import.meta.url.endsWith('.js')
  ? [fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))]
  : ['--import', 'tsx', 'src/cli/main.ts'];

/** The CPU time a process has used so far (user + kernel), from Linux's /proc: the simulators' load. */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  // Fields 14 and 15 (utime, stime) in clock ticks; the command name before them is in parentheses.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

async function startSimulators(driver: DriverName, count: number, latencyMs: number) {
  const child = spawn(
    process.execPath,
    [
      ...simulatorEntry,
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
  let text = '';
  let closed = false;
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.once('close', () => (closed = true));
  const paths = await new Promise<string[]>((resolve, reject) => {
    child.stdout.on('data', () => {
      const lines = text.split('\n').filter((line) => line.startsWith(`${driver} `));
      if (lines.length === count) resolve(lines.map((line) => line.slice(driver.length + 1).trim()));
    });
    child.on('exit', (code) => reject(new Error(`station sim --driver ${driver} exited with ${code}`)));
  });
  /** Stops the simulators and returns what each device reported, by path. */
  async function stop(): Promise<Map<string, SimulatorReport>> {
    await new Promise<void>((resolve) => {
      if (closed) return resolve();
      // 'close', not 'exit': the reports are the last lines of its output, read by then.
      child.once('close', () => resolve());
      child.kill('SIGTERM');
    });
    const reports = new Map<string, SimulatorReport>();
    for (const line of text.split('\n')) {
      const match = reportLine.exec(line);
      if (!match) continue;
      const [rxBytes, txBytes, latencyAnswers, latencyMs] = match.slice(3).map(Number) as [
        number,
        number,
        number,
        number,
      ];
      reports.set(match[2]!, { rxBytes, txBytes, latencyAnswers, latencyMs });
    }
    return reports;
  }
  return { child, paths, stop, cpuMs: () => (closed ? 0 : processCpuMs(child.pid)) };
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

interface BenchPort {
  port: DevicePort;
  stats: PortStats;
  keyMode: 'csr' | 'inject';
}

type Simulators = Awaited<ReturnType<typeof startSimulators>>;

/** N simulated ports spread over the drivers, each in the key mode its driver supports. */
async function startPorts(
  portCount: number,
  latencyMs: number,
  sims: Simulators[],
): Promise<{ ports: BenchPort[] }> {
  const ports: BenchPort[] = [];
  for (const [index, driver] of drivers.entries()) {
    const count = Math.floor(portCount / drivers.length) + (index < portCount % drivers.length ? 1 : 0);
    if (count === 0) continue;
    const started = await startSimulators(driver, count, latencyMs);
    sims.push(started);
    for (const devicePath of started.paths) {
      const deviceDriver = driverByName(driver);
      const stats: PortStats = { driver, turnarounds: [], talkMs: 0, deviceMs: 0, provisioned: 0, failed: 0 };
      ports.push({
        keyMode: keyModeFor(driver),
        stats,
        port: {
          name: devicePath,
          driver: deviceDriver,
          open: async () => timedLink(await openSerialLink(devicePath, deviceDriver.serial), stats),
        },
      });
    }
  }
  return { ports };
}

/**
 * The link as the pipeline uses it, timing the station's turnaround: from the last bytes that arrived to
 * the next write (a command, or the next part of a write the device acknowledged). The rest of a gap
 * between a device's answer and its next command is the pty's and the simulator process's.
 */
function timedLink(link: ByteLink, stats: PortStats): ByteLink {
  let lastData: number | undefined;
  let firstWrite: number | undefined;
  let lastAnswer: number | undefined;
  link.onData(() => (lastData = lastAnswer = performance.now()));
  return {
    get port() {
      return link.port;
    },
    get closed() {
      return link.closed;
    },
    write(data, signal) {
      firstWrite ??= performance.now();
      if (lastData !== undefined) stats.turnarounds.push(performance.now() - lastData);
      lastData = undefined;
      return link.write(data, signal);
    },
    onData: (listener) => link.onData(listener),
    onClose: (listener) => link.onClose(listener),
    close: () => {
      if (firstWrite !== undefined && lastAnswer !== undefined) stats.talkMs += lastAnswer - firstWrite;
      firstWrite = lastAnswer = undefined;
      return link.close();
    },
  };
}

/** Every port provisions `rounds` devices in a row; all ports at once. */
async function runRounds(
  ports: readonly BenchPort[],
  benches: Record<BenchPort['keyMode'], Bench>,
  rounds: number,
): Promise<void> {
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
}

export default async function benchBench(args: string[]): Promise<void> {
  const portCount = option(args, 'ports', 32);
  const rounds = Math.max(1, option(args, 'rounds', 8));
  const latencyMs = option(args, 'latency', 20);
  const token = await createSoftHsmToken();
  const fixture = await createBenchFixture(
    { kind: 'pkcs11', module: token.module, tokenLabel: token.tokenLabel },
    { pin: token.pin },
    portCount * rounds,
  );
  const sims: Simulators[] = [];
  const station = await fixture.open();
  try {
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
    const { ports } = await startPorts(portCount, latencyMs, sims);

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
    // Sampled every 20 ms: the probe wakes the event loop each time, which would count as station work.
    const loopDelay = monitorEventLoopDelay({ resolution: loopSampleMs });
    loopDelay.enable();
    const simCpuStart = sims.reduce((sum, sim) => sum + sim.cpuMs(), 0);
    const cpuStart = process.cpuUsage();
    const eluStart = performance.eventLoopUtilization();
    const started = performance.now();
    await runRounds(ports, benches, rounds);
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuStart);
    const simCpuMs = sims.reduce((sum, sim) => sum + sim.cpuMs(), 0) - simCpuStart;
    const elu = performance.eventLoopUtilization(eluStart);
    await profile.stop();
    loopDelay.disable();
    // The simulators say what crossed each device's wire and how long the device waited before answering.
    const reports = new Map<string, SimulatorReport>();
    for (const sim of sims)
      for (const [devicePath, report] of await sim.stop()) reports.set(devicePath, report);
    for (const { port, stats } of ports) {
      stats.wire = reports.get(port.name);
      if (!stats.wire) throw new Error(`the simulator of ${port.name} did not report its wire use`);
    }
    const limitOf = (wire: SimulatorReport) =>
      ((wire.txBytes + wire.rxBytes) * 10 * 1000) / baudRate + wire.latencyMs;

    const devices = ports.reduce((sum, { stats }) => sum + stats.provisioned, 0);
    const failed = ports.reduce((sum, { stats }) => sum + stats.failed, 0);
    const limitMs = ports.reduce((sum, { stats }) => sum + limitOf(stats.wire!), 0);
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
      const sum = (pick: (stats: PortStats) => number) =>
        perDevice(mine.reduce((total, stats) => total + pick(stats), 0));
      const bytes = sum(({ wire }) => wire!.txBytes + wire!.rxBytes);
      const answers = sum(({ wire }) => wire!.latencyAnswers);
      const limit = sum(({ wire }) => limitOf(wire!));
      const deviceMs = sum(({ deviceMs }) => deviceMs);
      console.log(
        `  ${driver.padEnd(8)} ${bytes.toFixed(0)} B and ${answers.toFixed(0)} answers after the latency per device: limit ${limit.toFixed(0)} ms, achieved ${deviceMs.toFixed(0)} ms (${(limit / deviceMs).toFixed(3)})`,
      );
    }
    const turnarounds = ports.flatMap(({ stats }) => stats.turnarounds).sort((a, b) => a - b);
    const quantile = (q: number) => (turnarounds[Math.floor(q * (turnarounds.length - 1))] ?? 0).toFixed(2);
    const turnaroundMs = turnarounds.reduce((sum, ms) => sum + ms, 0);
    console.log(
      `  the station's turnaround, last bytes of an answer to the next command: ${(turnaroundMs / turnarounds.length).toFixed(2)} ms mean (p50 ${quantile(0.5)}, p90 ${quantile(0.9)}, p99 ${quantile(0.99)}) over ${turnarounds.length} exchanges = ${((turnaroundMs / actualMs) * 100).toFixed(1)}% of the port time`,
    );
    const talkMs = ports.reduce((sum, { stats }) => sum + stats.talkMs, 0);
    const outsideMs = (actualMs - talkMs) / Math.max(1, devices + failed);
    console.log(
      `  before the first command and after the last answer (record, port open and close, outcome commit): ${outsideMs.toFixed(1)} ms per device = ${(((actualMs - talkMs) / actualMs) * 100).toFixed(1)}% of the port time; the rest of the gap is the ptys' and the simulator processes'`,
    );
    console.log(
      `station work per device: ${stationMsPerDevice.toFixed(2)} ms CPU (budget < 10 ms) = ${(stationMsPerDevice / signMs).toFixed(1)} x one HSM P-256 signature (${signMs.toFixed(3)} ms, baseline measured in this run)`,
    );
    const perDevice = (ms: number) => (ms / Math.max(1, devices + failed)).toFixed(2);
    console.log(
      `  of which in the kernel: ${perDevice(cpu.system / 1000)} ms (pty, file and SQLite syscalls); the simulator processes on the same cores: ${perDevice(simCpuMs)} ms`,
    );
    console.log(
      `  of which the JavaScript thread: ${(elu.active / Math.max(1, devices + failed)).toFixed(2)} ms per device (the rest: V8 compiler and GC threads, the thread pool)`,
    );
    console.log('  where a device spends its time, mean ms per step (the records the pipeline kept):');
    for (const line of await stepMeans(station, Object.values(fixture.jobs))) console.log(`    ${line}`);
    // The histogram holds whole sampling intervals; the delay is what exceeds the interval.
    const delayMs = (ns: number) => Math.max(0, ns / 1e6 - loopSampleMs).toFixed(1);
    console.log(
      `event-loop delay during the run: p50 ${delayMs(loopDelay.percentile(50))} ms, p99 ${delayMs(loopDelay.percentile(99))} ms, max ${delayMs(loopDelay.max)} ms`,
    );
  } finally {
    await station.close();
    await Promise.all(sims.map((sim) => sim.stop())); // a no-op for those stopped already
    await fixture.cleanup();
    await token.cleanup();
  }
}
