import { readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { autoDetect } from '@serialport/bindings-cpp';
import type { StationError } from '../../src/api/errors.js';
import { portScanFailed } from './transport-errors.js';

/** What serialport's list() reports for a port (all strings, any may be missing). */
export interface ListedPort {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  locationId?: string;
  vendorId?: string;
  productId?: string;
}

/** A port on the bench. `location` is the physical USB path: it names a bench slot, whatever is plugged. */
export interface BenchPort {
  path: string;
  vendorId?: string;
  productId?: string;
  serialNumber?: string;
  manufacturer?: string;
  location?: string;
  /** Added by hand (a pty or a port list() does not show), not found by polling. */
  manual: boolean;
}

export type PortEvent = { kind: 'plugged'; port: BenchPort } | { kind: 'unplugged'; port: BenchPort };

export interface PortWatcherOptions {
  intervalMs?: number;
  /** serialport's list() by default; tests inject their own. */
  list?: () => Promise<ListedPort[]>;
  /** Finds the physical USB path of a device node; on Linux from /dev/serial/by-path by default. */
  locate?: (devicePath: string) => string | undefined;
  /**
   * A failed scan (udevadm missing, say), as transport.port-scan-failed; the watcher keeps polling. Told
   * once per reason, not at every poll, and again only after a scan succeeded in between.
   */
  onError?: (error: StationError) => void;
}

/**
 * Polls the serial port list and reports ports plugged and unplugged. Linux's list() leaves locationId
 * empty, so the USB path comes from the /dev/serial/by-path links (the EtcherPro way of naming slots).
 */
export class PortWatcher {
  private readonly known = new Map<string, BenchPort>();
  private readonly listeners = new Set<(event: PortEvent) => void>();
  private readonly list: () => Promise<ListedPort[]>;
  private readonly locate: (devicePath: string) => string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private failure: StationError | undefined;

  constructor(private readonly options: PortWatcherOptions = {}) {
    this.list = options.list ?? (() => autoDetect().list());
    this.locate = options.locate ?? locateByPath;
  }

  on(listener: (event: PortEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  ports(): BenchPort[] {
    return [...this.known.values()];
  }

  /** Why the last scan failed; undefined when it succeeded (or none ran yet). */
  get scanError(): StationError | undefined {
    return this.failure;
  }

  start(): void {
    if (this.timer) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.options.intervalMs ?? 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One scan; overlapping calls share it. */
  poll(): Promise<void> {
    this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  addManual(portPath: string, details: Omit<BenchPort, 'path' | 'manual'> = {}): void {
    if (this.known.has(portPath)) return;
    this.plug({ ...details, path: portPath, manual: true });
  }

  removeManual(portPath: string): void {
    const port = this.known.get(portPath);
    if (port?.manual) this.unplug(port);
  }

  private async scan(): Promise<void> {
    let listed: ListedPort[];
    try {
      listed = await this.list();
    } catch (error) {
      const failure = portScanFailed(error);
      if (failure.message !== this.failure?.message) {
        this.failure = failure;
        this.options.onError?.(failure);
      }
      return;
    }
    this.failure = undefined;
    const present = new Set(listed.map((entry) => entry.path));
    for (const port of [...this.known.values()]) {
      if (!port.manual && !present.has(port.path)) this.unplug(port);
    }
    for (const entry of listed) {
      const known = this.known.get(entry.path);
      // A device swapped between two scans keeps the path but not its USB identity: a new plug.
      if (known && !known.manual && !sameDevice(known, entry)) this.unplug(known);
      if (!this.known.has(entry.path)) this.plug(this.describe(entry));
    }
  }

  private describe(entry: ListedPort): BenchPort {
    const port: BenchPort = { path: entry.path, manual: false };
    const location = entry.locationId || this.locate(entry.path);
    if (entry.vendorId) port.vendorId = entry.vendorId.toLowerCase();
    if (entry.productId) port.productId = entry.productId.toLowerCase();
    if (entry.serialNumber) port.serialNumber = entry.serialNumber;
    if (entry.manufacturer) port.manufacturer = entry.manufacturer;
    if (location) port.location = location;
    return port;
  }

  private plug(port: BenchPort): void {
    this.known.set(port.path, port);
    this.emit({ kind: 'plugged', port });
  }

  private unplug(port: BenchPort): void {
    this.known.delete(port.path);
    this.emit({ kind: 'unplugged', port });
  }

  private emit(event: PortEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }
}

function sameDevice(port: BenchPort, entry: ListedPort): boolean {
  return (
    port.vendorId === (entry.vendorId?.toLowerCase() || undefined) &&
    port.productId === (entry.productId?.toLowerCase() || undefined) &&
    port.serialNumber === (entry.serialNumber || undefined)
  );
}

const byPathDir = '/dev/serial/by-path';

/** The by-path link name pointing at this device node, e.g. `pci-0000:00:14.0-usb-0:3:1.0-port0`. */
function locateByPath(devicePath: string): string | undefined {
  try {
    const target = realpathSync(devicePath);
    for (const name of readdirSync(byPathDir)) {
      if (realpathSync(path.join(byPathDir, name)) === target) return name;
    }
  } catch {
    // No udev links (containers, macOS): the port simply has no known location.
  }
  return undefined;
}
