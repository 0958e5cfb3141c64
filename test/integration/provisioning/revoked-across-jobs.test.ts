import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { provisionDevice, type JobRuntime } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { createClaimJob, createCsrJob, plug } from './key-mode-fixture.js';

describe('a revoked identity, found from the device records across jobs', () => {
  let fixture: BenchFixture;
  let station: Station;
  let first: JobRuntime;
  let second: number;
  let claimJob: number;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'revoked-across-jobs' });
    ({ jobId: claimJob } = await createClaimJob(fixture, {
      caName,
      claim: 'moved-claim',
      template: 'sensor',
      label: 'claim line',
    }));
    station = await fixture.open();
    second = await createCsrJob(station, { label: 'second line', prefix: 'second', ca: caName, actor });
    first = await openJobRuntime(station, fixture.jobs.csr, { actor, emit: () => undefined });
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  it('a re-verify in an older job does not hide a later certificate revoked for key compromise', async () => {
    const device = createSimulator('nrf91', { seed: 7101 });
    expect((await provisionDevice(first, plug(device))).state).toBe('PROVISIONED');
    const replacing = await openJobRuntime(station, second, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const replaced = await provisionDevice(replacing, plug(device));
    expect(replaced.error?.message ?? replaced.state).toBe('PROVISIONED');
    // Back on the first job's bench: re-verified. Its record names the first job's certificate, superseded.
    const again = await provisionDevice(first, plug(device));
    expect(again).toMatchObject({ state: 'PROVISIONED', mode: 'reverify' });
    await (await station.pki()).revocation.revoke(replaced.certificateId!, 'keyCompromise', actor);

    const plain = await openJobRuntime(station, second, { actor, emit: () => undefined });
    const issued = (await station.jobs.require(second)).issuedCount;
    const refused = await provisionDevice(plain, plug(device));
    expect(refused.error?.code ?? refused.state).toBe('provisioning.identity-revoked');
    expect((await station.jobs.require(second)).issuedCount).toBe(issued);
  });

  it('a refused device is listed by its identity, and --reprovision still gives it its thing back', async () => {
    const device = createSimulator('nrf91', { seed: 7104 });
    const own = await provisionDevice(first, plug(device));
    expect(own.state).toBe('PROVISIONED');
    await (await station.pki()).revocation.revoke(own.certificateId!, 'keyCompromise', actor);
    const unidentified = await station.records.unidentifiedFailures(fixture.jobs.csr);

    const refused = await provisionDevice(first, plug(device));
    expect(refused.error?.code ?? refused.state).toBe('provisioning.identity-revoked');
    // `job describe`: the device said who it is, so it is a device needing attention, by its identity.
    expect(await station.records.byId(refused.recordId)).toMatchObject({
      driver: 'nrf91',
      deviceId: device.identity.deviceId,
    });
    const attention = await station.records.needingAttention(fixture.jobs.csr);
    expect(attention.map((record) => record.id)).toContain(refused.recordId);
    expect(await station.records.unidentifiedFailures(fixture.jobs.csr)).toBe(unidentified);

    // The refusal carries nothing to resume: the attempt before it still lends its parameters.
    const reprovisioning = await openJobRuntime(station, fixture.jobs.csr, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const again = await provisionDevice(reprovisioning, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again.thingName).toBe(own.thingName);
  });

  it('a device re-provisioned with --reprovision onto a claim is re-verified, not refused', async () => {
    const device = createSimulator('nrf91', { seed: 7102 });
    const own = await provisionDevice(first, plug(device));
    expect(own.state).toBe('PROVISIONED');
    await (await station.pki()).revocation.revoke(own.certificateId!, 'keyCompromise', actor);
    const claimRe = await openJobRuntime(station, claimJob, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const claimed = await provisionDevice(claimRe, plug(device));
    expect(claimed.error?.message ?? claimed.state).toBe('PROVISIONED');

    const claimRuntime = await openJobRuntime(station, claimJob, { actor, emit: () => undefined });
    const again = await provisionDevice(claimRuntime, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again.mode).toBe('reverify');
  });

  it('a device put back on a claim it had before is re-verified, not refused', async () => {
    const device = createSimulator('nrf91', { seed: 7103 });
    // 1. On the claim first.
    const claimPlain = await openJobRuntime(station, claimJob, { actor, emit: () => undefined });
    const claimed = await provisionDevice(claimPlain, plug(device));
    expect(claimed.error?.message ?? claimed.state).toBe('PROVISIONED');
    // 2. Its own identity over the claim (--reprovision), later revoked for key compromise.
    const ownRe = await openJobRuntime(station, fixture.jobs.csr, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const own = await provisionDevice(ownRe, plug(device));
    expect(own.error?.message ?? own.state).toBe('PROVISIONED');
    await (await station.pki()).revocation.revoke(own.certificateId!, 'keyCompromise', actor);
    // 3. Back onto the claim, deliberately (--reprovision).
    const claimRe = await openJobRuntime(station, claimJob, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const back = await provisionDevice(claimRe, plug(device));
    expect(back.error?.message ?? back.state).toBe('PROVISIONED');
    // 4. Plugged again: it carries the claim, and is only re-verified.
    const again = await provisionDevice(claimPlain, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again.mode).toBe('reverify');
  });
});
