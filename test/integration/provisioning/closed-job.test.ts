// A job closed (`station job close`, from another terminal) or its CA disabled while a bench holds the job
// open: every key mode re-reads both in the device's registry transaction, so the running bench registers
// no further device, whether it signs certificates or not. What the job issued before it closed is not
// stranded: its bench opens again to finish those identities, and only those.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator } from '../../../hardware/drivers/device-driver.js';
import { createSimulator } from '../../../hardware/drivers/index.js';
import type { Pki } from '../../../src/pki/pki.js';
import { BenchLock } from '../../../src/provisioning/bench-lock.js';
import { provisionDevice, type JobRuntime } from '../../../src/provisioning/device-pipeline.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import { ClaimTable } from '../../../src/registry/claims.js';
import type { Station } from '../../../src/station.js';
import { runCliJson } from '../../helpers/cli.js';
import { actor, caName, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import { createClaimJob, createCsrJob, createStationFolder, plug, withSession } from './key-mode-fixture.js';

describe('a job closed, or its CA disabled, while its bench runs', () => {
  let fixture: BenchFixture;
  let maker: Awaited<ReturnType<typeof createStationFolder>>;
  let station: Station;
  let makerStation: Station;
  let makerPki: Pki;
  let claimJob: number;
  let claimId: string;
  let seed = 9600;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'closed-job-tests' });
    ({ jobId: claimJob, claimId } = await createClaimJob(fixture, {
      caName,
      claim: 'closing-claim',
      template: 'sensor',
      label: 'claim line',
    }));
    station = await fixture.open();
    maker = await createStationFolder('station-maker-');
    makerStation = await maker.open();
    makerPki = await makerStation.pki();
    const pki = await station.pki();
    for (const name of ['maker', 'maker-2']) {
      await makerPki.factoryCa.createRoot({ name, days: 3650 }, actor);
      await pki.factoryCa.registerExternal(name, (await makerPki.factoryCa.get(name)).pem, actor);
    }
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await makerStation?.close();
    await fixture?.cleanup();
    await maker?.cleanup();
  });

  /** A device whose maker's line left it a certificate of the maker's CA `caName`. */
  async function makerCertified(makerCa = 'maker'): Promise<DeviceSimulator> {
    const device = createSimulator('jsonl', { seed: seed++ });
    const commonName = `maker-${device.identity.deviceId}`;
    await withSession(device, async (session) => {
      const csr = await session.generateCsr({ commonName });
      const issued = await makerPki.issuer.issueFromCsr(csr, { caName: makerCa, commonName }, actor);
      await session.writeCredential('certificate', Buffer.from(issued.certificate.pem));
    });
    return device;
  }

  /** An existing-certificate job trusting `ca`, its bench open. */
  async function existingBench(ca: string): Promise<JobRuntime> {
    const job = await createJob(
      station,
      {
        label: `devices of ${ca}`,
        template: { name: 'sensor' },
        parameters: {
          constants: {},
          identity: { SerialNumber: 'deviceId' },
          sequence: { parameter: 'ThingName', pattern: `${ca}-{000}`, start: 1 },
        },
        driver: 'auto',
        ca,
        keyMode: 'existing',
        quota: 5,
        existing: { allowWithoutCa: false, requireProofOfPossession: false },
      },
      actor,
    );
    return openJobRuntime(station, job.id, { actor, emit: () => undefined });
  }

  const close = (jobId: number) => station.registry.transaction(actor, (tx) => station.jobs.close(tx, jobId));

  /** The device's certificate, as it holds it, is not in the registry, and no thing is bound to it. */
  async function expectNothingRegistered(device: DeviceSimulator) {
    expect(await station.devices.byIdentity(device.driver, device.identity.deviceId)).toBeUndefined();
    const held = Buffer.from(device.storedCredentials().get('certificate')!).toString();
    const all = await station.readOnlyPki().certificates.list({});
    expect(all.some((certificate) => certificate.pem === held)).toBe(false);
  }

  it('an existing-certificate job registers no further device once closed', async () => {
    const bench = await existingBench('maker');
    const before = await makerCertified();
    expect((await provisionDevice(bench, plug(before))).state).toBe('PROVISIONED');

    await close(bench.job.id);
    const late = await makerCertified();
    const outcome = await provisionDevice(bench, plug(late));
    expect(outcome.state).toBe('FAILED');
    expect(await station.records.byId(outcome.recordId)).toMatchObject({
      stepReached: 'register',
      errorCode: 'provisioning.job-closed',
    });
    await expectNothingRegistered(late);
  });

  it('an existing-certificate job accepts no certificate of its CA once the CA is disabled', async () => {
    const bench = await existingBench('maker-2');
    await (await station.pki()).factoryCa.disable('maker-2', actor);
    const device = await makerCertified('maker-2');
    const outcome = await provisionDevice(bench, plug(device));
    expect(outcome.state).toBe('FAILED');
    expect(await station.records.byId(outcome.recordId)).toMatchObject({
      stepReached: 'register',
      errorCode: 'pki.ca-disabled',
    });
    await expectNothingRegistered(device);
  });

  it('a certificate signed just before its CA was disabled is neither registered nor written', async () => {
    const pki = await station.pki();
    await pki.factoryCa.createRoot({ name: 'closing-ca', days: 3650 }, actor);
    const jobId = await createCsrJob(station, {
      label: 'closing ca',
      prefix: 'CLOSING',
      ca: 'closing-ca',
      actor,
    });
    // `ca disable` in another terminal commits between the issue step and the register transaction.
    const bench = await openJobRuntime(station, jobId, {
      actor,
      emit: (event) => {
        if (event.type !== 'step-begin' || event.step !== 'register') return;
        void station.registry.transaction(actor, (tx) =>
          pki.factoryCa.cas.setStatus(tx, 'closing-ca', 'DISABLED'),
        );
      },
    });
    const device = createSimulator('jsonl', { seed: seed++ });
    const outcome = await provisionDevice(bench, plug(device));
    expect(outcome.state).toBe('FAILED');
    expect(await station.records.byId(outcome.recordId)).toMatchObject({
      stepReached: 'register',
      errorCode: 'pki.ca-disabled',
    });
    expect(device.storedCredentials().has('certificate'), 'nothing was written').toBe(false);
    expect(await station.devices.byIdentity(device.driver, device.identity.deviceId)).toBeUndefined();
    expect((await station.jobs.require(jobId)).issuedCount, 'no quota spent').toBe(0);
  });

  it('a claim job hands its claim to no further device once closed', async () => {
    const bench = await openJobRuntime(station, claimJob, { actor, emit: () => undefined });
    await close(claimJob);
    const device = createSimulator('jsonl', { seed: seed++ });
    const outcome = await provisionDevice(bench, plug(device));
    expect(outcome.state).toBe('FAILED');
    expect(await station.records.byId(outcome.recordId)).toMatchObject({
      stepReached: 'register',
      errorCode: 'provisioning.job-closed',
    });
    expect(device.storedCredentials().size, 'nothing was written').toBe(0);
    const carriers = await new ClaimTable(station.registry.reader).carriers(claimId);
    expect(carriers.map((carrier) => carrier.deviceId)).not.toContain(device.identity.deviceId);
  });

  it("a closed job's bench finishes the identities issued before the close, and issues nothing new", async () => {
    const jobId = fixture.jobs.csr;
    const running = await openJobRuntime(station, jobId, { actor, emit: () => undefined });
    const device = createSimulator('jsonl', {
      seed: seed++,
      faults: [{ kind: 'disconnect', match: 'write.chunk', nth: 1 }],
    });
    const cut = await provisionDevice(running, plug(device));
    expect(await station.records.byId(cut.recordId)).toMatchObject({ state: 'FAILED', stepReached: 'write' });

    // Closed from another terminal while the bench still runs (it holds the bench lock): the close says the
    // bench may still finish the identity, rather than have the technician revoke it.
    const bench = await BenchLock.acquire(fixture.dataDir);
    const closing = await runCliJson<{
      status: string;
      unfinished: { recordId: number; certificateId: string }[];
      benchRunning: boolean;
    }>(['job', 'close', String(jobId)], { dataDir: fixture.dataDir, env: fixture.env }).finally(() =>
      bench.release(),
    );
    expect(closing.code, closing.stderr).toBe(0);
    expect(closing.json).toMatchObject({
      status: 'completed',
      unfinished: [{ recordId: cut.recordId, certificateId: cut.certificateId }],
      benchRunning: process.platform === 'linux',
    });
    const issued = (await station.jobs.require(jobId)).issuedCount;

    // The technician starts the job's bench again, as the close said.
    const reopened = await openJobRuntime(station, jobId, { actor, emit: () => undefined });
    const newcomer = createSimulator('jsonl', { seed: seed++ });
    const refused = await provisionDevice(reopened, plug(newcomer));
    expect(refused).toMatchObject({ state: 'FAILED', mode: 'fresh' });
    expect(await station.records.byId(refused.recordId)).toMatchObject({
      stepReached: 'identify',
      errorCode: 'provisioning.job-closed',
    });
    expect(newcomer.storedCredentials().size).toBe(0);

    const finished = await provisionDevice(reopened, plug(device));
    expect(finished.error?.message ?? finished.state).toBe('PROVISIONED');
    expect(finished).toMatchObject({ mode: 'resume', certificateId: cut.certificateId });
    expect((await station.jobs.require(jobId)).issuedCount).toBe(issued);
    await expectInvariants(station, [device]);

    // Nothing is left to finish: the bench no longer opens.
    await expect(openJobRuntime(station, jobId, { actor, emit: () => undefined })).rejects.toMatchObject({
      code: 'provisioning.job-closed',
    });
  }, 30_000);

  it("a revoked identity on a closed job's bench is sent to an open job with --reprovision", async () => {
    const jobId = await createCsrJob(station, {
      label: 'closing line',
      prefix: 'closing',
      ca: caName,
      actor,
    });
    const running = await openJobRuntime(station, jobId, { actor, emit: () => undefined });
    const cutDevice = () =>
      createSimulator('jsonl', {
        seed: seed++,
        faults: [{ kind: 'disconnect', match: 'write.chunk', nth: 1 }],
      });
    const [revokedDevice, otherDevice] = [cutDevice(), cutDevice()];
    const revoked = await provisionDevice(running, plug(revokedDevice));
    await provisionDevice(running, plug(otherDevice)); // keeps the closed job's bench open
    await station.registry.transaction(actor, (tx) => station.jobs.close(tx, jobId));
    await (await station.pki()).revocation.revoke(revoked.certificateId!, 'cessationOfOperation', actor);

    const reopened = await openJobRuntime(station, jobId, { actor, emit: () => undefined });
    const refused = await provisionDevice(reopened, plug(revokedDevice));
    expect(refused.error?.code ?? refused.state).toBe('provisioning.identity-revoked');
    expect(refused.error?.message).toContain(
      `job ${jobId} is completed: provision it on an open job with --reprovision to give it a new one.`,
    );
  }, 30_000);
});
