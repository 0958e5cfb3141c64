import { describe, expect, it } from 'vitest';
import { driverByName } from '../../../hardware/drivers/index.js';
import { PortWatcher, type BenchPort, type ListedPort } from '../../../hardware/transport/port-watcher.js';
import { serialDevicePort } from '../../provisioning/bench.js';
import { benchPortDriver, devicesPluggedNow } from './provision.js';

const port = (details: Partial<BenchPort>): BenchPort => ({
  path: '/dev/ttyACM0',
  manual: false,
  ...details,
});

describe('benchPortDriver', () => {
  it('serves USB serial devices by their USB ids, or with the family the job or --driver names', () => {
    expect(benchPortDriver(port({ vendorId: '1915' }), undefined)?.name).toBe('nrf91');
    expect(benchPortDriver(port({ vendorId: '10c4', productId: 'ea60' }), undefined)?.name).toBe('esp-at');
    expect(benchPortDriver(port({ vendorId: 'abcd' }), undefined)).toBeUndefined();
    expect(benchPortDriver(port({ vendorId: 'abcd' }), 'jsonl')?.name).toBe('jsonl');
  });

  it('never serves a port that is not a USB device (a built-in UART), even with a family named', () => {
    expect(benchPortDriver(port({ path: '/dev/ttyS0' }), 'nrf91')).toBeUndefined();
    expect(benchPortDriver(port({ path: '/dev/ttyS0' }), undefined)).toBeUndefined();
  });
});

describe('devicesPluggedNow (--ports auto --once)', () => {
  const watcher = (listed: ListedPort[]) =>
    new PortWatcher({ list: () => Promise.resolve(listed), locate: () => undefined });
  const usbOnly = (port: BenchPort) =>
    port.vendorId === undefined ? undefined : serialDevicePort(port.path, driverByName('nrf91'));

  it('gives the USB serial devices plugged in now', async () => {
    const plugged = await devicesPluggedNow(
      watcher([{ path: '/dev/ttyACM0', vendorId: '1915' }, { path: '/dev/ttyS0' }]),
      usbOnly,
    );
    expect(plugged.map((port) => port.name)).toEqual(['/dev/ttyACM0']);
  });

  it('fails with the reason when no device it can serve is plugged in, rather than an empty run', async () => {
    for (const listed of [[], [{ path: '/dev/ttyS0' }]]) {
      await expect(devicesPluggedNow(watcher(listed), usbOnly)).rejects.toMatchObject({
        code: 'provisioning.no-device',
        userFault: true,
        message: expect.stringMatching(/^No USB serial device .* leave out --once to wait for them\.$/),
      });
    }
  });
});
