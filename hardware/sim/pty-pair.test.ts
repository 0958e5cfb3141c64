import { SerialPort } from 'serialport';
import { describe, expect, it } from 'vitest';
import { openPtyDeviceEnd, startPtyPair } from './pty-pair.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startPtyPair', () => {
  it('joins two ptys with socat and leaves no socat behind after stop', async () => {
    const pair = await startPtyPair();
    const host = new SerialPort({ path: pair.hostPath, baudRate: 115_200 });
    const device = await openPtyDeviceEnd(pair);
    const got = new Promise<Buffer>((resolve) => device.once('data', resolve));
    host.write('AT\r\n');
    expect((await got).toString()).toBe('AT\r\n');
    await new Promise<void>((resolve) => host.close(() => resolve()));
    device.destroy();
    await pair.stop();
    expect(alive(pair.socatPid)).toBe(false);
  });

  it('stops the pair when the device end closes, so the host sees its port vanish', async () => {
    const pair = await startPtyPair();
    const host = new SerialPort({ path: pair.hostPath, baudRate: 115_200 });
    await new Promise<void>((resolve, reject) => host.once('open', resolve).once('error', reject));
    // serialport notices a hang-up only while it reads, as any ByteLink over it does.
    host.on('data', () => undefined);
    const hostClosed = new Promise((resolve) => host.once('close', resolve));
    const device = await openPtyDeviceEnd(pair);
    device.destroy();
    await hostClosed;
    await pair.stop();
    expect(alive(pair.socatPid)).toBe(false);
  });
});
