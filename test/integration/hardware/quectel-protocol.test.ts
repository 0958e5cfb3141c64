import { PassThrough, Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  QuectelSimulator,
  createQuectelDriver,
  quectelDriver,
} from '../../../hardware/drivers/quectel/index.js';
import type { QuectelSimulatorOptions } from '../../../hardware/drivers/quectel/index.js';
import type { DeviceDriver } from '../../../hardware/drivers/device-driver.js';
import { createMemoryPair } from '../../../hardware/sim/memory-pair.js';
import { linkFromDuplex } from '../../../hardware/transport/duplex-link.js';
import { connectSimulatedDevice, type SimulatedDevice } from './simulated-device.js';

// Quectel specifics the shared suite does not know about (protocols.md 3): the +QFUPL checksum check
// against line noise, the SSL context binding, the ICCID padding, and keys never read back.

const devices: SimulatedDevice[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  await Promise.all(devices.splice(0).map((device) => device.dispose()));
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function connect(driver: DeviceDriver = quectelDriver, options: QuectelSimulatorOptions = {}) {
  const device = await connectSimulatedDevice(
    driver,
    new QuectelSimulator({ seed: 5, ...options }),
    'memory',
  );
  devices.push(device);
  return { device, session: await device.open() };
}

const certificate = Buffer.from(
  '-----BEGIN CERTIFICATE-----\r\nMIIBQuectel\r\n-----END CERTIFICATE-----\r\n',
);

describe('Quectel driver', () => {
  it('identifies with the IMEI, the ATI model and revision, and the ICCID without its F padding', async () => {
    const { device, session } = await connect();
    const identity = await session.identify();
    expect(identity).toEqual({
      deviceId: device.simulator.identity.imei,
      imei: device.simulator.identity.imei,
      serialNumber: device.simulator.identity.serialNumber,
      model: 'BG96',
      firmware: 'BG96MAR02A07M1G',
    });
    expect(identity.serialNumber).toMatch(/^\d{19}$/);
  });

  it('binds the uploaded files to the configured SSL context', async () => {
    const bound = await connect(createQuectelDriver({ sslContext: 3 }), { sslContext: 3 });
    await bound.session.writeCredential('certificate', certificate);
    expect(Buffer.from(bound.device.simulator.storedCredentials().get('certificate') ?? [])).toEqual(
      certificate,
    );
    const elsewhere = await connect(createQuectelDriver({ sslContext: 3 }), { sslContext: 1 });
    await elsewhere.session.writeCredential('certificate', certificate);
    expect(elsewhere.device.simulator.storedCredentials().has('certificate')).toBe(false);
  });

  it('reports a stored key as present without reading its bytes back', async () => {
    const { session } = await connect();
    await session.writeCredential(
      'key',
      Buffer.from('-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n'),
    );
    expect(await session.readCredential('key')).toEqual({ slot: 'key', present: true });
  });

  it('refuses an upload whose +QFUPL checksum shows a byte changed on the wire, and removes the file', async () => {
    const simulator = new QuectelSimulator({ seed: 9, echo: false });
    const { host, noisy } = lineWithOneFlippedPayloadByte();
    simulator.attach(noisy);
    cleanups.push(() => simulator.close());
    const link = linkFromDuplex('noisy0', host);
    const session = await quectelDriver.open(link);
    cleanups.push(() => void session.close());
    await expect(session.writeCredential('certificate', certificate)).rejects.toMatchObject({
      code: 'device.write-corrupted',
      port: 'noisy0',
    });
    expect(simulator.storedCredentials().has('certificate')).toBe(false);
    expect((await session.readCredential('certificate')).present).toBe(false);
  });
});

/**
 * A serial line that flips one bit of the first byte the host sends after the module's CONNECT: the
 * upload arrives damaged, as with a noisy cable, and only the module's checksum can tell.
 */
function lineWithOneFlippedPayloadByte(): { host: Duplex; noisy: Duplex } {
  const { host, device } = createMemoryPair();
  const toModule = new PassThrough();
  const fromModule = new PassThrough();
  let armed = false;
  let flipped = false;
  device.on('data', (chunk: Buffer) => {
    const bytes = Buffer.from(chunk);
    if (armed && !flipped) {
      bytes[0] = (bytes[0] ?? 0) ^ 0x01;
      flipped = true;
    }
    toModule.write(bytes);
  });
  fromModule.on('data', (chunk: Buffer) => {
    if (chunk.includes('CONNECT')) armed = true;
    device.write(chunk);
  });
  const noisy = Duplex.from({ readable: toModule, writable: fromModule });
  return { host, noisy };
}
