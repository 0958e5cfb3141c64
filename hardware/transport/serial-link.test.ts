import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { startPtyPair, type PtyPair } from '../sim/pty-pair.js';
import { received } from '../../test/helpers/byte-links.js';
import { openSerialLink, type SerialLink } from './serial-link.js';

const pairs: PtyPair[] = [];
const links: SerialLink[] = [];

async function open(path: string): Promise<SerialLink> {
  const link = await openSerialLink(path, { baudRate: 115_200, rtscts: false });
  links.push(link);
  return link;
}

async function pair(): Promise<PtyPair> {
  const started = await startPtyPair();
  pairs.push(started);
  return started;
}

afterEach(async () => {
  await Promise.all(links.splice(0).map((link) => link.close()));
  await Promise.all(pairs.splice(0).map((started) => started.stop()));
});

describe('SerialLink', () => {
  it('keeps writes in order, each many times larger than the tty buffer, and resolves each once sent', async () => {
    const ptys = await pair();
    const host = await open(ptys.hostPath);
    const device = await open(ptys.devicePath);
    const parts = [randomBytes(100 * 1024), randomBytes(3), randomBytes(60 * 1024)];
    const atDevice = received(device, 160 * 1024 + 3);
    const settled: number[] = [];
    const writes = parts.map((part, index) => host.write(part).then(() => settled.push(index)));
    expect((await atDevice).equals(Buffer.concat(parts))).toBe(true);
    await Promise.all(writes);
    expect(settled).toEqual([0, 1, 2]);
  });

  it('closes with transport.disconnected when the other end hangs up while it only reads', async () => {
    const ptys = await pair();
    const host = await open(ptys.hostPath);
    const closed = new Promise<Error | undefined>((resolve) => host.onClose(resolve));
    await ptys.stop();
    expect(await closed).toMatchObject({ code: 'transport.disconnected', port: ptys.hostPath });
    expect(host.closed).toBe(true);
    await expect(host.write(Buffer.from('AT\r\n'))).rejects.toMatchObject({ code: 'transport.disconnected' });
  });

  it('lets go of a closed link: serialport keeps its poller forever, but not what listens to it', async () => {
    const ptys = await pair();
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const collected = new Set<number>();
    const registry = new FinalizationRegistry<number>((index) => collected.add(index));
    // In a function of its own, so no frame of this test holds the last link.
    const openAndClose = async (index: number): Promise<void> => {
      const link = await openSerialLink(ptys.hostPath, { baudRate: 115_200, rtscts: false });
      link.onData(() => undefined);
      registry.register(link, index);
      await link.close();
    };
    for (let index = 0; index < 5; index++) await openAndClose(index);
    // Finalizers run after a collection, on a later turn of the event loop.
    for (let round = 0; round < 20 && collected.size < 5; round++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(collected.size).toBe(5);
  });

  it('says why a port would not open, in words a technician can act on', async () => {
    const ptys = await pair();
    await open(ptys.hostPath);
    const settings = { baudRate: 115_200, rtscts: false };
    await expect(openSerialLink('/dev/ttyNOPE', settings)).rejects.toMatchObject({
      code: 'transport.open-failed',
      port: '/dev/ttyNOPE',
      message: expect.stringContaining('there is no such port: is the device plugged in'),
    });
    await expect(openSerialLink(ptys.hostPath, settings)).rejects.toMatchObject({
      message: expect.stringContaining('another program holds it'),
    });
    await expect(openSerialLink('/dev/null', settings)).rejects.toMatchObject({
      message: expect.stringContaining('it is not a serial port'),
    });
  });

  it('refuses a write whose signal is already aborted, and tells late close listeners at once', async () => {
    const ptys = await pair();
    const host = await open(ptys.hostPath);
    await expect(host.write(Buffer.from('AT\r\n'), AbortSignal.abort())).rejects.toMatchObject({
      code: 'transport.aborted',
    });
    await host.close();
    expect(await new Promise((resolve) => host.onClose(() => resolve('told')))).toBe('told');
  });
});
