import { invalidInput } from '../../src/api/errors.js';
import type {
  DeviceSimulator,
  DriverName,
  SimulatorFault,
  SimulatorOptions,
} from '../drivers/device-driver.js';
import { catalogueEntry } from '../drivers/index.js';
import type { ByteLink } from '../transport/byte-link.js';
import { linkFromDuplex } from '../transport/duplex-link.js';
import { SerialStream } from '../transport/serial-stream.js';
import { openPtyMasters } from './pty-master.js';
import { createMemoryPair } from './memory-pair.js';
import { wireMeter, type WireMeter } from './sim-wire.js';

/**
 * Starts N simulated devices of one driver, in memory (fast tests, the demo, benches) or on
 * pseudo-terminals whose master this process holds (`station sim`, tests of the real serial path), and
 * stops them all.
 */
export interface SimHostOptions extends SimulatorOptions {
  driver: DriverName | string;
  count: number;
}

export interface MemorySimDevice {
  simulator: DeviceSimulator;
  /** What the device has received, sent and spent in answer latency so far. */
  meter: WireMeter;
  /** The host end, as a driver would get a serial port. */
  link: ByteLink;
}

export interface PtySimDevice {
  simulator: DeviceSimulator;
  /** What the device has received, sent and spent in answer latency so far. */
  meter: WireMeter;
  /** The host end: open it as a serial port. */
  path: string;
}

export interface SimHost<Device> {
  readonly driver: DriverName;
  readonly devices: readonly Device[];
  /** Stops every device and releases its pipe or pty; safe to call twice. */
  stop(): Promise<void>;
}

const maxDevices = 64;

export function startMemorySims(options: SimHostOptions): SimHost<MemorySimDevice> {
  const entry = catalogueEntry(options.driver);
  checkCount(options.count);
  const devices = Array.from({ length: options.count }, (_, index) => {
    const pair = createMemoryPair();
    const simulatorOptions = deviceOptions(options, index);
    const simulator = entry.createSimulator(simulatorOptions);
    simulator.attach(pair.device);
    const link = linkFromDuplex(`sim:${entry.driver.name}:${index + 1}`, pair.host);
    return { simulator, link, meter: wireMeter(simulatorOptions) };
  });
  return {
    driver: entry.driver.name,
    devices,
    stop: once(async () => {
      for (const device of devices) {
        await device.link.close();
        device.simulator.close();
      }
    }),
  };
}

export async function startPtySims(options: SimHostOptions): Promise<SimHost<PtySimDevice>> {
  const entry = catalogueEntry(options.driver);
  checkCount(options.count);
  const masters = await openPtyMasters(options.count);
  const devices = masters.map((master, index) => {
    const simulatorOptions = deviceOptions(options, index);
    const simulator = entry.createSimulator(simulatorOptions);
    const deviceEnd = new SerialStream(master.link);
    deviceEnd.on('error', () => undefined); // a hang-up is the host's to report
    simulator.attach(deviceEnd);
    return { simulator, path: master.hostPath, meter: wireMeter(simulatorOptions), deviceEnd };
  });
  return {
    driver: entry.driver.name,
    devices: devices.map(({ simulator, path, meter }) => ({ simulator, path, meter })),
    stop: once(async () => {
      await Promise.all(
        devices.map(async ({ simulator, deviceEnd }) => {
          await deviceEnd.close();
          simulator.close();
        }),
      );
    }),
  };
}

/**
 * Parses `--faults`: comma-separated `KIND[=DELAY_MS][:MATCH][@NTH]`, e.g.
 * `drop-response:AT%CMNG@2,slow=8000:AT+CGSN,garble`. MATCH is a command prefix (for jsonl, the command
 * name such as `write.chunk`) and may not contain a comma; NTH hits only the Nth matching command.
 */
export function parseFaultSpec(spec: string, field = 'faults'): SimulatorFault[] {
  const faults: SimulatorFault[] = [];
  for (const part of spec.split(',').map((text) => text.trim())) {
    if (part === '') continue;
    const parsed = /^([a-z-]+)(?:=(\d+))?(?::(.*?))?(?:@(\d+))?$/.exec(part);
    const kind = parsed?.[1];
    if (!parsed || !isFaultKind(kind)) {
      throw invalidInput(
        field,
        `"${part}" is not KIND[=DELAY_MS][:MATCH][@NTH] with KIND one of ${faultKinds.join(', ')}`,
      );
    }
    const [, , delay, match, nth] = parsed;
    if (delay !== undefined && kind !== 'slow')
      throw invalidInput(field, `only slow takes a delay ("${part}")`);
    if (nth !== undefined && Number(nth) < 1) throw invalidInput(field, `NTH counts from 1 ("${part}")`);
    faults.push({
      kind,
      ...(match !== undefined && match !== '' && { match }),
      ...(nth !== undefined && { nth: Number(nth) }),
      ...(delay !== undefined && { delayMs: Number(delay) }),
    });
  }
  return faults;
}

const faultKinds = ['drop-response', 'garble', 'disconnect', 'storage-full', 'refuse', 'slow'] as const;

function isFaultKind(kind: string | undefined): kind is SimulatorFault['kind'] {
  return (faultKinds as readonly string[]).includes(kind ?? '');
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > maxDevices) {
    throw invalidInput('count', `the number of simulated devices is 1 to ${maxDevices}`);
  }
}

/** Each device gets its own seed, so a seeded bench has distinct but repeatable identities. */
/** A new options object per device: faults and the wire meter are counted per options object. */
function deviceOptions(options: SimHostOptions, index: number): SimulatorOptions {
  const { driver: _driver, count: _count, ...simulatorOptions } = options;
  return options.seed === undefined ? simulatorOptions : { ...simulatorOptions, seed: options.seed + index };
}

function once(action: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= action());
}
