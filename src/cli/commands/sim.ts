import type { SimulatorOptions } from '../../../hardware/drivers/device-driver.js';
import { catalogueDriverNames } from '../../../hardware/drivers/index.js';
import { parseFaultSpec, startPtySims } from '../../../hardware/sim/sim-host.js';
import { wholeNumber } from '../option-values.js';
import type { CommandModule } from '../program.js';

interface SimOptions {
  driver: string;
  count: string;
  faults?: string;
  latency?: string;
  baud?: string;
  seed?: string;
}

const faultHelp = `
Faults (--faults): comma-separated KIND[=DELAY_MS][:MATCH][@NTH]
  KIND      drop-response | garble | disconnect | storage-full | refuse | slow
  DELAY_MS  slow only: answer after this many ms (default 60000)
  MATCH     hit only commands starting with this text: an AT command (AT%CMNG, AT+QFUPL)
            or a jsonl command name (write.chunk); no commas
  NTH       hit only the Nth matching command (1-based); every match when absent
  e.g. --faults drop-response:AT%CMNG@2,slow=8000:AT+CGSN,garble:slot.digest

Every device prints one line, "<driver> <path>"; open the path as a serial port.
Runs until SIGINT or SIGTERM, then removes the pseudo-terminals and prints, per device, what crossed its
wire: "<driver> <path> stopped: received R B, sent S B, answered N times after the latency (L ms)".`;

/** `station sim`: simulated devices on pseudo-terminals, for trying the station without hardware. */
export const simCommands: CommandModule = {
  register(program, context) {
    program
      .command('sim')
      .description('start simulated devices on pseudo-terminals until stopped')
      .requiredOption('--driver <name>', `device family: ${catalogueDriverNames().join(', ')}`)
      .option('--count <n>', 'how many devices', '1')
      .option('--faults <spec>', 'faults to inject (syntax below)')
      .option('--latency <ms>', 'extra delay before each answer')
      .option('--baud <rate>', 'pace bytes as a UART at this baud rate would')
      .option('--seed <n>', 'make device identities repeatable')
      .addHelpText('after', faultHelp)
      .action(async (options: SimOptions) => {
        const cli = context();
        const simulatorOptions: SimulatorOptions = {
          faults: options.faults === undefined ? [] : parseFaultSpec(options.faults),
          ...(options.latency !== undefined && { latencyMs: wholeNumber('latency', options.latency, 0) }),
          ...(options.baud !== undefined && { baudRate: wholeNumber('baud', options.baud, 1) }),
          ...(options.seed !== undefined && { seed: wholeNumber('seed', options.seed, 0) }),
        };
        const count = wholeNumber('count', options.count, 1);
        const stopped = untilStopSignal();
        const host = await startPtySims({ driver: options.driver, count, ...simulatorOptions }).catch(
          (error: unknown) => {
            stopped.cancel();
            throw error;
          },
        );
        try {
          const devices = host.devices.map((device) => ({ driver: host.driver, path: device.path }));
          cli.print(devices, (list) => list.map((device) => `${device.driver} ${device.path}`).join('\n'));
          await stopped.signal;
        } finally {
          stopped.cancel();
          await host.stop();
        }
        // What each device spent on its wire: with --baud and --latency, the time its host cannot beat.
        const report = host.devices.map((device) => ({
          driver: host.driver,
          path: device.path,
          ...device.meter,
        }));
        cli.print(report, (list) =>
          list
            .map(
              (device) =>
                `${device.driver} ${device.path} stopped: received ${device.rxBytes} B, sent ${device.txBytes} B, answered ${device.latencyAnswers} times after the latency (${device.latencyMs} ms)`,
            )
            .join('\n'),
        );
      });
  },
};

/** Resolves on the first SIGINT or SIGTERM; the handlers replace the default exit, so cleanup runs. */
function untilStopSignal(): { signal: Promise<void>; cancel(): void } {
  let onSignal = (): void => undefined;
  const signal = new Promise<void>((resolve) => {
    onSignal = () => resolve();
  });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal,
    cancel() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
