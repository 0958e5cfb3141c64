import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryPair } from '../../sim/memory-pair.js';
import { ESP_AT_MAX_COMMAND_BYTES, EspAtSimulator, type EspAtSimulatorOptions } from './esp-at-simulator.js';

/** A host end that sends raw bytes and reads what the simulated module answers, byte for byte. */
interface Terminal {
  simulator: EspAtSimulator;
  send(data: string | Buffer): void;
  /** Everything received until `text` has arrived (and is consumed). */
  until(text: string): Promise<Buffer>;
}

const terminals: Terminal[] = [];

afterEach(() => {
  for (const terminal of terminals.splice(0)) terminal.simulator.close();
});

function connect(options: EspAtSimulatorOptions = {}): Terminal {
  const simulator = new EspAtSimulator({ seed: 7, ...options });
  const pair = createMemoryPair();
  simulator.attach(pair.device);
  let received = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  pair.host.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    waiter?.();
  });
  const terminal: Terminal = {
    simulator,
    send: (data) => pair.host.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data),
    until: (text) =>
      new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "${text}" in ${JSON.stringify(received.toString('latin1'))}`)),
          2_000,
        );
        waiter = () => {
          const end = received.indexOf(text, 0, 'latin1');
          if (end === -1) return;
          clearTimeout(timer);
          const taken = received.subarray(0, end + text.length);
          received = received.subarray(end + text.length);
          waiter = undefined;
          resolve(taken);
        };
        waiter();
      }),
  };
  terminals.push(terminal);
  return terminal;
}

/** Sends a command and returns its answer up to the final result. */
async function command(terminal: Terminal, text: string, final = 'OK\r\n'): Promise<string> {
  terminal.send(`${text}\r\n`);
  return (await terminal.until(final)).toString('latin1');
}

const certificate = Buffer.from(
  '-----BEGIN CERTIFICATE-----\r\nMIIB\r\nOK\r\nERROR\r\n-----END CERTIFICATE-----\r\n',
  'latin1',
);

describe('ESP-AT simulator', () => {
  it('echoes commands until ATE0 turns echo off', async () => {
    const terminal = connect();
    expect(await command(terminal, 'AT')).toBe('AT\r\n\r\nOK\r\n');
    expect(await command(terminal, 'ATE0')).toBe('ATE0\r\n\r\nOK\r\n');
    expect(await command(terminal, 'AT')).toBe('\r\nOK\r\n');
  });

  it('refuses a command over 256 bytes and keeps answering the next one', async () => {
    const terminal = connect({ echo: false });
    const long = `AT+SYSMFG=1,"${'x'.repeat(ESP_AT_MAX_COMMAND_BYTES)}"`;
    expect(await command(terminal, long, 'ERROR\r\n')).toBe('\r\nERROR\r\n');
    expect(await command(terminal, 'AT')).toBe('\r\nOK\r\n');
  });

  it('takes exactly the announced bytes after OK, a blank line and the > prompt, then says OK', async () => {
    const terminal = connect({ echo: false });
    expect(
      await command(terminal, `AT+SYSMFG=2,"client_cert","client_cert.0",8,${certificate.length}`, '>'),
    ).toBe('\r\nOK\r\n\r\n>');
    // The payload carries OK and ERROR lines: raw data, never commands.
    terminal.send(certificate.subarray(0, 10));
    terminal.send(certificate.subarray(10));
    expect((await terminal.until('OK\r\n')).toString('latin1')).toBe('\r\nOK\r\n');
    expect(Buffer.from(terminal.simulator.storedCredentials().get('certificate') ?? [])).toEqual(certificate);
    expect(await command(terminal, 'AT')).toBe('\r\nOK\r\n');
  });

  it('reads back type, length and the raw value, line ends and all', async () => {
    const terminal = connect({ echo: false });
    await command(terminal, `AT+SYSMFG=2,"client_ca","client_ca.0",8,${certificate.length}`, '>');
    terminal.send(certificate);
    await terminal.until('OK\r\n');
    const answer = await command(terminal, 'AT+SYSMFG=1,"client_ca","client_ca.0"', '\r\n\r\nOK\r\n');
    expect(answer).toBe(
      `+SYSMFG:"client_ca","client_ca.0",8,${certificate.length},${certificate.toString('latin1')}\r\n\r\nOK\r\n`,
    );
    expect(await command(terminal, 'AT+SYSMFG=1,"client_ca"')).toBe(
      '+SYSMFG:"client_ca","client_ca.0",8\r\n\r\nOK\r\n',
    );
    expect(await command(terminal, 'AT+SYSMFG=1,"client_ca","client_ca.0",4,5', '\r\n\r\nOK\r\n')).toBe(
      '+SYSMFG:"client_ca","client_ca.0",8,5,-BEGI\r\n\r\nOK\r\n',
    );
  });

  it('answers ERROR for an unknown namespace, an unknown key and an unknown command', async () => {
    const terminal = connect({ echo: false });
    expect(await command(terminal, 'AT+SYSMFG=2,"no_such_ns","k",8,10', 'ERROR\r\n')).toBe('\r\nERROR\r\n');
    expect(await command(terminal, 'AT+SYSMFG=1,"client_cert","client_cert.9"', 'ERROR\r\n')).toBe(
      '\r\nERROR\r\n',
    );
    expect(await command(terminal, 'AT+SYSMFG=0,"client_cert","client_cert.9"', 'ERROR\r\n')).toBe(
      '\r\nERROR\r\n',
    );
    expect(await command(terminal, 'AT+NOPE', 'ERROR\r\n')).toBe('\r\nERROR\r\n');
  });

  it('says busy p... to bytes that arrive while it commits a write to flash', async () => {
    const terminal = connect({ echo: false, flashWriteMs: 200 });
    await command(terminal, 'AT+SYSMFG=2,"client_key","client_key.0",8,4', '>');
    terminal.send('KEY!AT\r\n'); // a command right behind the data, in the same chunk
    expect((await terminal.until('busy p...\r\n')).toString('latin1')).toBe('busy p...\r\n');
    terminal.send('AT\r\n');
    expect((await terminal.until('busy p...\r\n')).toString('latin1')).toBe('busy p...\r\n');
    expect((await terminal.until('OK\r\n')).toString('latin1')).toBe('\r\nOK\r\n');
    expect(Buffer.from(terminal.simulator.storedCredentials().get('key') ?? []).toString()).toBe('KEY!');
  });

  it('refuses a write that does not fit its NVS capacity and keeps the old value', async () => {
    const terminal = connect({ echo: false, nvsCapacityBytes: 256 });
    await command(terminal, 'AT+SYSMFG=2,"client_cert","client_cert.0",8,4', '>');
    terminal.send('old!');
    await terminal.until('OK\r\n');
    await command(terminal, 'AT+SYSMFG=2,"client_cert","client_cert.0",8,300', '>');
    terminal.send(Buffer.alloc(300, 0x41));
    expect((await terminal.until('ERROR\r\n')).toString('latin1')).toBe('\r\nERROR\r\n');
    expect(Buffer.from(terminal.simulator.storedCredentials().get('certificate') ?? []).toString()).toBe(
      'old!',
    );
  });

  it('reports the MAC it identifies with, the same for the same seed', async () => {
    const terminal = connect({ echo: false });
    const mac = terminal.simulator.identity.mac ?? '';
    expect(mac).toMatch(/^24:0a:c4(:[0-9a-f]{2}){3}$/);
    expect(await command(terminal, 'AT+CIPSTAMAC?')).toBe(`+CIPSTAMAC:"${mac}"\r\n\r\nOK\r\n`);
    expect(new EspAtSimulator({ seed: 7 }).identity.mac).toBe(mac);
  });
});
