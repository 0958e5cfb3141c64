import { StationError } from '../api/errors.js';
import { isConstraintError, type SqlReader } from './database.js';
import type { Transaction } from './transaction.js';

/**
 * Physical devices (table `devices`): the identity a driver reads (driver + device id, e.g. nrf91 + UUID)
 * is unique and maps to at most one thing, and a thing to at most one device (design.md 4).
 */
export interface Device {
  driver: string;
  deviceId: string;
  thingName: string | null;
  firstSeenAt: string;
  lastSeenAt: string;
}

interface DeviceRow {
  driver: string;
  device_id: string;
  thing_name: string | null;
  first_seen_at: string;
  last_seen_at: string;
}

export class DeviceTable {
  constructor(private readonly reader: SqlReader) {}

  async byIdentity(
    driver: string,
    deviceId: string,
    reader: SqlReader = this.reader,
  ): Promise<Device | undefined> {
    const row = await reader.get<DeviceRow>(
      'SELECT driver, device_id, thing_name, first_seen_at, last_seen_at FROM devices WHERE driver = ? AND device_id = ?',
      [driver, deviceId],
    );
    return row && toDevice(row);
  }

  async byThing(thingName: string, reader: SqlReader = this.reader): Promise<Device | undefined> {
    const row = await reader.get<DeviceRow>(
      'SELECT driver, device_id, thing_name, first_seen_at, last_seen_at FROM devices WHERE thing_name = ?',
      [thingName],
    );
    return row && toDevice(row);
  }

  /** Binds the device to its thing; refuses a thing that already belongs to another device. */
  async bind(tx: Transaction, driver: string, deviceId: string, thingName: string): Promise<void> {
    const now = new Date().toISOString();
    try {
      await tx.run(
        `INSERT INTO devices (driver, device_id, thing_name, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (driver, device_id) DO UPDATE SET thing_name = excluded.thing_name, last_seen_at = excluded.last_seen_at`,
        [driver, deviceId, thingName, now, now],
      );
    } catch (error) {
      if (!isConstraintError(error)) throw error;
      const owner = await this.byThing(thingName, tx);
      throw new StationError(
        'provisioning.thing-taken',
        `Thing ${thingName} already belongs to device ${owner?.driver ?? '?'} ${owner?.deviceId ?? '?'}; check the parameters.`,
        { subject: thingName, cause: error },
      );
    }
    await tx.audit('device.bind', `${driver}:${deviceId}`, { thingName });
  }
}

function toDevice(row: DeviceRow): Device {
  return {
    driver: row.driver,
    deviceId: row.device_id,
    thingName: row.thing_name,
    firstSeenAt: row.first_seen_at,
    lastSeenAt: row.last_seen_at,
  };
}
