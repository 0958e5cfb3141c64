import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryPair } from './memory-pair.js';
import { SimWire, garble, wireMeter, wireTimeMs } from './sim-wire.js';
import type { SimulatorOptions } from '../drivers/device-driver.js';

afterEach(() => {
  vi.useRealTimers();
});

function wireWith(options: SimulatorOptions) {
  const pair = createMemoryPair();
  const wire = new SimWire(pair.device, options);
  const received: Buffer[] = [];
  pair.host.on('data', (chunk: Buffer) => received.push(chunk));
  return { wire, pair, received, text: () => Buffer.concat(received).toString('latin1') };
}

/** Stream 'data' events follow a push on a later tick. */
function delivered(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('wireTimeMs', () => {
  it('counts 10 bits per byte', () => {
    expect(wireTimeMs(11_520, 115_200)).toBe(1_000);
    expect(wireTimeMs(1, 9_600)).toBeCloseTo(1.0417, 4);
  });
});

describe('SimWire', () => {
  it('meters what crossed the wire and the latency waited, per device over every attach', async () => {
    const options: SimulatorOptions = {
      latencyMs: 7,
      faults: [{ kind: 'drop-response', match: 'AT+DROP' }],
    };
    for (let attach = 0; attach < 2; attach++) {
      const { wire, pair } = wireWith(options);
      pair.host.write('AT\r\n');
      await delivered();
      wire.answer('AT', Buffer.from('\r\nOK\r\n'), true);
      wire.answer('AT+DROP', Buffer.from('\r\nOK\r\n'), true); // never sent: no bytes, but waited
      await wire.whenAnswered();
      wire.close();
    }
    expect(wireMeter(options)).toEqual({ rxBytes: 8, txBytes: 12, latencyAnswers: 4, latencyMs: 28 });
    expect(wireMeter({ latencyMs: 7 })).toEqual({ rxBytes: 0, txBytes: 0, latencyAnswers: 0, latencyMs: 0 });
  });

  it('delivers an answer no sooner than the wire allows at the configured baud rate', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const { wire, received } = wireWith({ baudRate: 115_200 });
    wire.answer('AT', Buffer.alloc(1_152, 0x41), true); // 100 ms on the wire
    await vi.advanceTimersByTimeAsync(50);
    const halfway = Buffer.concat(received).length;
    expect(halfway).toBeGreaterThan(0);
    expect(halfway).toBeLessThan(1_152);
    await vi.advanceTimersByTimeAsync(60);
    expect(Buffer.concat(received).length).toBe(1_152);
    wire.close();
  });

  it('paces the host bytes it reads, too', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const { wire, pair } = wireWith({ baudRate: 9_600 });
    const seen: Buffer[] = [];
    wire.onBytes((chunk) => seen.push(chunk));
    pair.host.write(Buffer.alloc(96, 0x41)); // 100 ms at 9,600 baud
    await vi.advanceTimersByTimeAsync(40);
    expect(Buffer.concat(seen).length).toBeLessThan(96);
    await vi.advanceTimersByTimeAsync(70);
    expect(Buffer.concat(seen).length).toBe(96);
    wire.close();
  });

  it('waits the latency before each answer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const { wire, text } = wireWith({ latencyMs: 30 });
    wire.answer('AT', Buffer.from('OK\r\n'), true);
    await vi.advanceTimersByTimeAsync(20);
    expect(text()).toBe('');
    await vi.advanceTimersByTimeAsync(20);
    expect(text()).toBe('OK\r\n');
    wire.close();
  });

  it('drops only the nth matching answer', async () => {
    const { wire, text } = wireWith({ faults: [{ kind: 'drop-response', match: 'AT+X', nth: 2 }] });
    for (const command of ['AT+X=1', 'AT+Y', 'AT+X=2', 'AT+X=3'])
      wire.answer(command, Buffer.from(`${command}\r\n`), true);
    await wire.whenAnswered();
    await delivered();
    expect(text()).toBe('AT+X=1\r\nAT+Y\r\nAT+X=3\r\n');
    wire.close();
  });

  it('applies one fault decision to every answer of an exchange up to the final one', async () => {
    const { wire, text } = wireWith({ faults: [{ kind: 'drop-response', nth: 1 }] });
    wire.answer('AT+W', Buffer.from('>'));
    wire.answer('AT+W', Buffer.from('OK\r\n'), true);
    wire.answer('AT+W', Buffer.from('OK\r\n'), true);
    await wire.whenAnswered();
    await delivered();
    expect(text()).toBe('OK\r\n');
    wire.close();
  });

  it('says when refuse and storage-full hit, so the simulator answers with its own error', () => {
    const { wire } = wireWith({ faults: [{ kind: 'refuse', match: 'AT%KEYGEN' }, { kind: 'storage-full' }] });
    expect(wire.fault('AT%KEYGEN=1,2,0', 'refuse')).toBe(true);
    expect(wire.fault('AT+CGSN', 'refuse')).toBe(false);
    expect(wire.fault('AT%CMNG=0', 'storage-full')).toBe(true);
    wire.close();
  });

  it('tears a write at half way by closing the stream, which the host sees as a closed port', async () => {
    const { wire, pair } = wireWith({ faults: [{ kind: 'disconnect', match: 'write' }] });
    const closed = new Promise((resolve) => pair.host.once('close', resolve));
    expect(wire.disconnectsDuring('write', 100, 1_000)).toBe(false);
    expect(wire.disconnectsDuring('write', 600, 1_000)).toBe(true);
    await closed;
    expect(wire.isClosed).toBe(true);
  });

  it('holds a slow answer for its delay', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const { wire, text } = wireWith({ faults: [{ kind: 'slow', delayMs: 1_000 }] });
    wire.answer('AT', Buffer.from('OK\r\n'), true);
    await vi.advanceTimersByTimeAsync(900);
    expect(text()).toBe('');
    await vi.advanceTimersByTimeAsync(200);
    expect(text()).toBe('OK\r\n');
    wire.close();
  });

  it('garbles every other byte but keeps line ends', () => {
    expect([...garble(Buffer.from('OK\r\n'))]).toEqual([0xff, 0x4b, 0x0d, 0x0a]);
  });
});
