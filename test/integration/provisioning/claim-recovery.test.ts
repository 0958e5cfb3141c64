// Key mode `claim`, again and after a crash: --reprovision writes the claim again without a second carrier
// row, and a station that dies as it writes the claim finishes the device once restarted and re-plugged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator } from '../../../hardware/drivers/device-driver.js';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { provisionDevice } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import { ClaimTable } from '../../../src/registry/claims.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import { createClaimJob, plug, provisionUntilCrash, restartFrom } from './key-mode-fixture.js';

const passphrase = 'claim-recovery-tests';

describe('key mode claim: again, and after a crash', () => {
  let fixture: BenchFixture;
  let station: Station;
  let claimId: string;
  let jobId: number;
  let seed = 9300;
  const devices: DeviceSimulator[] = [];
  const carriersOf = async (target: Station, device: DeviceSimulator) =>
    (await new ClaimTable(target.registry.reader).carriers(claimId)).filter(
      (row) => row.driver === device.driver && row.deviceId === device.identity.deviceId,
    );

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase });
    ({ claimId, jobId } = await createClaimJob(fixture, {
      caName,
      claim: 'line-2-claim',
      template: 'sensor',
      label: 'claims',
    }));
    station = await fixture.open();
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  it('writes the claim again with --reprovision: the carrier row moves to that attempt, nothing doubles', async () => {
    const device = createSimulator('jsonl', { seed: seed++ });
    devices.push(device);
    const runtime = await openJobRuntime(station, jobId, { actor, emit: () => undefined });
    expect((await provisionDevice(runtime, plug(device))).state).toBe('PROVISIONED');

    const reprovisioning = await openJobRuntime(station, jobId, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const again = await provisionDevice(reprovisioning, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    const steps = await station.records.steps(again.recordId);
    expect(steps.find((step) => step.step === 'write')?.outcome).toBe('ok');
    expect(await carriersOf(station, device)).toMatchObject([
      { recordId: again.recordId, recordState: 'PROVISIONED' },
    ]);
    expect(await station.readOnlyPki().certificates.count()).toBe(1);
    await expectInvariants(station, devices);
  }, 30_000);

  it('finishes a device the station died writing, once restarted and the device is plugged in again', async () => {
    const device = createSimulator('esp-at', { seed: seed++ });
    // The station dies as the write begins: the carrier row and the record ISSUED are committed.
    const { cut, crashedDir } = await provisionUntilCrash(station, jobId, device, 'write');
    expect(cut.state).toBe('FAILED');
    expect(device.storedCredentials().get('key'), 'the claim key was not written').toBeUndefined();

    await restartFrom(crashedDir, { passphrase }, async (restarted, report) => {
      expect(report.find((entry) => entry.recordId === cut.recordId)).toMatchObject({
        stepReached: 'register',
        resolution: 'awaiting-device',
      });
      const runtime = await openJobRuntime(restarted, jobId, { actor, emit: () => undefined });
      const finished = await provisionDevice(runtime, plug(device));
      expect(finished.error?.message ?? finished.state).toBe('PROVISIONED');
      expect(await carriersOf(restarted, device)).toMatchObject([{ recordId: finished.recordId }]);
      await expectInvariants(restarted, [...devices, device]);
    });
  }, 30_000);
});
