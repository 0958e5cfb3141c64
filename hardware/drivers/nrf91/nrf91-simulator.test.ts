import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryPair } from '../../sim/memory-pair.js';
import { AtChannel } from '../../transport/at-channel.js';
import { linkFromDuplex } from '../../transport/duplex-link.js';
import { parseKeygenLine } from './keygen-response.js';
import { Nrf91Simulator, type Nrf91SimulatorOptions } from './nrf91-simulator.js';
import { placeholderKeyHeader } from '../../../test/fixtures/placeholder-key.js';

/**
 * Amazon Root CA 1 (public), LF line ends plus a trailing newline: protocols.md 1.3's verified vector, the
 * SHA-256 a real modem listed for it.
 */
const amazonRootCa1 = [
  '-----BEGIN CERTIFICATE-----',
  'MIIDQTCCAimgAwIBAgITBmyfz5m/jAo54vB4ikPmljZbyjANBgkqhkiG9w0BAQsF',
  'ADA5MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRkwFwYDVQQDExBBbWF6',
  'b24gUm9vdCBDQSAxMB4XDTE1MDUyNjAwMDAwMFoXDTM4MDExNzAwMDAwMFowOTEL',
  'MAkGA1UEBhMCVVMxDzANBgNVBAoTBkFtYXpvbjEZMBcGA1UEAxMQQW1hem9uIFJv',
  'b3QgQ0EgMTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALJ4gHHKeNXj',
  'ca9HgFB0fW7Y14h29Jlo91ghYPl0hAEvrAIthtOgQ3pOsqTQNroBvo3bSMgHFzZM',
  '9O6II8c+6zf1tRn4SWiw3te5djgdYZ6k/oI2peVKVuRF4fn9tBb6dNqcmzU5L/qw',
  'IFAGbHrQgLKm+a/sRxmPUDgH3KKHOVj4utWp+UhnMJbulHheb4mjUcAwhmahRWa6',
  'VOujw5H5SNz/0egwLX0tdHA114gk957EWW67c4cX8jJGKLhD+rcdqsq08p8kDi1L',
  '93FcXmn/6pUCyziKrlA4b9v7LWIbxcceVOF34GfID5yHI9Y/QCB/IIDEgEw+OyQm',
  'jgSubJrIqg0CAwEAAaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMC',
  'AYYwHQYDVR0OBBYEFIQYzIU07LwMlJQuCFmcx7IQTgoIMA0GCSqGSIb3DQEBCwUA',
  'A4IBAQCY8jdaQZChGsV2USggNiMOruYou6r4lK5IpDB/G/wkjUu0yKGX9rbxenDI',
  'U5PMCCjjmCXPI6T53iHTfIUJrU6adTrCC2qJeHZERxhlbI1Bjjt/msv0tadQ1wUs',
  'N+gDS63pYaACbvXy8MWy7Vu33PqUXHeeE6V/Uq2V8viTO96LXFvKWlJbYK8U90vv',
  'o/ufQJVtMVT8QtPHRh8jrdkPSHCa2XV4cdFyQzR1bldZwgJcJmApzyMZFo6IQ6XU',
  '5MsI+yMRQ+hDKXJioaldXgjUkK642M4UwtBV8ob2xJNDd2ZhwLnoQdeXeGADbkpy',
  'rqXRfboQnoZsG4q5WTP468SQvvG5',
  '-----END CERTIFICATE-----',
  '',
].join('\n');
const amazonRootCa1Sha = '2C43952EE9E000FF2ACC4E2ED0897C0A72AD5FA72C3D934E81741CBD54F05BD1';

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

function modem(options: Nrf91SimulatorOptions = {}) {
  const pair = createMemoryPair();
  const simulator = new Nrf91Simulator({ seed: 7, ...options });
  simulator.attach(pair.device);
  const channel = new AtChannel(linkFromDuplex('ttyNRF', pair.host), {
    lineEnding: '\r\n',
    echo: false,
    maxLineBytes: 16_384,
    quoteAwareLines: true,
    defaultTimeoutMs: 2_000,
  });
  cleanups.push(() => {
    channel.dispose();
    simulator.close();
  });
  return { simulator, channel, host: pair.host };
}

/** Raw bytes in, everything the modem says within a short while out. */
async function exchangeRaw(host: Duplex, bytes: string | Buffer, waitMs = 60): Promise<string> {
  const got: Buffer[] = [];
  const listener = (chunk: Buffer) => got.push(chunk);
  host.on('data', listener);
  host.write(bytes);
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  host.off('data', listener);
  return Buffer.concat(got).toString('latin1');
}

const write = (tag: number, type: number, content: string) => `AT%CMNG=0,${tag},${type},"${content}"`;

describe('nRF91 simulator', () => {
  it('rejects writes, deletes and KEYGEN in CFUN=1 with +CME ERROR: 518 after AT+CMEE=1', async () => {
    const { channel } = modem({ bootCfun: 1 });
    await channel.send('AT+CMEE=1');
    for (const command of [write(1, 0, 'x'), 'AT%CMNG=3,1,0', 'AT%KEYGEN=1,2,0']) {
      await expect(channel.send(command)).rejects.toMatchObject({
        code: 'device.cme-error',
        details: { cme: 518 },
      });
    }
    await channel.send('AT+CFUN=4');
    await expect(channel.send(write(1, 0, 'x'))).resolves.toEqual({ info: [] });
  });

  it('answers a bare ERROR instead of numeric codes without AT+CMEE=1', async () => {
    const { channel } = modem({ bootCfun: 1 });
    await expect(channel.send(write(1, 0, 'x'))).rejects.toMatchObject({ code: 'device.error' });
  });

  it('answers 513 for reading or deleting what is not stored', async () => {
    const { channel } = modem({ bootCfun: 4 });
    await channel.send('AT+CMEE=1');
    await expect(channel.send('AT%CMNG=2,5,0')).rejects.toMatchObject({ details: { cme: 513 } });
    await expect(channel.send('AT%CMNG=3,5,0')).rejects.toMatchObject({ details: { cme: 513 } });
  });

  it('lists Amazon Root CA 1 with the SHA-256 a real modem lists, and stores it byte-exact', async () => {
    expect(createHash('sha256').update(amazonRootCa1).digest('hex').toUpperCase()).toBe(amazonRootCa1Sha);
    const { channel, simulator } = modem({ bootCfun: 4 });
    await channel.send(write(16842753, 0, amazonRootCa1));
    const listed = await channel.send('AT%CMNG=1,16842753,0');
    expect(listed.info).toEqual([`%CMNG: 16842753,0,"${amazonRootCa1Sha}"`]);
    expect(Buffer.from(simulator.storedCredentials().get('ca')!).toString('latin1')).toBe(amazonRootCa1);
    const read = await channel.send('AT%CMNG=2,16842753,0');
    expect(read.info).toEqual([`%CMNG: 16842753,0,"${amazonRootCa1Sha}","${amazonRootCa1}"`]);
  });

  it('answers a list of nothing with a bare OK', async () => {
    const { channel } = modem();
    expect(await channel.send('AT%CMNG=1,16842753,0')).toEqual({ info: [] });
    expect(await channel.send('AT%CMNG=1')).toEqual({ info: [] });
  });

  it('never reads a private key back', async () => {
    const { channel } = modem({ bootCfun: 4 });
    await channel.send('AT+CMEE=1');
    await channel.send(write(9, 2, placeholderKeyHeader));
    await expect(channel.send('AT%CMNG=2,9,2')).rejects.toMatchObject({ details: { cme: 514 } });
  });

  it('takes CR, LF or CRLF as the end of a command and ignores lines without printable characters', async () => {
    const { host } = modem();
    expect(await exchangeRaw(host, 'AT\r')).toBe('OK\r\n');
    expect(await exchangeRaw(host, '\nAT\n')).toBe('OK\r\n');
    expect(await exchangeRaw(host, 'AT\r\n')).toBe('OK\r\n');
    expect(await exchangeRaw(host, '\r\n \r\n')).toBe('');
  });

  it('drops what overflows its 4,096-byte buffer, as at_host does, so an oversized write never ends', async () => {
    const { host, simulator } = modem({ bootCfun: 4 });
    const command = write(1, 0, 'A'.repeat(4_096));
    expect(await exchangeRaw(host, `${command}\r\n`)).toBe('');
    expect(simulator.storedCredentials().size).toBe(0);
  });

  it('runs a command of 4,094 bytes, the most that fits at_host with its line end and NUL', async () => {
    const { host } = modem({ bootCfun: 4 });
    const prefix = 'AT%CMNG=0,16842753,0,""';
    const command = write(16842753, 0, 'A'.repeat(4_094 - prefix.length));
    expect(command.length).toBe(4_094);
    expect(await exchangeRaw(host, `${command}\r\n`)).toBe('OK\r\n');
  });

  it('never ends a command of 4,095 bytes: its line end finds the buffer full', async () => {
    const { host, simulator } = modem({ bootCfun: 4 });
    const prefix = 'AT%CMNG=0,16842753,0,""';
    const command = write(16842753, 0, 'A'.repeat(4_095 - prefix.length));
    expect(await exchangeRaw(host, `${command}\r\n`)).toBe('');
    expect(simulator.storedCredentials().size).toBe(0);
  });

  it('makes a real P-256 CSR with CN = device UUID on KEYGEN, and lists the key it keeps', async () => {
    const { channel, simulator } = modem({ bootCfun: 4 });
    const response = await channel.send('AT%KEYGEN=16842753,2,0');
    const parsed = parseKeygenLine(response.info[0]!)!;
    expect(parsed.hadNullParameter).toBe(false);
    expect(parsed.attestation).toMatchObject({
      messageType: 9,
      deviceUuid: simulator.identity.uuid,
      secTag: 16842753,
    });
    const listed = await channel.send('AT%CMNG=1,16842753,2');
    expect(listed.info[0]).toMatch(/^%CMNG: 16842753,2,"[0-9A-F]{64}"$/);
  });

  it('emits the NULL-parameter signature algorithm of older firmware when asked to', async () => {
    const { channel } = modem({ bootCfun: 4, keygenNullParameter: true });
    const response = await channel.send('AT%KEYGEN=16842753,2,0,"CN=nrf-352656100367872"');
    const raw = Buffer.from(/"([^".]+)\./.exec(response.info[0]!)![1]!, 'base64url');
    expect(raw.includes(Buffer.from('06082a8648ce3d0403020500', 'hex'))).toBe(true);
    expect(parseKeygenLine(response.info[0]!)!.hadNullParameter).toBe(true);
  });

  it('refuses a second write to an occupied slot with 519 when configured so', async () => {
    const { channel } = modem({ bootCfun: 4, occupiedSlot: 'already-exists' });
    await channel.send('AT+CMEE=1');
    await channel.send(write(3, 1, 'one'));
    await expect(channel.send(write(3, 1, 'two'))).rejects.toMatchObject({ details: { cme: 519 } });
  });

  it('answers 515 when its credential storage is full', async () => {
    const { channel } = modem({ bootCfun: 4, capacityBytes: 10 });
    await channel.send('AT+CMEE=1');
    await expect(channel.send(write(3, 1, 'more than ten bytes'))).rejects.toMatchObject({
      details: { cme: 515 },
    });
  });

  it('gives an IMEI with a valid Luhn digit and the UUID it was seeded with', async () => {
    const { channel, simulator } = modem();
    const imei = (await channel.send('AT+CGSN')).info[0]!;
    expect(imei).toBe(simulator.identity.imei);
    expect((await channel.send('AT+CGSN=1')).info).toEqual([`+CGSN: "${imei}"`]);
    expect((await channel.send('AT%DEVICEUUID')).info).toEqual([`%DEVICEUUID: ${simulator.identity.uuid}`]);
    expect(new Nrf91Simulator({ seed: 7 }).identity).toEqual(simulator.identity);
  });
});
