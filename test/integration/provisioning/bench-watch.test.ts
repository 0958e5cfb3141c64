// The bench starts a pipeline whenever a device is plugged into a port it serves (design.md 8): here the
// port list is scripted, and each plug of a USB path leads to a new in-memory simulated device.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { PortWatcher, type BenchPort, type ListedPort } from '../../../hardware/transport/port-watcher.js';
import type { ProvisioningEvent } from '../../../src/api/provisioning.js';
import { benchPortDriver } from '../../../src/cli/commands/provision.js';
import { BatchTally } from '../../../src/cli/live-display.js';
import { Bench } from '../../../src/provisioning/bench.js';
import type { DevicePort } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { plug } from './key-mode-fixture.js';

const nordic = '1915';

describe('Bench.watch', () => {
  let fixture: BenchFixture;
  let station: Station;
  let seed = 7100;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'bench-watch-tests' });
    station = await fixture.open();
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  /** A watching bench on a scripted port list; `latencyMs` slows the devices' answers. */
  async function watchBench(initial: ListedPort[], latencyMs = 0) {
    const events: ProvisioningEvent[] = [];
    const runtime = await openJobRuntime(station, fixture.jobs.csr, {
      actor,
      emit: (event) => events.push(event),
    });
    let listed = initial;
    const watcher = new PortWatcher({
      list: () => Promise.resolve(listed),
      locate: () => undefined,
      intervalMs: 10,
    });
    const opened: string[] = [];
    // As `station provision --ports auto` maps them: USB serial devices only, the family by USB ids.
    const toDevicePort = (port: BenchPort): DevicePort | undefined => {
      if (!benchPortDriver(port, undefined)) return undefined;
      opened.push(port.path);
      return plug(createSimulator('nrf91', { seed: seed++, latencyMs }), port.path);
    };
    const stop = new AbortController();
    const watching = new Bench(runtime).watch(watcher, toDevicePort, stop.signal);
    const count = (type: ProvisioningEvent['type']) => events.filter((event) => event.type === type).length;
    const until = async (done: () => boolean) => {
      for (let turn = 0; turn < 1000 && !done(); turn++) await sleep(10);
      expect(done()).toBe(true);
    };
    return {
      opened,
      count,
      until,
      plug: (port: ListedPort) => (listed = [...listed, port]),
      /** Takes the port off the list and waits until the watcher has seen it go. */
      async unplug(path: string) {
        listed = listed.filter((port) => port.path !== path);
        await until(() => !watcher.ports().some((port) => port.path === path));
      },
      async finish() {
        stop.abort();
        return watching;
      },
    };
  }

  it('provisions each device as it is plugged, a re-plugged port again, and ports it does not serve never', async () => {
    const bench = await watchBench([{ path: '/dev/ttyS0' }, { path: '/dev/ttyACM0', vendorId: nordic }]);
    await bench.until(() => bench.count('device-end') === 1);
    bench.plug({ path: '/dev/ttyACM1', vendorId: nordic });
    await bench.until(() => bench.count('device-end') === 2);
    await bench.unplug('/dev/ttyACM0');
    bench.plug({ path: '/dev/ttyACM0', vendorId: nordic });
    await bench.until(() => bench.count('device-end') === 3);
    const outcomes = await bench.finish();

    expect(bench.opened).toEqual(['/dev/ttyACM0', '/dev/ttyACM1', '/dev/ttyACM0']);
    expect(outcomes.map((outcome) => outcome.state)).toEqual(['PROVISIONED', 'PROVISIONED', 'PROVISIONED']);
    expect(new Set(outcomes.map((outcome) => outcome.deviceId)).size).toBe(3);
  }, 60_000);

  it('runs a device plugged while the port still finishes the last one once that ends', async () => {
    // Slow answers keep the first device busy while its port leaves the list and comes back.
    const bench = await watchBench([{ path: '/dev/ttyACM5', vendorId: nordic }], 30);
    await bench.until(() => bench.count('device-begin') === 1);
    await bench.unplug('/dev/ttyACM5');
    bench.plug({ path: '/dev/ttyACM5', vendorId: nordic });
    await bench.until(() => bench.opened.length === 2);
    expect(bench.count('device-end'), 'the first device was still running').toBe(0);
    await bench.until(() => bench.count('device-end') === 2);
    const outcomes = await bench.finish();

    expect(outcomes.map((outcome) => outcome.state)).toEqual(['PROVISIONED', 'PROVISIONED']);
    expect(new Set(outcomes.map((outcome) => outcome.deviceId)).size).toBe(2);
  }, 60_000);

  it('reports a device whose record the registry refuses, and does not reject', async () => {
    const events: ProvisioningEvent[] = [];
    const runtime = await openJobRuntime(station, fixture.jobs.csr, {
      actor,
      emit: (event) => events.push(event),
    });
    // A job the registry does not know makes the record's insert fail, as a locked or full registry would.
    const refusing = { ...runtime, job: { ...runtime.job, id: 987_654 } };
    const outcomes = await new Bench(refusing).runAll([
      plug(createSimulator('nrf91', { seed: seed++ }), 'refused'),
    ]);
    expect(outcomes).toEqual([]);
    expect(events).toMatchObject([
      {
        type: 'device-unstarted',
        port: 'refused',
        error: { message: expect.stringMatching(/^Device on refused could not be started: The registry/) },
      },
    ]);
    const tally = new BatchTally();
    for (const event of events) tally.add(event);
    expect(tally.summary()).toMatchObject({ devices: 1, failed: 1 });
  });
});
