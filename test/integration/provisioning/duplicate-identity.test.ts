// Two devices that report the same identity (a cloned IMEI or MAC, a flashing mistake) plugged in at
// once: one identity never gets two live certificates. The first to reach the registry gets it; the other
// fails naming the identity and the thing that has it, and nothing of its attempt stays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { provisionDevice } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { plug } from './key-mode-fixture.js';

describe('two devices with one identity on the bench at once', () => {
  let fixture: BenchFixture;
  let station: Station;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'duplicate-identity-tests' });
    station = await fixture.open();
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  it.each([
    ['csr', 'nrf91'],
    ['inject', 'esp-at'],
  ] as const)(
    '%s: one gets the identity, the other is refused and leaves no certificate',
    async (keyMode, driver) => {
      const runtime = await openJobRuntime(station, fixture.jobs[keyMode], { actor, emit: () => undefined });
      const [original, clone] = [
        createSimulator(driver, { seed: 4242 }),
        createSimulator(driver, { seed: 4242 }),
      ];
      expect(clone.identity.deviceId).toBe(original.identity.deviceId);
      const issuedBefore = (await station.jobs.require(runtime.job.id)).issuedCount;

      const outcomes = await Promise.all([
        provisionDevice(runtime, plug(original, `${driver}-a`)),
        provisionDevice(runtime, plug(clone, `${driver}-b`)),
      ]);
      const won = outcomes.filter((outcome) => outcome.state === 'PROVISIONED');
      const lost = outcomes.filter((outcome) => outcome.state === 'FAILED');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.error).toMatchObject({ code: 'provisioning.duplicate-identity' });
      expect(lost[0]!.error!.message).toContain(`is already ${won[0]!.thingName}`);

      const device = await station.devices.byIdentity(driver, original.identity.deviceId);
      expect(device?.thingName).toBe(won[0]!.thingName);
      const live = await station.readOnlyPki().certificates.activeForThing(won[0]!.thingName!);
      expect(live.map((certificate) => certificate.id)).toEqual([won[0]!.certificateId]);
      // The refused attempt left no certificate, and spent no quota.
      expect((await station.jobs.require(runtime.job.id)).issuedCount).toBe(issuedBefore + 1);
    },
  );
});
