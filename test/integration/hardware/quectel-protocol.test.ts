import { PassThrough, Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  QuectelSimulator,
  createQuectelDriver,
  quectelChecksum,
  quectelDriver,
} from '../../../hardware/drivers/quectel/index.js';
import type { QuectelSimulatorOptions } from '../../../hardware/drivers/quectel/index.js';
import type { DeviceDriver, DeviceSession } from '../../../hardware/drivers/device-driver.js';
import { createMemoryPair } from '../../../hardware/sim/memory-pair.js';
import type { ByteLink } from '../../../hardware/transport/byte-link.js';
import { linkFromDuplex } from '../../../hardware/transport/duplex-link.js';
import { expectCutOffReadBack, expectRewriteAndReadBack, moduleOnPty } from './module-on-pty.js';
import { connectSimulatedDevice, type SimulatedDevice } from './simulated-device.js';
import { placeholderKeyPem } from '../../fixtures/placeholder-key.js';

// Quectel specifics the shared suite does not know about (protocols.md 3): the +QFUPL and +QFDWL checksum
// checks against line noise, the SSL context binding, the ICCID padding, keys never read back, and what a
// station killed half-way through a read-back leaves for the next one.

const devices: SimulatedDevice[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(devices.splice(0).map((device) => device.dispose()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
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

  it('opens in one probe when the start-up URCs come ahead of the ATI answer', async () => {
    const { device, session } = await connect(quectelDriver, { startupUrcsDuring: 'ATI' });
    expect(await session.identify()).toMatchObject({ model: 'BG96', firmware: 'BG96MAR02A07M1G' });
    const transcript = session.transcript?.() ?? [];
    const received = transcript.filter((entry) => entry.direction === 'rx').map((entry) => entry.text);
    expect(received).toEqual(expect.arrayContaining(['RDY', '+CPIN: READY']));
    const sent = transcript.filter((entry) => entry.direction === 'tx').map((entry) => entry.text);
    expect(sent.filter((text) => text === 'ATI')).toHaveLength(1);
    expect(device.simulator.identity.imei).toMatch(/^\d{15}$/);
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
    await session.writeCredential('key', Buffer.from(placeholderKeyPem));
    expect(await session.readCredential('key')).toEqual({ slot: 'key', present: true });
  });

  it('refuses an upload whose +QFUPL checksum shows a byte changed on the wire, and removes the file', async () => {
    const simulator = new QuectelSimulator({ seed: 9, echo: false });
    const { host, noisy } = lineFlippingOneBit('upload');
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

  it('reads back with AT+QFDWL alone and refuses bytes whose +QFDWL checksum shows one changed on the wire', async () => {
    const simulator = new QuectelSimulator({ seed: 10, echo: false });
    const { host, noisy, commands } = lineFlippingOneBit('download');
    simulator.attach(noisy);
    cleanups.push(() => simulator.close());
    const link = linkFromDuplex('noisy1', host);
    const session = await quectelDriver.open(link);
    cleanups.push(() => session.close());
    await session.writeCredential('certificate', certificate);
    await expect(session.readCredential('certificate')).rejects.toMatchObject({
      code: 'device.read-corrupted',
      port: 'noisy1',
      message: expect.stringContaining('read the certificate again') as unknown,
    });
    expect(commands()).toContain('AT+QFDWL="UFS:clicert.pem"');
    expect(commands().filter((command) => /^AT\+QF(OPEN|READ|CLOSE)/.test(command))).toEqual([]);
  });

  it('opens a module in command mode with one ATI probe and no filler', async () => {
    const { session } = await connect();
    expect(sentTexts(session)).toEqual(['ATI', 'ATE0', 'AT+CMEE=1']);
  });

  it('gives an upload another program left open with a long idle timeout the bytes it waits for, then works', async () => {
    const simulator = new QuectelSimulator({ seed: 12 });
    const { host, device } = createMemoryPair();
    simulator.attach(device);
    cleanups.push(() => simulator.close());
    const link = linkFromDuplex('stuck0', host);
    // As the rak8212 uploader does (protocols.md 3), with a 60 s idle timeout, then gone after 10 bytes.
    await untilConnect(link, 'AT+QFUPL="UFS:other.pem",100,60');
    await link.write(Buffer.from('0123456789'));

    const session = await quectelDriver.open(link, { timeoutMs: 1_000 });
    cleanups.push(() => session.close());
    const sent = sentTexts(session);
    expect(sent.filter((text) => text.includes('filler'))).toEqual([
      '<16386 filler bytes ending an unfinished upload>',
    ]);
    expect(sent.slice(-3)).toEqual(['ATI', 'ATE0', 'AT+CMEE=1']);
    // The module kept what arrived and the filler up to the announced size, as its idle timeout would.
    expect(session.transcript?.().map((entry) => entry.text)).toContain(
      `+QFUPL: 100,${quectelChecksum(Buffer.concat([Buffer.from('0123456789ATI\r\nATI\r\n'), Buffer.alloc(80, 0x20)])).toString(16)}`,
    );
    expect((await session.identify()).imei).toBe(simulator.identity.imei);
    await session.writeCredential('certificate', certificate);
    expect(Buffer.from((await session.readCredential('certificate')).bytes ?? [])).toEqual(certificate);
  });
});

describe('Quectel driver across station restarts (pty)', () => {
  /** A module on a pty that outlives the station processes using it, as a powered module on USB does. */
  async function quectelOnPty(options: QuectelSimulatorOptions = {}) {
    const simulator = new QuectelSimulator({ seed: 11, baudRate: 115_200, ...options });
    const { station } = await moduleOnPty(quectelDriver, simulator, cleanups);
    return { simulator, station };
  }

  // A PEM-like certificate long enough that its download takes a while at 115,200 baud.
  const longCertificate = Buffer.from(
    `-----BEGIN CERTIFICATE-----\n${'MIIQuectelLongCertificateBody0123456789abcdefghijklmnopqrstuv\n'.repeat(48)}-----END CERTIFICATE-----\n`,
  );
  const nextCertificate = Buffer.from('-----BEGIN CERTIFICATE-----\nMIINextRun\n-----END CERTIFICATE-----\n');

  it('lets the next station run delete and re-upload a file whose read-back was cut off half-way', async () => {
    const { simulator, station } = await quectelOnPty();
    const first = await station();
    await first.session.writeCredential('certificate', longCertificate);

    // The first run goes away (its port closes) once half the file's bytes have arrived (whatever the read
    // command, its data starts after the line that begins with CONNECT).
    await expectCutOffReadBack(first, longCertificate.length / 2, 'CONNECT');

    // The module may still be sending the rest of that download when the next run probes it. None of it
    // may be taken for an answer (its OK would put every later answer one command behind): the probe's
    // answer is the module's own ATI (identify reports it), and every later command gets its own answer.
    const second = await station();
    expect(await second.session.identify()).toMatchObject({
      deviceId: simulator.identity.imei,
      model: 'BG96',
      firmware: simulator.identity.firmware,
    });
    await expectRewriteAndReadBack(second, simulator, nextCertificate);
  });

  it('lets the next station run identify, rewrite and read back after an upload was cut off half-way', async () => {
    const { simulator, station } = await quectelOnPty();
    const first = await station();
    await first.session.identify();
    const killed = first.dieMidPayload('CONNECT', longCertificate.length / 2);
    await expect(first.session.writeCredential('certificate', longCertificate)).rejects.toMatchObject({
      code: 'transport.disconnected',
    });
    await killed;

    // The module is still in data mode: the next run's first probe goes into the file. Its idle timeout
    // ends the upload with what arrived, which the run then replaces.
    const second = await station();
    const sent = sentTexts(second.session);
    expect(sent.slice(0, 4)).toEqual(['ATI', 'ATI', 'ATE0', 'AT+CMEE=1']);
    const uploaded = /^\+QFUPL: (\d+),/.exec(
      second.session.transcript?.().find((entry) => entry.text.startsWith('+QFUPL:'))?.text ?? '',
    );
    expect(Number(uploaded?.[1])).toBeGreaterThan(0);
    expect(Number(uploaded?.[1])).toBeLessThan(longCertificate.length);
    expect(await second.session.identify()).toMatchObject({ deviceId: simulator.identity.imei });
    await expectRewriteAndReadBack(second, simulator, nextCertificate);
  });

  it('tells the technician to power-cycle the module when a file is still held open from an earlier run', async () => {
    const { station } = await quectelOnPty();
    const first = await station();
    await first.session.writeCredential('certificate', nextCertificate);
    // An earlier program (such as a station before AT+QFDWL) opened the file and was killed.
    await sendRaw(first.link, 'AT+QFOPEN="UFS:clicert.pem",2');
    await first.link.close();

    const second = await station();
    const error = await second.session.writeCredential('certificate', certificate).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({
      code: 'device.file-held-open',
      port: second.link.port,
      details: { path: 'UFS:clicert.pem', cme: 418 },
    });
    expect((error as Error).message).toMatch(/power-cycle the module \(unplug it and plug it in again\)/);
  });
});

/** What a session sent, as its transcript shows it. */
function sentTexts(session: DeviceSession): string[] {
  return (session.transcript?.() ?? [])
    .filter((entry) => entry.direction === 'tx')
    .map((entry) => entry.text);
}

/** Sends AT+QFUPL on a raw link and resolves once the module answers CONNECT. */
function untilConnect(link: ByteLink, command: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no CONNECT in ${JSON.stringify(text)}`)), 2_000);
    const stop = link.onData((chunk) => {
      text += chunk.toString('latin1');
      if (!text.includes('CONNECT\r\n')) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
    link.write(Buffer.from(`${command}\r\n`, 'latin1')).catch(reject);
  });
}

/** Sends one command on a raw link and resolves once its OK arrives (the session's channel ignores it). */
function sendRaw(link: ByteLink, command: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`no OK for ${command} in ${JSON.stringify(text)}`)),
      2_000,
    );
    const stop = link.onData((chunk) => {
      text += chunk.toString('latin1');
      if (!/\r\nOK\r\n/.test(text)) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
    link.write(Buffer.from(`${command}\r\n`, 'latin1')).catch(reject);
  });
}

/**
 * A serial line that flips one bit of the first payload byte after a CONNECT: for 'upload' the first byte
 * the host sends after the module's CONNECT, for 'download' the first byte the module sends after the
 * CONNECT answering AT+QFDWL. The data arrives damaged, as with a noisy cable, and only the module's
 * checksum can tell. `commands()` lists the command lines the host sent.
 */
function lineFlippingOneBit(direction: 'upload' | 'download'): {
  host: Duplex;
  noisy: Duplex;
  commands: () => string[];
} {
  const { host, device } = createMemoryPair();
  const toModule = new PassThrough();
  const fromModule = new PassThrough();
  let sent = '';
  let armed = false;
  let flipped = false;
  device.on('data', (chunk: Buffer) => {
    const bytes = Buffer.from(chunk);
    sent += bytes.toString('latin1');
    if (direction === 'upload' && armed && !flipped) {
      bytes[0] = (bytes[0] ?? 0) ^ 0x01;
      flipped = true;
    }
    if (direction === 'download' && sent.includes('AT+QFDWL')) armed = true;
    toModule.write(bytes);
  });
  let afterConnect = false;
  fromModule.on('data', (chunk: Buffer) => {
    const bytes = Buffer.from(chunk);
    if (direction === 'upload') {
      if (bytes.includes('CONNECT')) armed = true;
    } else if (armed && !flipped) {
      let index = 0;
      if (!afterConnect) {
        const connect = bytes.indexOf('CONNECT\r\n');
        afterConnect = connect !== -1;
        index = connect + 'CONNECT\r\n'.length;
      }
      if (afterConnect && index < bytes.length) {
        bytes[index] = (bytes[index] ?? 0) ^ 0x01;
        flipped = true;
      }
    }
    device.write(bytes);
  });
  const noisy = Duplex.from({ readable: toModule, writable: fromModule });
  const commands = (): string[] =>
    sent
      .split(/\r\n?|\n/)
      .map((line) => line.trim())
      .filter((line) => line.startsWith('AT'));
  return { host, noisy, commands };
}
