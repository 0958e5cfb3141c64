import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryPair } from '../../sim/memory-pair.js';
import { QuectelSimulator, withLuhn, type QuectelSimulatorOptions } from './quectel-simulator.js';

/** A host end that sends raw bytes and reads what the simulated module answers, byte for byte. */
interface Terminal {
  simulator: QuectelSimulator;
  send(data: string | Buffer): void;
  /** Everything received until `text` has arrived (and is consumed). */
  until(text: string, timeoutMs?: number): Promise<string>;
  /** Everything not yet consumed, once the module has closed the line. */
  hungUp(): Promise<string>;
  unplug(): void;
}

const terminals: Terminal[] = [];

afterEach(() => {
  for (const terminal of terminals.splice(0)) terminal.simulator.close();
});

function connect(
  options: QuectelSimulatorOptions = {},
  simulator = new QuectelSimulator({ seed: 3, ...options }),
): Terminal {
  const pair = createMemoryPair();
  simulator.attach(pair.device);
  const closed = new Promise<void>((resolve) => pair.host.once('close', () => resolve()));
  let received = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  pair.host.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    waiter?.();
  });
  const terminal: Terminal = {
    simulator,
    send: (data) => pair.host.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data),
    until: (text, timeoutMs = 2_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no "${text}" in ${JSON.stringify(received.toString('latin1'))}`)),
          timeoutMs,
        );
        waiter = () => {
          const end = received.indexOf(text, 0, 'latin1');
          if (end === -1) return;
          clearTimeout(timer);
          const taken = received.subarray(0, end + text.length);
          received = received.subarray(end + text.length);
          waiter = undefined;
          resolve(taken.toString('latin1'));
        };
        waiter();
      }),
    hungUp: () => closed.then(() => received.toString('latin1')),
    unplug: () => pair.host.destroy(),
  };
  terminals.push(terminal);
  return terminal;
}

async function command(terminal: Terminal, text: string, final = 'OK\r\n'): Promise<string> {
  terminal.send(`${text}\r\n`);
  return terminal.until(final);
}

async function upload(terminal: Terminal, name: string, content: string): Promise<string> {
  expect(await command(terminal, `AT+QFUPL="${name}",${content.length},5`, 'CONNECT\r\n')).toBe(
    '\r\nCONNECT\r\n',
  );
  terminal.send(content);
  return terminal.until('OK\r\n');
}

describe('Quectel simulator', () => {
  it('echoes commands until ATE0 turns echo off', async () => {
    const terminal = connect();
    expect(await command(terminal, 'AT')).toBe('AT\r\n\r\nOK\r\n');
    expect(await command(terminal, 'ATE0')).toBe('ATE0\r\n\r\nOK\r\n');
    expect(await command(terminal, 'AT')).toBe('\r\nOK\r\n');
  });

  it('takes an upload after CONNECT and answers its size and XOR checksum in hex', async () => {
    const terminal = connect({ echo: false });
    expect(await upload(terminal, 'hello.txt', 'hello')).toBe('\r\n+QFUPL: 5,6b09\r\n\r\nOK\r\n');
    expect(await command(terminal, 'AT+QFLST="*"')).toBe('\r\n+QFLST: "UFS:hello.txt",5\r\n\r\nOK\r\n');
  });

  it('refuses to overwrite a file with 407 until it is deleted, and deleting a missing file gives 405', async () => {
    const terminal = connect({ echo: false });
    await upload(terminal, 'UFS:ca.pem', 'first');
    expect(await command(terminal, 'AT+QFUPL="ca.pem",6,5', '\r\n')).toBe('\r\n');
    expect(await terminal.until('\r\n')).toBe('+CME ERROR: 407\r\n');
    expect(await command(terminal, 'AT+QFDEL="ca.pem"')).toBe('\r\nOK\r\n');
    expect(await upload(terminal, 'ca.pem', 'second')).toMatch(/^\r\n\+QFUPL: 6,/);
    expect(await command(terminal, 'AT+QFDEL="gone.pem"', '405\r\n')).toBe('\r\n+CME ERROR: 405\r\n');
  });

  it('gives the file-table text with CMEE=2 and bare ERROR with CMEE=0', async () => {
    const terminal = connect({ echo: false });
    await command(terminal, 'AT+CMEE=2');
    expect(await command(terminal, 'AT+QFDEL="gone.pem"', 'found\r\n')).toBe(
      '\r\n+CME ERROR: file not found\r\n',
    );
    await command(terminal, 'AT+CMEE=0');
    expect(await command(terminal, 'AT+QFDEL="gone.pem"', 'ERROR\r\n')).toBe('\r\nERROR\r\n');
  });

  it('leaves data mode after the inactivity timeout and keeps what arrived', async () => {
    const terminal = connect({ echo: false });
    expect(await command(terminal, 'AT+QFUPL="part.pem",10,1', 'CONNECT\r\n')).toBe('\r\nCONNECT\r\n');
    terminal.send('hell');
    expect(await terminal.until('OK\r\n', 3_000)).toBe('\r\n+QFUPL: 4,409\r\n\r\nOK\r\n');
    expect(await command(terminal, 'AT+QFLST="part.pem"')).toBe('\r\n+QFLST: "UFS:part.pem",4\r\n\r\nOK\r\n');
  });

  it('sends A after each 1 KB in ACK mode', async () => {
    const terminal = connect({ echo: false });
    await command(terminal, 'AT+QFUPL="big.bin",2100,5,1', 'CONNECT\r\n');
    terminal.send(Buffer.alloc(1024, 1));
    expect(await terminal.until('A')).toBe('A');
    terminal.send(Buffer.alloc(1024, 1));
    expect(await terminal.until('A')).toBe('A');
    terminal.send(Buffer.alloc(52, 1));
    expect(await terminal.until('OK\r\n')).toBe('\r\n+QFUPL: 2100,0\r\n\r\nOK\r\n');
  });

  it('answers 403 when the drive has no room for the announced size', async () => {
    const terminal = connect({ echo: false, ufsCapacityBytes: 100 });
    expect(await command(terminal, 'AT+QFUPL="big.pem",101,5', '403\r\n')).toBe('\r\n+CME ERROR: 403\r\n');
    expect(await command(terminal, 'AT+QFLDS="UFS"')).toBe('\r\n+QFLDS: 100,100\r\n\r\nOK\r\n');
  });

  it('loses RAM: files when the module goes away but keeps UFS files', async () => {
    const simulator = new QuectelSimulator({ seed: 3, echo: false });
    const first = connect({}, simulator);
    await upload(first, 'RAM:tmp.pem', 'volatile');
    await upload(first, 'UFS:keep.pem', 'kept');
    expect(await command(first, 'AT+QFLST="RAM:*"')).toBe('\r\n+QFLST: "RAM:tmp.pem",8\r\n\r\nOK\r\n');
    first.unplug();
    await new Promise((resolve) => setImmediate(resolve));
    const second = connect({}, simulator);
    expect(await command(second, 'AT+QFLST="RAM:*"')).toBe('\r\nOK\r\n');
    expect(await command(second, 'AT+QFLST')).toBe('\r\n+QFLST: "UFS:keep.pem",4\r\n\r\nOK\r\n');
  });

  it('stores AT+QSSLCFG paths as given and credentials follow the bound files', async () => {
    const terminal = connect({ echo: false, sslContext: 2 });
    await upload(terminal, 'cert.pem', 'CERT');
    expect(await command(terminal, 'AT+QSSLCFG="clientcert",2,"cert.pem"')).toBe('\r\nOK\r\n');
    expect(await command(terminal, 'AT+QSSLCFG="cacert",2,"UFS:missing.pem"')).toBe('\r\nOK\r\n');
    expect(await command(terminal, 'AT+QSSLCFG="clientcert",2')).toBe(
      '\r\n+QSSLCFG: "clientcert",2,"cert.pem"\r\n\r\nOK\r\n',
    );
    const stored = terminal.simulator.storedCredentials();
    expect(Buffer.from(stored.get('certificate') ?? []).toString()).toBe('CERT');
    expect(stored.has('ca')).toBe(false);
    expect(await command(terminal, 'AT+QSSLCFG="cacert",6,"x.pem"', 'ERROR\r\n')).toBe('\r\nERROR\r\n');
  });

  it('reads a file back as CONNECT <n>, the raw bytes and OK', async () => {
    const terminal = connect({ echo: false });
    await upload(terminal, 'ca.pem', 'line1\r\nOK\r\n');
    expect(await command(terminal, 'AT+QFOPEN="ca.pem",2')).toBe('\r\n+QFOPEN: 1\r\n\r\nOK\r\n');
    expect(await command(terminal, 'AT+QFREAD=1,100', '\r\nOK\r\n\r\nOK\r\n')).toBe(
      '\r\nCONNECT 11\r\nline1\r\nOK\r\n\r\nOK\r\n',
    );
    expect(await command(terminal, 'AT+QFREAD=1,100')).toBe('\r\nCONNECT 0\r\n\r\nOK\r\n');
    expect(await command(terminal, 'AT+QFCLOSE=1')).toBe('\r\nOK\r\n');
    expect(await command(terminal, 'AT+QFREAD=1', '416\r\n')).toBe('\r\n+CME ERROR: 416\r\n');
  });

  it('downloads a file as CONNECT, exactly its bytes, its size and XOR checksum, and OK', async () => {
    const terminal = connect({ echo: false });
    await upload(terminal, 'RAM:ca.pem', 'hello\r\nOK\r\n');
    expect(await command(terminal, 'AT+QFDWL="RAM:ca.pem"', '+QFDWL: 11,2046\r\n\r\nOK\r\n')).toBe(
      '\r\nCONNECT\r\nhello\r\nOK\r\n\r\n+QFDWL: 11,2046\r\n\r\nOK\r\n',
    );
    expect(await command(terminal, 'AT+QFDWL="gone.pem"', '405\r\n')).toBe('\r\n+CME ERROR: 405\r\n');
    expect(await command(terminal, 'AT+QFDWL="bad:name"', '406\r\n')).toBe('\r\n+CME ERROR: 406\r\n');
  });

  it('holds no handle for a download, so the file can be deleted right after', async () => {
    const terminal = connect({ echo: false });
    await upload(terminal, 'ca.pem', 'CA');
    await command(terminal, 'AT+QFDWL="ca.pem"');
    expect(await command(terminal, 'AT+QFDEL="ca.pem"')).toBe('\r\nOK\r\n');
  });

  it('refuses to delete a file a QFOPEN handle holds, until the handle is closed or the module restarts', async () => {
    const simulator = new QuectelSimulator({ seed: 3, echo: false });
    const first = connect({}, simulator);
    await upload(first, 'ca.pem', 'CA');
    await upload(first, 'cert.pem', 'CERT');
    expect(await command(first, 'AT+QFOPEN="ca.pem",2')).toBe('\r\n+QFOPEN: 1\r\n\r\nOK\r\n');
    expect(await command(first, 'AT+QFOPEN="ca.pem",2', '426\r\n')).toBe('\r\n+CME ERROR: 426\r\n');
    expect(await command(first, 'AT+QFDEL="ca.pem"', '418\r\n')).toBe('\r\n+CME ERROR: 418\r\n');
    expect(await command(first, 'AT+QFOPEN="cert.pem",2')).toBe('\r\n+QFOPEN: 2\r\n\r\nOK\r\n');
    expect(await command(first, 'AT+QFCLOSE=2')).toBe('\r\nOK\r\n');
    expect(await command(first, 'AT+QFDEL="cert.pem"')).toBe('\r\nOK\r\n');
    first.unplug();
    await new Promise((resolve) => setImmediate(resolve));
    const second = connect({}, simulator);
    expect(await command(second, 'AT+QFDEL="ca.pem"')).toBe('\r\nOK\r\n');
  });

  it('vanishes half-way through a download under a disconnect fault', async () => {
    const terminal = connect({ echo: false, faults: [{ kind: 'disconnect', match: 'AT+QFDWL' }] });
    await upload(terminal, 'ca.pem', 'A'.repeat(200));
    terminal.send('AT+QFDWL="ca.pem"\r\n');
    expect(await terminal.hungUp()).toBe(`\r\nCONNECT\r\n${'A'.repeat(100)}`);
  });

  it('answers a refused download with the file table read error', async () => {
    const terminal = connect({ echo: false, faults: [{ kind: 'refuse', match: 'AT+QFDWL' }] });
    await upload(terminal, 'ca.pem', 'CA');
    expect(await command(terminal, 'AT+QFDWL="ca.pem"', '411\r\n')).toBe('\r\n+CME ERROR: 411\r\n');
  });

  it('reports an IMEI with a valid Luhn digit and an ICCID padded with F', async () => {
    const terminal = connect({ echo: false });
    const imei = terminal.simulator.identity.imei ?? '';
    expect(imei).toMatch(/^\d{15}$/);
    expect(withLuhn(imei.slice(0, 14))).toBe(imei);
    expect(withLuhn('49015420323751')).toBe('490154203237518');
    expect(await command(terminal, 'AT+GSN')).toBe(`\r\n${imei}\r\n\r\nOK\r\n`);
    expect(await command(terminal, 'AT+QCCID')).toMatch(/^\r\n\+QCCID: \d{19}F\r\n\r\nOK\r\n$/);
  });
});
