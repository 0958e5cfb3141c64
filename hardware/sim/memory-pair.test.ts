import { describe, expect, it } from 'vitest';
import { createMemoryPair } from './memory-pair.js';

describe('createMemoryPair', () => {
  it('carries bytes both ways', async () => {
    const { host, device } = createMemoryPair();
    const atDevice = new Promise<Buffer>((resolve) => device.once('data', resolve));
    const atHost = new Promise<Buffer>((resolve) => host.once('data', resolve));
    host.write('AT\r\n');
    device.write('OK\r\n');
    expect((await atDevice).toString()).toBe('AT\r\n');
    expect((await atHost).toString()).toBe('OK\r\n');
    host.destroy();
  });

  it('closes the host end when the device end goes away, as an unplugged port', async () => {
    const { host, device } = createMemoryPair();
    const closed = new Promise((resolve) => host.once('close', resolve));
    device.destroy();
    await closed;
    expect(host.destroyed).toBe(true);
  });

  it('completes a paced write only after its wire time has passed', async () => {
    const { host, device } = createMemoryPair({ baudRate: 115_200 });
    let delivered = 0;
    device.on('data', (chunk: Buffer) => (delivered += chunk.length));
    const written = new Promise<void>((resolve) => host.write(Buffer.alloc(64), () => resolve()));
    expect(delivered).toBe(0);
    await written;
    expect(delivered).toBe(64);
    host.destroy();
  });
});
