import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startPtyPair, type PtyPair } from '../sim/pty-pair.js';
import { openSerialStream, type SerialStream } from './serial-stream.js';

const pairs: PtyPair[] = [];
const streams: SerialStream[] = [];

async function open(path: string): Promise<SerialStream> {
  const stream = await openSerialStream(path, { baudRate: 115_200 });
  streams.push(stream);
  return stream;
}

async function pair(): Promise<PtyPair> {
  const started = await startPtyPair();
  pairs.push(started);
  return started;
}

function received(stream: SerialStream, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= length) resolve(Buffer.concat(chunks));
    });
  });
}

afterEach(async () => {
  await Promise.all(streams.splice(0).map((stream) => stream.close()));
  await Promise.all(pairs.splice(0).map((started) => started.stop()));
});

describe('SerialStream', () => {
  it('moves a write many times larger than the tty buffer, in order, both ways', async () => {
    const ptys = await pair();
    const host = await open(ptys.hostPath);
    const device = await open(ptys.devicePath);
    const toDevice = randomBytes(256 * 1024);
    const toHost = randomBytes(96 * 1024);
    const atDevice = received(device, toDevice.length);
    const atHost = received(host, toHost.length);
    const written = Promise.all([
      new Promise<void>((resolve, reject) =>
        host.write(toDevice, (error) => (error ? reject(error) : resolve())),
      ),
      new Promise<void>((resolve, reject) =>
        device.write(toHost, (error) => (error ? reject(error) : resolve())),
      ),
    ]);
    expect((await atDevice).equals(toDevice)).toBe(true);
    expect((await atHost).equals(toHost)).toBe(true);
    await written;
  });

  it('reports the other end hanging up while it only reads, as transport.disconnected', async () => {
    const ptys = await pair();
    const host = await open(ptys.hostPath);
    host.on('data', () => undefined);
    const failed = new Promise<unknown>((resolve) => host.once('error', resolve));
    await ptys.stop();
    expect(await failed).toMatchObject({ code: 'transport.disconnected' });
    expect(host.isOpen).toBe(false);
  });

  it('gives the port back on close, so it opens again', async () => {
    const ptys = await pair();
    const first = await open(ptys.hostPath);
    await first.close();
    const second = await open(ptys.hostPath);
    expect(second.isOpen).toBe(true);
  });

  it('names the port when it cannot be opened', async () => {
    await expect(openSerialStream('/dev/no-such-port', { baudRate: 115_200 })).rejects.toMatchObject({
      code: 'transport.open-failed',
      port: '/dev/no-such-port',
    });
  });
});
