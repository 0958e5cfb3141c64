import { describe, expect, it } from 'vitest';
import { PortWatcher, type ListedPort, type PortEvent } from './port-watcher.js';
import type { StationError } from '../../src/api/errors.js';

function watcherOver(scans: ListedPort[][]) {
  let scan = 0;
  const events: PortEvent[] = [];
  const watcher = new PortWatcher({
    list: () => Promise.resolve(scans[Math.min(scan++, scans.length - 1)]!),
    locate: (devicePath) => (devicePath === '/dev/ttyACM0' ? 'pci-0000:00:14.0-usb-0:3:1.0' : undefined),
  });
  watcher.on((event) => events.push(event));
  return { watcher, events };
}

const nordic: ListedPort = {
  path: '/dev/ttyACM0',
  vendorId: '1915',
  productId: '910A',
  serialNumber: 'THINGY91-1',
};

describe('PortWatcher', () => {
  it('reports a plugged port with its USB ids, serial number and physical location', async () => {
    const { watcher, events } = watcherOver([[nordic]]);
    await watcher.poll();
    expect(events).toEqual([
      {
        kind: 'plugged',
        port: {
          path: '/dev/ttyACM0',
          vendorId: '1915',
          productId: '910a',
          serialNumber: 'THINGY91-1',
          location: 'pci-0000:00:14.0-usb-0:3:1.0',
          manual: false,
        },
      },
    ]);
  });

  it('prefers the locationId the platform reports', async () => {
    const { watcher, events } = watcherOver([[{ ...nordic, locationId: 'Port_#0003.Hub_#0001' }]]);
    await watcher.poll();
    expect(events[0]?.port.location).toBe('Port_#0003.Hub_#0001');
  });

  it('reports each change once: plug, nothing while present, unplug when gone', async () => {
    const esp: ListedPort = { path: '/dev/ttyUSB0', vendorId: '10C4', productId: 'EA60' };
    const { watcher, events } = watcherOver([[nordic], [nordic, esp], [nordic, esp], [esp]]);
    for (let scan = 0; scan < 4; scan++) await watcher.poll();
    expect(events.map((event) => `${event.kind} ${event.port.path}`)).toEqual([
      'plugged /dev/ttyACM0',
      'plugged /dev/ttyUSB0',
      'unplugged /dev/ttyACM0',
    ]);
    expect(watcher.ports().map((port) => port.path)).toEqual(['/dev/ttyUSB0']);
  });

  it('reports a device swapped between two scans (same path, another USB serial number) as unplug and plug', async () => {
    const swapped: ListedPort = { ...nordic, serialNumber: 'THINGY91-2' };
    const { watcher, events } = watcherOver([[nordic], [swapped], [swapped]]);
    for (let scan = 0; scan < 3; scan++) await watcher.poll();
    expect(events.map((event) => `${event.kind} ${event.port.serialNumber}`)).toEqual([
      'plugged THINGY91-1',
      'unplugged THINGY91-1',
      'plugged THINGY91-2',
    ]);
  });

  it('keeps ports added by hand, which the list never shows (ptys)', async () => {
    const { watcher, events } = watcherOver([[]]);
    watcher.addManual('/tmp/sim/host', { vendorId: '1915' });
    await watcher.poll();
    expect(watcher.ports()).toEqual([{ path: '/tmp/sim/host', vendorId: '1915', manual: true }]);
    watcher.removeManual('/tmp/sim/host');
    expect(events.map((event) => event.kind)).toEqual(['plugged', 'unplugged']);
  });

  it('reports a failed scan once per reason, says what to do, and keeps what it knew', async () => {
    const errors: StationError[] = [];
    let failing = true;
    const watcher = new PortWatcher({
      list: () =>
        failing
          ? Promise.reject(new Error('spawn udevadm ENOENT'))
          : Promise.resolve([{ path: '/dev/ttyACM0' }]),
      onError: (error) => errors.push(error),
    });
    await watcher.poll();
    await watcher.poll();
    expect(errors).toHaveLength(1); // not once a second while the bench waits
    expect(errors[0]).toMatchObject({
      code: 'transport.port-scan-failed',
      message: expect.stringContaining('udevadm is missing (install the udev package)'),
    });
    expect(errors[0]!.message).toContain('Ports given by path still work');
    expect(watcher.scanError).toBe(errors[0]);
    expect(watcher.ports()).toEqual([]);
    failing = false;
    await watcher.poll();
    expect(watcher.scanError).toBeUndefined();
    expect(watcher.ports()).toHaveLength(1);
    failing = true;
    await watcher.poll();
    expect(errors, 'told again after a scan succeeded in between').toHaveLength(2);
  });
});
