import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryPair } from '../../sim/memory-pair.js';
import { linkFromDuplex } from '../../transport/duplex-link.js';
import type { DeviceSession } from '../device-driver.js';
import { isValidImei } from './modem-identity.js';
import { createNrf91Driver, maxCommandBytes } from './nrf91-driver.js';
import { Nrf91Simulator, type Nrf91SimulatorOptions } from './nrf91-simulator.js';
import { placeholderKeyPem } from '../../../test/fixtures/placeholder-key.js';

const sessions: DeviceSession[] = [];
const simulators: Nrf91Simulator[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((session) => session.close()));
  simulators.splice(0).forEach((simulator) => simulator.close());
});

async function openModem(options: Nrf91SimulatorOptions = {}, secTag?: number) {
  const pair = createMemoryPair();
  const simulator = new Nrf91Simulator({ seed: 3, ...options, ...(secTag !== undefined && { secTag }) });
  simulator.attach(pair.device);
  simulators.push(simulator);
  const driver = createNrf91Driver(secTag === undefined ? {} : { secTag });
  const session = await driver.open(linkFromDuplex('ttyACM9', pair.host));
  sessions.push(session);
  return { session, simulator };
}

/**
 * A modem whose at_host already holds `leftover` when the session opens: what a terminal, another tool or
 * a station killed in the middle of a write sent it. The modem keeps it: nothing tells at_host that the
 * port on the host side was closed and opened again.
 */
async function openModemHolding(leftover: string, options: Nrf91SimulatorOptions = {}) {
  const pair = createMemoryPair();
  const simulator = new Nrf91Simulator({ seed: 3, ...options });
  simulator.attach(pair.device);
  simulators.push(simulator);
  pair.host.write(leftover, 'latin1');
  await new Promise((resolve) => setTimeout(resolve, 20));
  const session = await createNrf91Driver({ commandTimeoutMs: 2_000 }).open(
    linkFromDuplex('ttyACM9', pair.host),
  );
  sessions.push(session);
  return { session, simulator };
}

const sent = (session: DeviceSession) =>
  (session.transcript?.() ?? []).filter((entry) => entry.direction === 'tx').map((entry) => entry.text);

const pem = (body: string) =>
  Buffer.from(`-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`);

describe('nrf91 driver', () => {
  it('matches Nordic USB devices and opens at 115,200 baud with RTS/CTS unless told otherwise', () => {
    expect(createNrf91Driver().usb).toEqual([{ vendorId: '1915' }]);
    expect(createNrf91Driver().serial).toEqual({ baudRate: 115_200, rtscts: true });
    expect(createNrf91Driver({ serial: { rtscts: false } }).serial.rtscts).toBe(false);
  });

  it('identifies by device UUID with a Luhn-valid IMEI, firmware and model', async () => {
    const { session, simulator } = await openModem({ firmware: 'mfw_nrf91x1_2.0.2', model: 'nRF9151-LACA' });
    const identity = await session.identify();
    expect(identity).toEqual({
      deviceId: simulator.identity.uuid,
      uuid: simulator.identity.uuid,
      imei: simulator.identity.imei,
      firmware: 'mfw_nrf91x1_2.0.2',
      model: 'nRF9151-LACA',
    });
    expect(isValidImei(identity.imei!)).toBe(true);
  });

  for (const style of ['colour', 'plain'] as const) {
    it(`works with the application's Zephyr log (${style}) landing in its answers`, async () => {
      const { session, simulator } = await openModem({ logOnAtUart: style });
      expect(await session.identify()).toEqual(simulator.identity);
      await session.writeCredential('certificate', pem('AAAA'));
      expect(simulator.storedCredentials().get('certificate')).toEqual(Uint8Array.from(pem('AAAA')));
      expect((await session.readCredential('certificate')).present).toBe(true);
      expect(session.transcript?.().map((entry) => entry.text)).toContain(
        '[00:00:05.120,000] <wrn> lte_lc: LTE link down',
      );
    });
  }

  it('opens with a bare line ending and one probe when at_host is at an empty line', async () => {
    const { session } = await openModem();
    expect(sent(session)).toEqual(['<bare line ending>', 'AT+CFUN?', 'AT+CMEE=1']);
  });

  it('opens a modem whose at_host holds a partial line, as nrfcredstore does', async () => {
    const { session, simulator } = await openModemHolding('AT+CGM');
    expect(await session.identify()).toEqual(simulator.identity);
    expect(sent(session).slice(0, 3)).toEqual(['<bare line ending>', 'AT+CFUN?', 'AT+CMEE=1']);
  });

  it('ends a %CMNG write a killed station left inside its quote, then writes the slot again', async () => {
    const { session, simulator } = await openModemHolding(
      'AT%CMNG=0,16842753,1,"-----BEGIN CERTIFICATE-----\nMIIB',
      { bootCfun: 4 },
    );
    expect(await session.identify()).toEqual(simulator.identity);
    // The stub went in as junk when its quote was closed; the station writes the slot again.
    await session.writeCredential('certificate', pem('AAAA'));
    expect(simulator.storedCredentials().get('certificate')).toEqual(Uint8Array.from(pem('AAAA')));
  });

  it('ends a write of the longest command cut just before its closing quote, at_host buffer full', async () => {
    const { session: writer } = await openModem();
    const room = writer.capabilities().maxCredentialBytes;
    const command = `AT%CMNG=0,16842753,1,"${'A'.repeat(room)}"`;
    expect(command.length).toBe(maxCommandBytes);
    const { session, simulator } = await openModemHolding(command.slice(0, -1));
    expect(await session.identify()).toEqual(simulator.identity);
  });

  it('takes an online modem offline before writing (the simulator boots in CFUN=1)', async () => {
    const { session, simulator } = await openModem({ bootCfun: 1 });
    await session.writeCredential('certificate', pem('AAAA'));
    expect(simulator.storedCredentials().get('certificate')).toEqual(Uint8Array.from(pem('AAAA')));
  });

  it('writes to the configured sec_tag', async () => {
    const { session, simulator } = await openModem({}, 42);
    await session.writeCredential('ca', pem('BBBB'));
    expect(simulator.storedCredentials().has('ca')).toBe(true);
    expect((await session.readCredential('ca')).present).toBe(true);
  });

  it('refuses a credential that would make the command longer than 4,094 bytes, before sending it', async () => {
    const { session, simulator } = await openModem();
    const room = session.capabilities().maxCredentialBytes;
    // at_host stores 4,095 characters (NUL after them), the CR of the CRLF one of them.
    expect(maxCommandBytes).toBe(4_094);
    expect(room).toBe(4_094 - 'AT%CMNG=0,16842753,0,""'.length);
    expect(room).toBe(4_071);
    await session.writeCredential('ca', Buffer.alloc(room, 0x41));
    await expect(session.writeCredential('certificate', Buffer.alloc(room + 1, 0x41))).rejects.toMatchObject({
      code: 'device.credential-too-large',
      port: 'ttyACM9',
    });
    expect(simulator.storedCredentials().has('certificate')).toBe(false);
  });

  it('refuses content the AT string cannot carry: a double quote, a delete byte, non-ASCII, nothing', async () => {
    const { session } = await openModem();
    for (const content of ['a"b', 'a\x7fb', 'caf\u00e9', '']) {
      await expect(session.writeCredential('ca', Buffer.from(content, 'utf8'))).rejects.toMatchObject({
        code: 'input.invalid',
        field: 'content',
      });
    }
  });

  it('replaces an occupied slot on firmware that answers 519', async () => {
    const { session, simulator } = await openModem({ occupiedSlot: 'already-exists' });
    await session.writeCredential('certificate', pem('ONE'));
    await session.writeCredential('certificate', pem('TWO'));
    expect(Buffer.from(simulator.storedCredentials().get('certificate')!).toString()).toContain('TWO');
    await session.generateCsr({});
    await session.generateCsr({});
  });

  it('turns CME codes into errors a technician can act on', async () => {
    const { session } = await openModem({ capacityBytes: 16 });
    await expect(session.writeCredential('ca', pem('TOO LONG FOR SIXTEEN BYTES'))).rejects.toMatchObject({
      code: 'device.storage-full',
      port: 'ttyACM9',
      details: { cme: 515 },
    });
  });

  it('reads back the digest in lowercase and reports a missing credential as absent', async () => {
    const { session } = await openModem();
    expect(await session.readCredential('ca')).toEqual({ slot: 'ca', present: false });
    await session.writeCredential('ca', Buffer.from('abc'));
    expect(await session.readCredential('ca')).toEqual({
      slot: 'ca',
      present: true,
      sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    });
  });

  for (const nullParameter of [false, true]) {
    it(`returns a canonical CSR that verifies ${nullParameter ? 'from firmware with the NULL-parameter quirk' : 'from current firmware'}`, async () => {
      const { session, simulator } = await openModem({ keygenNullParameter: nullParameter });
      const csr = new x509.Pkcs10CertificateRequest(await session.generateCsr({}));
      expect(await csr.verify()).toBe(true);
      expect(csr.subject).toBe(`CN=${simulator.identity.uuid}`);
      expect(Buffer.from(csr.rawData).includes(Buffer.from('2a8648ce3d0403020500', 'hex'))).toBe(false);
      const named = new x509.Pkcs10CertificateRequest(
        await session.generateCsr({ commonName: 'nrf-352656100367872' }),
      );
      expect(named.subject).toBe('CN=nrf-352656100367872');
    });
  }

  it('refuses a common name the KEYGEN attribute string cannot hold', async () => {
    const { session } = await openModem();
    await expect(session.generateCsr({ commonName: 'a,O=evil' })).rejects.toMatchObject({
      field: 'commonName',
    });
  });

  it('keeps a transcript with the injected key masked', async () => {
    const { session } = await openModem();
    const key = Buffer.from(placeholderKeyPem);
    await session.writeCredential('key', key);
    const transcript = session.transcript?.() ?? [];
    expect(transcript.map((entry) => entry.text)).toContain(
      `AT%CMNG=0,16842753,2,<masked ${key.length + 2} bytes>`,
    );
    expect(JSON.stringify(transcript)).not.toContain('MIGH');
  });

  it('says it cannot sign a challenge', async () => {
    const { session } = await openModem();
    expect(session.capabilities().proofOfPossession).toBe(false);
    await expect(session.signChallenge(Buffer.from('x'))).rejects.toMatchObject({
      code: 'device.unsupported',
    });
  });
});
