// Helpers for the existing and claim key-mode tests: in-memory simulated devices, direct driver sessions
// to pre-load a device as its maker would, and a separate "maker" station whose CA the factory does not hold.
import { cpSync, mkdtempSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DeviceSession, DeviceSimulator } from '../../../hardware/drivers/device-driver.js';
import { driverByName } from '../../../hardware/drivers/index.js';
import { createMemoryPair } from '../../../hardware/sim/memory-pair.js';
import { linkFromDuplex } from '../../../hardware/transport/duplex-link.js';
import { writeSettings } from '../../../src/config/settings.js';
import { openLinkDevicePort } from '../../../src/provisioning/bench.js';
import type { DevicePort } from '../../../src/provisioning/device-pipeline.js';
import { Station } from '../../../src/station.js';

let plugs = 0;

/** A port on which the simulator answers, as if plugged into the bench. */
export function plug(simulator: DeviceSimulator, name = `mem-${simulator.driver}-${++plugs}`): DevicePort {
  const pair = createMemoryPair();
  simulator.attach(pair.device);
  return openLinkDevicePort(linkFromDuplex(name, pair.host), driverByName(simulator.driver));
}

/** Runs `work` in a driver session with the device, as a maker's own line would. */
export async function withSession<T>(
  simulator: DeviceSimulator,
  work: (session: DeviceSession) => Promise<T>,
): Promise<T> {
  const port = plug(simulator);
  const link = await port.open(new AbortController().signal);
  const session = await port.driver.open(link);
  try {
    return await work(session);
  } finally {
    await session.close();
    await link.close();
  }
}

/** A data folder with the soft key store; the caller adds CAs, templates, jobs. */
export async function createStationFolder(
  prefix: string,
): Promise<{ dataDir: string; open(): Promise<Station>; cleanup(): Promise<void> }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await writeSettings(dataDir, { version: 1, keyStore: { kind: 'soft' } });
  return {
    dataDir,
    open: () => Station.open({ dataDir, keyStore: { passphrase: softPassphrase } }),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}

export const softPassphrase = 'key-mode-tests';

/**
 * The data folder as a station killed at this moment would leave it: a copy of every file (SQLite's WAL
 * included, its shared-memory index left out: SQLite rebuilds it from the WAL). Taken synchronously, from
 * inside a pipeline event, while no transaction is open.
 */
export function snapshotDataFolder(dataDir: string): string {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'station-crashed-'));
  cpSync(dataDir, copy, { recursive: true, filter: (source) => !source.endsWith('-shm') });
  return copy;
}
