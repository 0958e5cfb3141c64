import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EspAtSimulator,
  checkCommandLength,
  createEspAtDriver,
  espAtDriver,
} from '../../../hardware/drivers/esp-at/index.js';
import type { DeviceDriver, DeviceSession } from '../../../hardware/drivers/device-driver.js';
import type { EspAtSimulatorOptions } from '../../../hardware/drivers/esp-at/index.js';
import { expectCutOffReadBack, expectRewriteAndReadBack, moduleOnPty } from './module-on-pty.js';
import { connectSimulatedDevice, type SimulatedDevice } from './simulated-device.js';
import { placeholderKeyPem } from '../../fixtures/placeholder-key.js';

// ESP-AT specifics the shared suite does not know about: binary values read back by length, keys read
// back as a digest only, the configurable key index, and the 256-byte command cap (protocols.md 2).

const devices: SimulatedDevice[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(devices.splice(0).map((device) => device.dispose()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
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
    const key = Buffer.from(placeholderKeyPem);
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

  it.each(['AT+GMR', 'AT+CIPSTAMAC?'])(
    'opens and identifies a module whose Wi-Fi URCs come ahead of the answer to %s',
    async (command) => {
      const { device, session } = await connect(espAtDriver, { wifiJoinsDuring: command });
      expect(await session.identify()).toEqual({
        deviceId: device.simulator.identity.mac,
        mac: device.simulator.identity.mac,
        model: 'WROOM-32',
        firmware: '2.4.0.0',
      });
      const transcript = session.transcript?.() ?? [];
      const received = transcript.filter((entry) => entry.direction === 'rx').map((entry) => entry.text);
      expect(received).toEqual(expect.arrayContaining(['WIFI CONNECTED', 'WIFI GOT IP']));
      // The probe at open took its first answer, URCs and all: no second probe.
      const sent = transcript.filter((entry) => entry.direction === 'tx').map((entry) => entry.text);
      expect(sent.filter((text) => text === 'AT+GMR')).toHaveLength(1);
    },
  );

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

  it('opens a module in command mode with one AT+GMR probe and no filler', async () => {
    const { session } = await connect();
    expect(sentTexts(session)).toEqual(['AT+GMR', 'ATE0']);
  });

  it('tells the technician to power-cycle a module that never answers, after a bounded number of tries', async () => {
    const device = await connectSimulatedDevice(
      espAtDriver,
      new EspAtSimulator({ seed: 12, faults: [{ kind: 'drop-response' }] }),
      'memory',
    );
    devices.push(device);
    const error = await device.open({ timeoutMs: 300 }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({
      code: 'device.out-of-step',
      port: device.port,
      details: { probes: 3, recoveries: 2 },
    });
    expect((error as Error).message).toMatch(/power-cycle the module \(unplug it and plug it in again\)/);
  });

  it('refuses a command over 256 bytes, CR-LF included, before sending it', () => {
    expect(() => checkCommandLength(`AT+${'X'.repeat(251)}`, 'ttyX')).not.toThrow();
    expect(() => checkCommandLength(`AT+${'X'.repeat(252)}`, 'ttyX')).toThrow(
      expect.objectContaining({ code: 'device.command-too-long', port: 'ttyX' }),
    );
  });
});

describe('ESP-AT driver across station restarts (pty)', () => {
  // A PEM-like certificate long enough that its raw bytes take a while at 115,200 baud.
  const longCertificate = Buffer.from(
    `-----BEGIN CERTIFICATE-----\n${'MIIEspAtLongCertificateBody0123456789abcdefghijklmnopqrstuvwx\n'.repeat(48)}-----END CERTIFICATE-----\n`,
  );
  const nextCertificate = Buffer.from('-----BEGIN CERTIFICATE-----\nMIINextRun\n-----END CERTIFICATE-----\n');

  it('lets the next station run identify, rewrite and read back after a read-back was cut off half-way', async () => {
    const simulator = new EspAtSimulator({ seed: 14, baudRate: 115_200 });
    const { station } = await moduleOnPty(espAtDriver, simulator, cleanups);
    const first = await station();
    await first.session.writeCredential('certificate', longCertificate);

    // The first run goes away (its port closes) once half the value has arrived.
    await expectCutOffReadBack(first, longCertificate.length / 2);

    // The module may still be sending the rest of the value and its OK when the next run probes it. None
    // of it may be taken for an answer: the probe's answer is the module's own AT+GMR (identify reports
    // it), and every later command gets its own answer.
    const second = await station();
    expect(await second.session.identify()).toMatchObject({
      deviceId: simulator.identity.mac,
      firmware: simulator.identity.firmware,
    });
    await expectRewriteAndReadBack(second, simulator, nextCertificate);
  });

  it('lets the next station run identify, rewrite and read back after a raw write was cut off half-way', async () => {
    const simulator = new EspAtSimulator({ seed: 13, baudRate: 115_200 });
    const { station } = await moduleOnPty(espAtDriver, simulator, cleanups);
    const first = await station();
    await first.session.identify();
    const killed = first.dieMidPayload('>', longCertificate.length / 2);
    await expect(first.session.writeCredential('certificate', longCertificate)).rejects.toMatchObject({
      code: 'transport.disconnected',
    });
    await killed;
    expect(simulator.storedCredentials().has('certificate')).toBe(false);

    // The module still waits for the rest of the write: the next run's first probe goes into it, unanswered;
    // filler completes it, summarised in the transcript, and a second probe finds the module in step.
    const second = await station();
    expect(sentTexts(second.session).slice(0, 4)).toEqual([
      'AT+GMR',
      '<8194 filler bytes ending an unfinished raw write>',
      'AT+GMR',
      'ATE0',
    ]);
    const wire = second.traffic.filter((entry) => entry.startsWith('tx ')).map((entry) => entry.slice(3));
    expect(wire.join('')).toContain(`AT+GMR\r\n${' '.repeat(8192)}\r\nAT+GMR\r\n`);
    expect(await second.session.identify()).toMatchObject({ deviceId: simulator.identity.mac });
    await expectRewriteAndReadBack(second, simulator, nextCertificate);
  });
});

/** What a session sent, as its transcript shows it. */
function sentTexts(session: DeviceSession): string[] {
  return (session.transcript?.() ?? [])
    .filter((entry) => entry.direction === 'tx')
    .map((entry) => entry.text);
}
