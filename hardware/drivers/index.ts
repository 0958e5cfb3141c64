import { invalidInput } from '../../src/api/errors.js';
import type { DeviceDriver, DeviceSimulator, DriverName, SimulatorOptions } from './device-driver.js';
import { EspAtSimulator, espAtDriver } from './esp-at/index.js';
import { JsonlSimulator, jsonlDriver } from './jsonl/index.js';
import { nrf91Driver } from './nrf91/nrf91-driver.js';
import { Nrf91Simulator } from './nrf91/nrf91-simulator.js';
import { QuectelSimulator, quectelDriver } from './quectel/index.js';

/**
 * The driver catalogue: every device family the station speaks, how to recognise it on USB, and how to
 * make a simulated device of it (for `station sim`, tests, the demo and the serial bench).
 */
export interface CatalogueEntry {
  readonly driver: DeviceDriver;
  createSimulator(options?: SimulatorOptions): DeviceSimulator;
}

const entries: CatalogueEntry[] = [
  { driver: nrf91Driver, createSimulator: (options) => new Nrf91Simulator(options) },
  { driver: jsonlDriver, createSimulator: (options) => new JsonlSimulator(options) },
  { driver: espAtDriver, createSimulator: (options) => new EspAtSimulator(options) },
  { driver: quectelDriver, createSimulator: (options) => new QuectelSimulator(options) },
];

export const driverCatalogue: ReadonlyMap<DriverName, CatalogueEntry> = new Map(
  entries.map((entry) => [entry.driver.name, entry]),
);

/** The drivers available, in catalogue order. */
export function catalogueDriverNames(): DriverName[] {
  return [...driverCatalogue.keys()];
}

/** The catalogue entry for a driver the user named; input.invalid names the choices otherwise. */
export function catalogueEntry(name: string, field = 'driver'): CatalogueEntry {
  const entry = driverCatalogue.get(name as DriverName);
  if (!entry) {
    throw invalidInput(
      field,
      `no driver named "${name}"; choose one of ${catalogueDriverNames().join(', ')}`,
    );
  }
  return entry;
}

export function driverByName(name: string): DeviceDriver {
  return catalogueEntry(name).driver;
}

/**
 * The driver whose USB match fits a port's ids (as SerialPort.list() reports them: hex, any case). A match
 * without a product id takes every product of that vendor, so exact vendor:product matches win.
 */
export function driverForUsb(
  vendorId: string | undefined,
  productId: string | undefined,
): DeviceDriver | undefined {
  if (vendorId === undefined) return undefined;
  const vendor = vendorId.toLowerCase();
  const product = productId?.toLowerCase();
  let vendorOnly: DeviceDriver | undefined;
  for (const { driver } of driverCatalogue.values()) {
    for (const match of driver.usb) {
      if (match.vendorId.toLowerCase() !== vendor) continue;
      if (match.productId === undefined) vendorOnly ??= driver;
      else if (match.productId.toLowerCase() === product) return driver;
    }
  }
  return vendorOnly;
}

export function createSimulator(name: string, options?: SimulatorOptions): DeviceSimulator {
  return catalogueEntry(name).createSimulator(options);
}
