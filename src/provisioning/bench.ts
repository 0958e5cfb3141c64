import type { DeviceDriver } from '../../hardware/drivers/device-driver.js';
import type { ByteLink } from '../../hardware/transport/byte-link.js';
import type { BenchPort, PortWatcher } from '../../hardware/transport/port-watcher.js';
import { openSerialLink } from '../../hardware/transport/serial-link.js';
import { provisionDevice, type DeviceOutcome, type DevicePort, type JobRuntime } from './device-pipeline.js';

/**
 * The bench: one pipeline per port, all ports at once, each isolated (a port's run never rejects, so a
 * fault on one port never reaches another). A port runs one device at a time.
 */
export class Bench {
  /** The pipeline running on each port, by port name. */
  private readonly running = new Map<string, Promise<DeviceOutcome | undefined>>();

  constructor(private readonly runtime: JobRuntime) {}

  /**
   * Provisions the device on `port`; undefined when that port is already working, or when the registry
   * could not begin the attempt (its `device-unstarted` event says why). Never rejects.
   */
  run(port: DevicePort, signal?: AbortSignal): Promise<DeviceOutcome | undefined> {
    if (this.running.has(port.name)) return Promise.resolve(undefined);
    // What waits on this promise finds the port free again.
    const run = provisionDevice(this.runtime, port, signal)
      .catch(() => undefined)
      .finally(() => this.running.delete(port.name));
    this.running.set(port.name, run);
    return run;
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
    const deferred = new Set<string>();
    const start = (devicePort: DevicePort) =>
      void this.run(devicePort, signal).then((outcome) => outcome && outcomes.push(outcome));
    const stop = watcher.on((event) => {
      if (event.kind !== 'plugged') return;
      const devicePort = toDevicePort(event.port);
      if (!devicePort) return;
      const current = this.running.get(devicePort.name);
      if (!current) return start(devicePort);
      // Plugged again while the port's last device is still being finished (a quick re-plug, a device
      // that re-enumerates after its write): it runs once that ends, if the port is still there.
      if (deferred.has(devicePort.name)) return;
      deferred.add(devicePort.name);
      void current.finally(() => {
        deferred.delete(devicePort.name);
        const present = watcher.ports().some((port) => port.path === event.port.path);
        if (present && !signal.aborted) start(devicePort);
      });
    });
    watcher.start();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    stop();
    watcher.stop();
    await Promise.all(this.running.values());
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
