// The bench starts a pipeline whenever a device is plugged into a port it serves (design.md 8): here the
// port list is scripted, each USB path leads to an in-memory simulated device.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { PortWatcher, type BenchPort, type ListedPort } from '../../../hardware/transport/port-watcher.js';
import { benchPortDriver } from '../../../src/cli/commands/provision.js';
import type { ProvisioningEvent } from '../../../src/api/provisioning.js';
import { Bench } from '../../../src/provisioning/bench.js';
import type { DevicePort } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { plug } from './key-mode-fixture.js';

describe('Bench.watch', () => {
  let fixture: BenchFixture;
  let station: Station;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'bench-watch-tests' });
    station = await fixture.open();
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  it('provisions each device as it is plugged, a re-plugged port again, and ports it does not serve never', async () => {
    const events: ProvisioningEvent[] = [];
    const runtime = await openJobRuntime(station, fixture.jobs.csr, {
      actor,
      emit: (event) => events.push(event),
    });
    const ends = () => events.filter((event) => event.type === 'device-end').length;
    const devicesEnded = async (count: number) => {
      for (let turn = 0; turn < 1000 && ends() < count; turn++) await sleep(20);
      expect(ends()).toBe(count);
    };

    let listed: ListedPort[] = [{ path: '/dev/ttyS0' }, { path: '/dev/ttyACM0', vendorId: '1915' }];
    const watcher = new PortWatcher({
      list: () => Promise.resolve(listed),
      locate: () => undefined,
      intervalMs: 10,
    });
    let seed = 7100;
    const opened: string[] = [];
    // As `station provision --ports auto` maps them: USB serial devices only, the family by USB ids.
    const toDevicePort = (port: BenchPort): DevicePort | undefined => {
      if (!benchPortDriver(port, undefined)) return undefined;
      opened.push(port.path);
      return plug(createSimulator('nrf91', { seed: seed++ }), port.path);
    };
    const stop = new AbortController();
    const watching = new Bench(runtime).watch(watcher, toDevicePort, stop.signal);

    await devicesEnded(1);
    listed = [...listed, { path: '/dev/ttyACM1', vendorId: '1915' }];
    await devicesEnded(2);
    // Unplugged, then another device on the same port.
    listed = listed.filter((port) => port.path !== '/dev/ttyACM0');
    for (let turn = 0; turn < 500 && watcher.ports().some((port) => port.path === '/dev/ttyACM0'); turn++)
      await sleep(10);
    listed = [...listed, { path: '/dev/ttyACM0', vendorId: '1915' }];
    await devicesEnded(3);
    stop.abort();
    const outcomes = await watching;

    expect(opened).toEqual(['/dev/ttyACM0', '/dev/ttyACM1', '/dev/ttyACM0']);
    expect(outcomes.map((outcome) => outcome.state)).toEqual(['PROVISIONED', 'PROVISIONED', 'PROVISIONED']);
    expect(new Set(outcomes.map((outcome) => outcome.deviceId)).size).toBe(3);
  }, 60_000);
});
