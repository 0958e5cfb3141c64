import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { openSerialStream } from '../transport/serial-stream.js';
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
    const host = await openSerialStream(pair.hostPath, { baudRate: 115_200 });
    const device = await openPtyDeviceEnd(pair);
    const got = new Promise<Buffer>((resolve) => device.once('data', resolve));
    host.write('AT\r\n');
    expect((await got).toString()).toBe('AT\r\n');
    await host.close();
    device.destroy();
    await pair.stop();
    expect(alive(pair.socatPid)).toBe(false);
  });

  it('starts socat without the key store secrets in its environment', async () => {
    vi.stubEnv('STATION_HSM_PIN', 'pin-for-the-station-only');
    vi.stubEnv('STATION_SOFT_PASSPHRASE', 'passphrase for the station only');
    const pair = await startPtyPair().finally(() => vi.unstubAllEnvs());
    try {
      const environ = readFileSync(`/proc/${pair.socatPid}/environ`, 'utf8').split('\0');
      expect(environ.some((entry) => entry.startsWith('PATH='))).toBe(true);
      expect(environ.filter((entry) => entry.startsWith('STATION_'))).toEqual([]);
    } finally {
      await pair.stop();
    }
  });

  it('stops the pair when the device end closes, so the host sees its port vanish', async () => {
    const pair = await startPtyPair();
    const host = await openSerialStream(pair.hostPath, { baudRate: 115_200 });
    // A hang-up is noticed by the read it wakes, as on any ByteLink over the port.
    host.on('data', () => undefined);
    host.on('error', () => undefined);
    const hostClosed = new Promise((resolve) => host.once('close', resolve));
    const device = await openPtyDeviceEnd(pair);
    device.destroy();
    await hostClosed;
    await pair.stop();
    expect(alive(pair.socatPid)).toBe(false);
  });
});
