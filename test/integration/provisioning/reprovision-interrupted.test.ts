// A re-provisioning (--reprovision) cut short once the new identity was issued: the device unplugged in
// the middle of the write, or the station killed. The next plug, --reprovision or not, finishes that
// identity; only an identity the device had completed is replaced. Nothing is issued or revoked twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator, SimulatorFault } from '../../../hardware/drivers/device-driver.js';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { provisionDevice, type DeviceOutcome } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import { plug, provisionUntilCrash, restartFrom } from './key-mode-fixture.js';

const passphrase = 'reprovision-interrupted-tests';

describe('a re-provisioning interrupted after its identity was issued', () => {
  let fixture: BenchFixture;
  let station: Station;
  let seed = 9800;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase });
    station = await fixture.open();
  });

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  const bench = (jobId: number, on: Station = station) =>
    openJobRuntime(on, jobId, { actor, reprovision: true, emit: () => undefined });
  const issuedCount = async (jobId: number, on: Station = station) =>
    (await on.jobs.require(jobId)).issuedCount;
  const statusOf = async (certificateId: string, on: Station = station) =>
    (await on.readOnlyPki().certificates.byId(certificateId))?.status;

  /** A device provisioned once; then the same device (same identity) that will fail as `faults` say. */
  async function provisioned(
    driver: 'jsonl' | 'esp-at',
    jobId: number,
    faults: SimulatorFault[],
  ): Promise<{ first: DeviceOutcome; device: DeviceSimulator }> {
    const deviceSeed = seed++;
    const runtime = await openJobRuntime(station, jobId, { actor, emit: () => undefined });
    const first = await provisionDevice(runtime, plug(createSimulator(driver, { seed: deviceSeed })));
    expect(first.error?.message ?? first.state).toBe('PROVISIONED');
    return { first, device: createSimulator(driver, { seed: deviceSeed, faults }) };
  }

  it.each([
    { driver: 'jsonl', keyMode: 'csr', fault: { kind: 'disconnect', match: 'write.chunk', nth: 1 } },
    { driver: 'esp-at', keyMode: 'inject', fault: { kind: 'disconnect', match: 'AT+SYSMFG=2', nth: 2 } },
  ] as const)(
    '$keyMode: the next plug finishes the certificate issued before the unplug, spending nothing more',
    async ({ driver, keyMode, fault }) => {
      const jobId = fixture.jobs[keyMode];
      const { first, device } = await provisioned(driver, jobId, [fault]);
      const reprovisioning = await bench(jobId);
      const cut = await provisionDevice(reprovisioning, plug(device));
      expect(cut).toMatchObject({ state: 'FAILED', mode: 'reissue' });
      expect(await station.records.byId(cut.recordId)).toMatchObject({
        state: 'FAILED',
        stepReached: 'write',
      });
      expect(await statusOf(first.certificateId!)).toBe('REVOKED');
      const issued = await issuedCount(jobId);

      const again = await provisionDevice(reprovisioning, plug(device));
      expect(again.error?.message ?? again.state).toBe('PROVISIONED');
      expect(again).toMatchObject({ mode: 'resume', certificateId: cut.certificateId });
      expect(await issuedCount(jobId), 'no further certificate').toBe(issued);
      expect(await statusOf(cut.certificateId!)).toBe('ACTIVE');
      await expectInvariants(station, [device]);

      // Completed now, so the next --reprovision replaces it.
      const replaced = await provisionDevice(reprovisioning, plug(device));
      expect(replaced.error?.message ?? replaced.state).toBe('PROVISIONED');
      expect(replaced.mode).toBe('reissue');
      expect(await statusOf(cut.certificateId!)).toBe('REVOKED');
      expect(await issuedCount(jobId)).toBe(issued + 1);
    },
  );

  it('a station killed mid-write: once restarted, the next --reprovision plug finishes that identity', async () => {
    const jobId = fixture.jobs.csr;
    const { first, device } = await provisioned('jsonl', jobId, []);
    const { cut, crashedDir } = await provisionUntilCrash(station, jobId, device, 'write', {
      reprovision: true,
    });
    await restartFrom(crashedDir, { passphrase }, async (restarted, report) => {
      expect(report.find((entry) => entry.recordId === cut.recordId)).toMatchObject({
        stepReached: 'register',
        resolution: 'awaiting-device',
      });
      const issued = await issuedCount(jobId, restarted);
      const again = await provisionDevice(await bench(jobId, restarted), plug(device));
      expect(again.error?.message ?? again.state).toBe('PROVISIONED');
      expect(again).toMatchObject({ mode: 'resume', certificateId: cut.certificateId });
      expect(await issuedCount(jobId, restarted)).toBe(issued);
      expect(await statusOf(first.certificateId!, restarted)).toBe('REVOKED');
      await expectInvariants(restarted, [device]);
    });
  }, 60_000);

  it('inject: killed once the write had finished, the device that proves its key is verified, not replaced', async () => {
    const jobId = fixture.jobs.inject;
    const { device } = await provisioned('jsonl', jobId, []);
    const { cut, crashedDir } = await provisionUntilCrash(station, jobId, device, 'verify', {
      reprovision: true,
    });
    await restartFrom(crashedDir, { passphrase }, async (restarted) => {
      const issued = await issuedCount(jobId, restarted);
      const again = await provisionDevice(await bench(jobId, restarted), plug(device));
      expect(again.error?.message ?? again.state).toBe('PROVISIONED');
      expect(again).toMatchObject({ mode: 'reverify', certificateId: cut.certificateId });
      expect(await issuedCount(jobId, restarted)).toBe(issued);
      await expectInvariants(restarted, [device]);
    });
  }, 60_000);
});
