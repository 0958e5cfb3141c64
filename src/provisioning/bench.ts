import type { DeviceDriver } from '../../hardware/drivers/device-driver.js';
import type { ByteLink } from '../../hardware/transport/byte-link.js';
import type { BenchPort, PortWatcher } from '../../hardware/transport/port-watcher.js';
import { openSerialLink } from '../../hardware/transport/serial-link.js';
import { provisionDevice, type DeviceOutcome, type DevicePort, type JobRuntime } from './device-pipeline.js';

/**
 * The bench: one pipeline per port, all ports at once, each isolated (provisionDevice never throws, so a
 * fault on one port never reaches another). A port runs one device at a time.
 */
export class Bench {
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<DeviceOutcome>>();

  constructor(private readonly runtime: JobRuntime) {}

  /** Provisions the device on `port`; undefined when that port is already working. */
  async run(port: DevicePort, signal?: AbortSignal): Promise<DeviceOutcome | undefined> {
    if (this.busy.has(port.name)) return undefined;
    this.busy.add(port.name);
    const run = provisionDevice(this.runtime, port, signal);
    this.running.add(run);
    try {
      return await run;
    } finally {
      this.running.delete(run);
      this.busy.delete(port.name);
    }
  }

  /** Every port once, concurrently (`station provision --ports A B ...`, the demo). */
  async runAll(ports: readonly DevicePort[], signal?: AbortSignal): Promise<DeviceOutcome[]> {
    const outcomes = await Promise.all(ports.map((port) => this.run(port, signal)));
    return outcomes.filter((outcome) => outcome !== undefined);
  }

  /**
   * Starts a pipeline whenever a device is plugged into a port the job can serve, until `signal` aborts;
   * then waits for the devices in progress and returns every outcome.
   */
  async watch(
    watcher: PortWatcher,
    toDevicePort: (port: BenchPort) => DevicePort | undefined,
    signal: AbortSignal,
  ): Promise<DeviceOutcome[]> {
    const outcomes: DeviceOutcome[] = [];
    const stop = watcher.on((event) => {
      if (event.kind !== 'plugged') return;
      const devicePort = toDevicePort(event.port);
      if (!devicePort) return;
      void this.run(devicePort, signal).then((outcome) => outcome && outcomes.push(outcome));
    });
    watcher.start();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    stop();
    watcher.stop();
    await Promise.all(this.running);
    return outcomes;
  }
}

/** A serial port (or pty) by path, opened with the driver's settings (baud, RTS/CTS). */
export function serialDevicePort(path: string, driver: DeviceDriver, name = path): DevicePort {
  return { name, driver, open: () => openSerialLink(path, driver.serial) };
}

/** A link that is already open (an in-memory simulated device): handed out once. */
export function openLinkDevicePort(link: ByteLink, driver: DeviceDriver): DevicePort {
  return { name: link.port, driver, open: () => Promise.resolve(link) };
}
