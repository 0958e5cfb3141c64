import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator, DriverName } from '../../../hardware/drivers/device-driver.js';
import { driverByName } from '../../../hardware/drivers/index.js';
import { startPtySims, type PtySimDevice, type SimHost } from '../../../hardware/sim/sim-host.js';
import type { ProvisioningEvent } from '../../../src/api/provisioning.js';
import { Bench, serialDevicePort } from '../../../src/provisioning/bench.js';
import type { DevicePort } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import { createSoftHsmToken, type SoftHsmToken } from '../../helpers/softhsm.js';
import { actor, createBenchFixture, keyModeFor, type BenchFixture } from './bench-fixture.js';
import { expectInvariants, tokenPrivateKeyLabels } from './invariants.js';

const drivers: DriverName[] = ['nrf91', 'esp-at', 'quectel', 'jsonl'];

describe('the bench with SoftHSM2 and 16 devices on pseudo-terminals', () => {
  let token: SoftHsmToken;
  let fixture: BenchFixture;
  const sims: SimHost<PtySimDevice>[] = [];

  beforeAll(async () => {
    token = await createSoftHsmToken();
    fixture = await createBenchFixture(
      { kind: 'pkcs11', module: token.module, tokenLabel: token.tokenLabel },
      { pin: token.pin },
    );
    for (const driver of drivers) sims.push(await startPtySims({ driver, count: 4, baudRate: 115_200 }));
  });

  afterAll(async () => {
    for (const sim of sims) await sim.stop();
    await fixture?.cleanup();
    await token?.cleanup();
  });

  it('provisions every device concurrently and keeps every invariant', async () => {
    const station = await fixture.open();
    const events: ProvisioningEvent[] = [];
    try {
      const portsByMode = { csr: [] as DevicePort[], inject: [] as DevicePort[] };
      for (const sim of sims) {
        const driver = driverByName(sim.driver);
        portsByMode[keyModeFor(sim.driver)].push(
          ...sim.devices.map((device) => serialDevicePort(device.path, driver)),
        );
      }
      const runs = (['csr', 'inject'] as const).map(async (keyMode) => {
        const runtime = await openJobRuntime(station, fixture.jobs[keyMode], {
          actor,
          emit: (e) => events.push(e),
        });
        return new Bench(runtime).runAll(portsByMode[keyMode]);
      });
      const outcomes = (await Promise.all(runs)).flat();

      expect(outcomes.map((outcome) => outcome.error?.message ?? outcome.state)).toEqual(
        Array(16).fill('PROVISIONED'),
      );
      const devices: DeviceSimulator[] = sims.flatMap((sim) => sim.devices.map((device) => device.simulator));
      await expectInvariants(station, devices);
      expect(await station.registry.things.search({})).toMatchObject({ things: { length: 16 } });
      // Every device ran the whole pipeline, and the ports overlapped in time (one bench, not a queue).
      const begins = events.filter((event) => event.type === 'device-begin').map((event) => event.at);
      const ends = events.filter((event) => event.type === 'device-end').map((event) => event.at);
      expect(Math.max(...begins)).toBeLessThan(Math.min(...ends));
    } finally {
      await station.close();
    }
    expect(await tokenPrivateKeyLabels(token.module, token.tokenLabel, token.pin)).toEqual(['ca:factory']);
  });

  it('re-verifies a provisioned device when it is plugged in again, issuing nothing', async () => {
    const station = await fixture.open();
    try {
      const before = await station.jobs.require(fixture.jobs.csr);
      const ends: ProvisioningEvent[] = [];
      const runtime = await openJobRuntime(station, fixture.jobs.csr, {
        actor,
        emit: (event) => event.type === 'device-end' && ends.push(event),
      });
      const device = sims[0]!.devices[0]!;
      const outcome = await new Bench(runtime).run(serialDevicePort(device.path, driverByName('nrf91')));
      // The technician is told: the line must not look like a newly provisioned device.
      expect(outcome).toMatchObject({ state: 'PROVISIONED', mode: 'reverify' });
      expect(ends).toMatchObject([{ state: 'PROVISIONED', mode: 'reverify' }]);
      const steps = await station.records.steps(outcome!.recordId);
      expect(steps.filter((step) => step.outcome === 'ok').map((step) => step.step)).toEqual([
        'connect',
        'identify',
        'verify',
      ]);
      expect((await station.jobs.require(fixture.jobs.csr)).issuedCount).toBe(before.issuedCount);
    } finally {
      await station.close();
    }
  });
});
