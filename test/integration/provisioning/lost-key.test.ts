// inject mode keeps the device's key only in the station's memory until the device holds it. When the
// station dies after the identity was issued, the next plug of the device settles it: a device the write
// had reached is verified (nothing new issued, no quota spent); one it had not gets a new certificate and
// the dead one is revoked; and with the quota spent, the dead certificate is revoked rather than left
// ACTIVE, and the technician is told why nothing more can be issued.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator } from '../../../hardware/drivers/device-driver.js';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { provisionDevice } from '../../../src/provisioning/device-pipeline.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import { plug, provisionUntilCrash, restartFrom, withSession } from './key-mode-fixture.js';

const passphrase = 'lost-key-tests';

describe('an injected key lost with the station', () => {
  let fixture: BenchFixture;
  let station: Station;
  let seed = 7700;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase });
    station = await fixture.open();
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  /** An inject job with a quota of one certificate. */
  const oneDeviceJob = (prefix: string) =>
    createJob(
      station,
      {
        label: 'one device',
        template: { name: 'sensor' },
        parameters: {
          constants: {},
          identity: { SerialNumber: 'deviceId' },
          sequence: { parameter: 'ThingName', pattern: `${prefix}-{00000}`, start: 1 },
        },
        driver: 'auto',
        ca: caName,
        keyMode: 'inject',
        quota: 1,
      },
      actor,
    );

  /** Restarted on the crashed folder, the device gets a new certificate and the dead one is revoked. */
  async function expectReplacedAfterRestart(device: DeviceSimulator, dead: string, crashedDir: string) {
    await restartFrom(crashedDir, { passphrase }, async (restarted) => {
      const runtime = await openJobRuntime(restarted, fixture.jobs.inject, { actor, emit: () => undefined });
      const again = await provisionDevice(runtime, plug(device));
      expect(again.error?.message ?? again.state).toBe('PROVISIONED');
      expect(again.mode).toBe('reissue');
      expect(again.certificateId).not.toBe(dead);
      expect(await restarted.readOnlyPki().certificates.byId(dead)).toMatchObject({
        status: 'REVOKED',
        revocationReason: 'superseded: key lost before write',
      });
      await expectInvariants(restarted, [device]);
    });
  }

  it('verifies a device whose write had finished and that proves its key: no quota spent again', async () => {
    const device = createSimulator('jsonl', { seed: seed++ });
    const { cut, crashedDir } = await provisionUntilCrash(station, fixture.jobs.inject, device, 'verify');
    expect(device.storedCredentials().get('key'), 'the write had finished').toBeDefined();
    await restartFrom(crashedDir, { passphrase }, async (restarted, report) => {
      expect(report).toMatchObject([{ recordId: cut.recordId, resolution: 'awaiting-device' }]);
      expect((await restarted.records.byId(cut.recordId))?.errorMessage).toContain(
        'if its write had finished it is verified, otherwise its key died with the station',
      );
      const issued = (await restarted.jobs.require(fixture.jobs.inject)).issuedCount;
      const runtime = await openJobRuntime(restarted, fixture.jobs.inject, { actor, emit: () => undefined });
      const again = await provisionDevice(runtime, plug(device));
      expect(again.error?.message ?? again.state).toBe('PROVISIONED');
      expect(again).toMatchObject({ mode: 'reverify', certificateId: cut.certificateId });
      expect((await restarted.jobs.require(fixture.jobs.inject)).issuedCount).toBe(issued);
      await expectInvariants(restarted, [device]);
    });
  }, 60_000);

  it('replaces the certificate of a device whose key does not prove it, on the first plug', async () => {
    const device = createSimulator('jsonl', { seed: seed++ });
    const { cut, crashedDir } = await provisionUntilCrash(station, fixture.jobs.inject, device, 'verify');
    // Another key in the slot than the certificate's (a write torn by the crash and retried elsewhere).
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const otherKey = privateKey.export({ format: 'pem', type: 'pkcs8' });
    await withSession(device, (session) => session.writeCredential('key', Buffer.from(otherKey)));
    await expectReplacedAfterRestart(device, cut.certificateId!, crashedDir);
  }, 60_000);

  it('replaces the certificate of a device that cannot prove its key, though the write had finished', async () => {
    // An esp-at device only says its key slot is filled: it may hold half a key, torn by the crash.
    const device = createSimulator('esp-at', { seed: seed++ });
    const { cut, crashedDir } = await provisionUntilCrash(station, fixture.jobs.inject, device, 'verify');
    expect(device.storedCredentials().get('key')).toBeDefined();
    await expectReplacedAfterRestart(device, cut.certificateId!, crashedDir);
  }, 60_000);

  it('replaces the certificate of a device the write had not reached, revoking the dead one', async () => {
    const device = createSimulator('quectel', { seed: seed++ });
    const { cut, crashedDir } = await provisionUntilCrash(station, fixture.jobs.inject, device, 'write');
    expect(device.storedCredentials().get('key')).toBeUndefined();
    await expectReplacedAfterRestart(device, cut.certificateId!, crashedDir);
  }, 60_000);

  it('with the quota spent, revokes the dead certificate and says why nothing more is issued', async () => {
    const job = await oneDeviceJob('one');
    const device = createSimulator('jsonl', { seed: seed++ });
    const { cut, crashedDir } = await provisionUntilCrash(station, job.id, device, 'write');
    await restartFrom(crashedDir, { passphrase }, async (restarted) => {
      const runtime = await openJobRuntime(restarted, job.id, { actor, emit: () => undefined });
      const refused = await provisionDevice(runtime, plug(device));
      expect(refused.state).toBe('FAILED');
      expect(refused.error).toMatchObject({ code: 'provisioning.key-lost' });
      expect(refused.error?.message).toBe(
        `Device on ${refused.port} failed during identification: The key of certificate ${cut.certificateId} was lost when the station stopped before writing it to the device, so that certificate is now revoked. Job ${job.id} (one device) has issued all 1 certificates of its quota; open a new job (station job create) for more devices.`,
      );
      expect((await restarted.readOnlyPki().certificates.byId(cut.certificateId!))?.status).toBe('REVOKED');
      expect((await restarted.jobs.require(job.id)).issuedCount).toBe(1);
    });
  }, 60_000);

  it('keeps the certificate when the device only refuses to sign once: the next plug proves the key', async () => {
    const job = await oneDeviceJob('busy');
    const device = createSimulator('jsonl', {
      seed: seed++,
      faults: [{ kind: 'refuse', match: 'sign', nth: 1 }],
    });
    const { cut, crashedDir } = await provisionUntilCrash(station, job.id, device, 'verify');
    await restartFrom(crashedDir, { passphrase }, async (restarted) => {
      const runtime = await openJobRuntime(restarted, job.id, { actor, emit: () => undefined });
      const refused = await provisionDevice(runtime, plug(device));
      expect(refused.state).toBe('FAILED');
      expect((await restarted.readOnlyPki().certificates.byId(cut.certificateId!))?.status).toBe('ACTIVE');
      // The refused attempt names the device but carries nothing: the identity stays the job's unfinished
      // one, which `job close` lists and the closed job's bench still finishes.
      expect(await restarted.records.byId(refused.recordId)).toMatchObject({
        deviceId: device.identity.deviceId,
      });
      const unfinished = await restarted.records.unfinishedIdentities(job.id);
      expect(unfinished.map((record) => record.certificateId)).toEqual([cut.certificateId]);
      const again = await provisionDevice(runtime, plug(device));
      expect(again.error?.message ?? again.state).toBe('PROVISIONED');
      expect(again).toMatchObject({ mode: 'reverify', certificateId: cut.certificateId });
      expect((await restarted.jobs.require(job.id)).issuedCount).toBe(1);
    });
  }, 60_000);
});
