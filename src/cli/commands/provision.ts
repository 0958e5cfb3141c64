import { invalidInput, StationError } from '../../api/errors.js';
import type { DeviceDriver } from '../../../hardware/drivers/device-driver.js';
import { driverByName, driverForUsb } from '../../../hardware/drivers/index.js';
import { PortWatcher, type BenchPort } from '../../../hardware/transport/port-watcher.js';
import { quotaSpent } from '../../registry/jobs.js';
import { Bench, serialDevicePort } from '../../provisioning/bench.js';
import { BenchLock } from '../../provisioning/bench-lock.js';
import type { DeviceOutcome, DevicePort } from '../../provisioning/device-pipeline.js';
import { EventBatcher } from '../../provisioning/event-batcher.js';
import { openJobRuntime } from '../../provisioning/job-runtime.js';
import { recoverInterruptedAttempts } from '../../provisioning/recovery.js';
import { BatchTally, formatSummary, LiveDisplay } from '../live-display.js';
import { cliActor } from '../open-registry.js';
import { OperatorPrompt } from '../operator-prompt.js';
import { withStation } from '../open-station.js';
import { untilStopped } from '../until-stopped.js';
import type { CommandModule } from '../program.js';
import { jobId } from './job.js';

interface ProvisionOptions {
  job: string;
  ports: string[];
  driver?: string;
  once?: boolean;
  reprovision?: boolean;
  log?: boolean;
}

/** `station provision`: runs the bench for an open job, one pipeline per port, with a live line per port. */
export const provisionCommands: CommandModule = {
  register(program, context) {
    program
      .command('provision')
      .description('provision the devices on the bench ports for an open job')
      .requiredOption('--job <id>', 'the work order')
      .requiredOption(
        '--ports <paths...>',
        '"auto" (every USB serial port, as devices are plugged) or port paths',
      )
      .option('--driver <name>', "device family for ports given by path (default: the job's)")
      .option('--once', 'with auto: provision the devices plugged in now, then stop')
      .option('--reprovision', 'replace a provisioned device identity (the old certificate is revoked)')
      .option('--log', "also print each device's log lines: identified, issued, written, verified")
      .action(async (options: ProvisionOptions) => {
        const cli = context();
        // --ports takes every word after it, an option's name too: `--ports --driver nrf91` gave no ports.
        const option = options.ports.find((entry) => entry.startsWith('-'));
        if (option !== undefined) {
          throw invalidInput(
            'ports',
            `"${option}" is not a port: give the ports right after --ports (paths, or auto), and other options before it.`,
          );
        }
        const tally = new BatchTally();
        const display = cli.json ? undefined : new LiveDisplay(process.stdout, { log: options.log === true });
        const batcher = new EventBatcher((batch) => display?.update(batch));
        // During the run a message goes through the display, so that its redraws keep it on a terminal.
        const notify = (text: string) => (display ? display.notice(text) : process.stderr.write(`${text}\n`));
        // For a job with --scan: the technician answers on this terminal, one port at a time.
        const prompt = new OperatorPrompt(process.stdin, process.stderr, {
          asking: () => {
            batcher.flush();
            display?.pause();
          },
          answered: () => display?.resume(),
        });
        const result = await withStation(cli, async (station) => {
          const lock = await BenchLock.acquire(cli.dataDir);
          try {
            const interrupted = await recoverInterruptedAttempts(station, cliActor());
            for (const attempt of interrupted) {
              process.stderr.write(
                `interrupted earlier: record ${attempt.recordId} on ${attempt.port} (${attempt.deviceId ?? 'unidentified'}) stopped after ${attempt.stepReached ?? 'start'}: ${attempt.resolution === 'abandoned' ? 'nothing was issued' : 'identity issued, plug the device in again to finish'}\n`,
              );
            }
            const runtime = await openJobRuntime(station, jobId(options.job), {
              actor: cliActor(),
              reprovision: options.reprovision === true,
              emit: (event) => {
                tally.add(event);
                batcher.push(event);
              },
              operatorInput: prompt.ask,
            });
            const { job } = runtime;
            if (job.status !== 'active') {
              process.stderr.write(
                `Job ${job.id} is ${job.status}: this bench only finishes the identities it issued before it closed (plug those devices in); it issues nothing new. Open a new job (station job create) for other devices.\n`,
              );
            } else if ((job.keyMode === 'csr' || job.keyMode === 'inject') && quotaSpent(job)) {
              process.stderr.write(
                `Job ${job.id} has issued all ${job.quota} certificates of its quota: the devices it provisioned are re-verified, new ones are refused; open a new job (station job create) for more.\n`,
              );
            }
            const bench = new Bench(runtime);
            const { result: outcomes } = await untilStopped(notify, (signal) =>
              options.ports.length === 1 && options.ports[0] === 'auto'
                ? watchPorts(bench, runtime.job.driver, options, notify, signal)
                : bench.runAll(
                    options.ports.map((entry) =>
                      portByPath(entry, options.driver ?? runtime.job.driver, runtime.job.driver),
                    ),
                    signal,
                  ),
            );
            return { interrupted, outcomes };
          } finally {
            prompt.close();
            await lock.release();
          }
        });
        batcher.flush();
        const summary = tally.summary();
        cli.print(
          { ...summary, interrupted: result.interrupted, outcomes: result.outcomes.map(outcomeView) },
          () => `\n${formatSummary(summary)}`,
        );
        if (summary.failed > 0) process.exitCode = 1;
      });
  },
};

/**
 * `PATH` (with --driver or the job's driver) or `DRIVER=PATH` (mixed families on one bench). A job made for
 * one family takes no other: its identity fields and key mode were checked for that family.
 */
function portByPath(entry: string, defaultDriver: string, jobDriver: string) {
  const split = entry.indexOf('=');
  const [driver, path] = split > 0 ? [entry.slice(0, split), entry.slice(split + 1)] : [defaultDriver, entry];
  if (jobDriver !== 'auto' && driver !== jobDriver) {
    throw invalidInput(
      'driver',
      `the job is for ${jobDriver} devices, not ${driver}: leave --driver out, or open a job for ${driver} devices.`,
    );
  }
  return serialDevicePort(path, portDriver(driver));
}

function portDriver(name: string): DeviceDriver {
  if (name === 'auto') {
    throw invalidInput(
      'driver',
      'ports given by path need a device family: pass --driver (nrf91, esp-at, quectel, jsonl).',
    );
  }
  return driverByName(name);
}

/** Runs until `signal` aborts (or, with --once, until the devices present at start are done). */
async function watchPorts(
  bench: Bench,
  jobDriver: string,
  options: ProvisionOptions,
  notify: (text: string) => void,
  signal: AbortSignal,
): Promise<DeviceOutcome[]> {
  // With --once a failed scan ends the run with its error; a watching bench says it and keeps trying.
  const watcher = new PortWatcher(options.once ? {} : { onError: (error) => notify(error.message) });
  const fixed = options.driver ?? (jobDriver === 'auto' ? undefined : jobDriver);
  const toDevicePort = (port: BenchPort) => {
    const driver = benchPortDriver(port, fixed);
    if (!driver) notify(unservedReason(port));
    return driver && serialDevicePort(port.path, driver, port.location ?? port.path);
  };
  if (options.once) return bench.runAll(await devicesPluggedNow(watcher, toDevicePort), signal);
  process.stderr.write('Waiting for devices; Ctrl+C to stop.\n');
  return bench.watch(watcher, toDevicePort, signal);
}

/**
 * The devices plugged in now (--once). Where a watching bench waits for the first plug, a single scan
 * that finds none ends the run with the reason, not with an empty summary that reads as success.
 */
export async function devicesPluggedNow(
  watcher: PortWatcher,
  toDevicePort: (port: BenchPort) => DevicePort | undefined,
): Promise<DevicePort[]> {
  await watcher.poll();
  // Nothing found because nothing could be listed is not "no devices": the scan's error says why.
  if (watcher.scanError) throw watcher.scanError;
  const ports = watcher
    .ports()
    .map(toDevicePort)
    .filter((port) => port !== undefined);
  if (ports.length === 0) {
    throw new StationError(
      'provisioning.no-device',
      'No USB serial device this job can serve is plugged in: plug the devices in and run again, or leave out --once to wait for them.',
    );
  }
  return ports;
}

/**
 * The family that serves a port the watcher found, or undefined: only USB serial devices are bench ports
 * (a built-in UART such as ttyS0 is never provisioned unasked); `fixed` is --driver's or the job's family.
 */
export function benchPortDriver(port: BenchPort, fixed: string | undefined): DeviceDriver | undefined {
  if (port.vendorId === undefined) return undefined;
  return fixed === undefined ? driverForUsb(port.vendorId, port.productId) : driverByName(fixed);
}

function unservedReason(port: BenchPort): string {
  return port.vendorId === undefined
    ? `${port.path}: not a USB serial device, left alone (to use it: --ports ${port.path} --driver NAME)`
    : `${port.path}: no driver knows USB ${port.vendorId}:${port.productId ?? '?'}; pass --driver NAME`;
}

export function outcomeView(outcome: DeviceOutcome) {
  return {
    port: outcome.port,
    state: outcome.state,
    ...(outcome.mode && { mode: outcome.mode }),
    recordId: outcome.recordId,
    deviceId: outcome.deviceId,
    thingName: outcome.thingName,
    certificateId: outcome.certificateId,
    ...(outcome.error && { error: outcome.error.toBody() }),
  };
}
