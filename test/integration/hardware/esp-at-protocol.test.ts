import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EspAtSimulator,
  checkCommandLength,
  createEspAtDriver,
  espAtDriver,
} from '../../../hardware/drivers/esp-at/index.js';
import type { DeviceDriver } from '../../../hardware/drivers/device-driver.js';
import type { EspAtSimulatorOptions } from '../../../hardware/drivers/esp-at/index.js';
import { connectSimulatedDevice, type SimulatedDevice } from './simulated-device.js';

// ESP-AT specifics the shared suite does not know about: binary values read back by length, keys read
// back as a digest only, the configurable key index, and the 256-byte command cap (protocols.md 2).

const devices: SimulatedDevice[] = [];

afterEach(async () => {
  await Promise.all(devices.splice(0).map((device) => device.dispose()));
});

async function connect(driver: DeviceDriver = espAtDriver, options: EspAtSimulatorOptions = {}) {
  const device = await connectSimulatedDevice(driver, new EspAtSimulator({ seed: 11, ...options }), 'memory');
  devices.push(device);
  return { device, session: await device.open() };
}

describe('ESP-AT driver', () => {
  it('reads back a binary value holding line ends, OK lines and noise bytes byte-exact', async () => {
    const { device, session } = await connect();
    const der = Buffer.concat([
      Buffer.from([0x30, 0x82, 0x00, 0xff]),
      Buffer.from('\r\nOK\r\nERROR\n>'),
      Buffer.alloc(300, 0x0d),
    ]);
    await session.writeCredential('ca', der);
    expect(Buffer.from(device.simulator.storedCredentials().get('ca') ?? [])).toEqual(der);
    const readBack = await session.readCredential('ca');
    expect(Buffer.from(readBack.bytes ?? [])).toEqual(der);
    expect(readBack.sha256).toBe(createHash('sha256').update(der).digest('hex'));
  });

  it('reads an injected key back as its digest, never as bytes', async () => {
    const { session } = await connect();
    const key = Buffer.from('-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n');
    await session.writeCredential('key', key);
    const readBack = await session.readCredential('key');
    expect(readBack).toEqual({
      slot: 'key',
      present: true,
      sha256: createHash('sha256').update(key).digest('hex'),
    });
  });

  it('writes to the configured client_*.<index> keys', async () => {
    const { device, session } = await connect(createEspAtDriver({ slotIndex: 2 }), { slotIndex: 2 });
    await session.writeCredential('certificate', Buffer.from('CERT'));
    expect(Buffer.from(device.simulator.storedCredentials().get('certificate') ?? []).toString()).toBe(
      'CERT',
    );
    const other = await connect(createEspAtDriver({ slotIndex: 2 }), { slotIndex: 0 });
    await other.session.writeCredential('certificate', Buffer.from('CERT'));
    expect(other.device.simulator.storedCredentials().has('certificate')).toBe(false);
  });

  it('reads the identity from AT+CIPSTAMAC? and AT+GMR', async () => {
    const { device, session } = await connect();
    expect(await session.identify()).toEqual({
      deviceId: device.simulator.identity.mac,
      mac: device.simulator.identity.mac,
      model: 'WROOM-32',
      firmware: '2.4.0.0',
    });
  });

  it('says it cannot generate keys and refuses to', async () => {
    const { session } = await connect();
    expect(session.capabilities()).toMatchObject({
      keyGeneration: false,
      keyInjection: true,
      readBack: 'full',
    });
    await expect(session.generateCsr({})).rejects.toMatchObject({
      code: 'device.unsupported',
      port: session.port,
    });
  });

  it('refuses a command over 256 bytes, CR-LF included, before sending it', () => {
    expect(() => checkCommandLength(`AT+${'X'.repeat(251)}`, 'ttyX')).not.toThrow();
    expect(() => checkCommandLength(`AT+${'X'.repeat(252)}`, 'ttyX')).toThrow(
      expect.objectContaining({ code: 'device.command-too-long', port: 'ttyX' }),
    );
  });
});
