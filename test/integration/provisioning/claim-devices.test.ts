// Key mode `claim`: every device of the job gets the same claim certificate and key (fleet provisioning by
// claim, aws-iot-spec.md 3), the registry records which devices carry it, and a revoked claim reaches no
// further device. The claim is made, listed and revoked through the CLI, as a technician would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator, DriverName } from '../../../hardware/drivers/device-driver.js';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { registryFile } from '../../../src/config/settings.js';
import { pemBlocks } from '../../../src/pki/pem.js';
import { provisionDevice, type JobRuntime } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { ClaimCarrier } from '../../../src/registry/claims.js';
import type { Station } from '../../../src/station.js';
import { runCli, runCliJson } from '../../helpers/cli.js';
import { filesUnder } from '../../helpers/folder-files.js';
import { actor, caName, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import { createClaimJob, plug } from './key-mode-fixture.js';

const passphrase = 'claim-device-tests';
const claimDrivers: DriverName[] = ['jsonl', 'jsonl', 'esp-at', 'quectel'];

describe('key mode claim', () => {
  let fixture: BenchFixture;
  let station: Station;
  let runtime: JobRuntime;
  let claimId: string;
  let jobId: number;
  let seed = 9100;
  const devices: DeviceSimulator[] = [];
  const cli = (args: string[]) => runCli(args, { dataDir: fixture.dataDir, env: fixture.env });
  const cliJson = <T>(args: string[]) => runCliJson<T>(args, { dataDir: fixture.dataDir, env: fixture.env });

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase });
    const created = await createClaimJob(fixture, {
      caName,
      claim: 'line-1-claim',
      template: 'sensor',
      label: 'claim line',
    });
    expect(created.stderr).toBe('');
    expect(created.policy).toBe('claim-sensor');
    ({ claimId, jobId } = created);
    station = await fixture.open();
    runtime = await openJobRuntime(station, jobId, { actor, emit: () => undefined });
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  it('writes the CA, the claim certificate and its key to every device, makes no thing, spends no quota', async () => {
    devices.push(...claimDrivers.map((driver) => createSimulator(driver, { seed: seed++ })));
    const outcomes = await Promise.all(devices.map((device) => provisionDevice(runtime, plug(device))));
    expect(outcomes.map((outcome) => outcome.error?.message ?? outcome.state)).toEqual(
      Array(devices.length).fill('PROVISIONED'),
    );
    expect(outcomes.every((outcome) => outcome.certificateId === claimId)).toBe(true);

    const claim = await station.readOnlyPki().certificates.byId(claimId);
    expect(claim).toMatchObject({ keyOrigin: 'claim', status: 'ACTIVE' });
    expect(await station.policies.forCertificate(claimId)).toMatchObject([{ name: 'claim-sensor' }]);
    for (const device of devices) {
      expect(Buffer.from(device.storedCredentials().get('certificate')!).toString()).toBe(claim!.pem);
    }
    expect((await station.registry.things.search({})).things).toHaveLength(0);
    expect((await station.jobs.require(jobId)).issuedCount).toBe(0);
    await expectInvariants(station, devices);
  });

  it('keeps the claim key out of the registry and every other file of the data folder', async () => {
    const keyPem = Buffer.from(devices[0]!.storedCredentials().get('key')!).toString();
    const [block] = pemBlocks(keyPem);
    expect(block?.label).toBe('PRIVATE KEY');
    const body = Buffer.from(block!.der).toString('base64').slice(0, 48);
    const der = Buffer.from(block!.der);
    const checked: string[] = [];
    for (const { file, bytes } of await filesUnder(fixture.dataDir)) {
      checked.push(file);
      expect(bytes.includes(der), file).toBe(false);
      expect(bytes.toString('latin1').includes(body), file).toBe(false);
    }
    expect(checked).toContain(registryFile(fixture.dataDir));
  });

  it('lists the devices carrying the claim, and re-verifies a device plugged in again', async () => {
    const again = await provisionDevice(runtime, plug(devices[0]!));
    expect(again).toMatchObject({ state: 'PROVISIONED', certificateId: claimId });
    const steps = await station.records.steps(again.recordId);
    expect(steps.find((step) => step.step === 'write')?.outcome).toBe('skipped');

    const listed = await cliJson<ClaimCarrier[]>(['claim', 'devices', claimId]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.json.map((row) => `${row.driver}:${row.deviceId}`).sort()).toEqual(
      devices.map((device) => `${device.driver}:${device.identity.deviceId}`).sort(),
    );
    expect(listed.json.every((row) => row.recordState === 'PROVISIONED' && row.jobId === jobId)).toBe(true);
    const byName = await cli(['claim', 'devices', 'line-1-claim']);
    expect(byName.stdout.trim().split('\n')).toHaveLength(devices.length);
  }, 30_000);

  it('refuses a revoked claim: no further device gets it, and no new job or bench takes it', async () => {
    const revoked = await cli(['cert', 'revoke', claimId, '--reason', 'keyCompromise']);
    expect(revoked.code, revoked.stderr).toBe(0);

    // The bench that opened before the revocation re-checks the claim in the registry transaction.
    const late = createSimulator('jsonl', { seed: seed++ });
    const outcome = await provisionDevice(runtime, plug(late));
    expect(outcome.state).toBe('FAILED');
    const record = await station.records.byId(outcome.recordId);
    expect(record).toMatchObject({ stepReached: 'register', errorCode: 'provisioning.claim-revoked' });
    expect(late.storedCredentials().size, 'nothing was written').toBe(0);
    const carriers = await cliJson<ClaimCarrier[]>(['claim', 'devices', claimId]);
    expect(carriers.json).toHaveLength(devices.length);

    const job = await cli([
      'job',
      'create',
      '--label',
      'leaked claim',
      '--template',
      'sensor',
      '--key-mode',
      'claim',
      '--claim',
      'line-1-claim',
      '--quota',
      '1',
    ]);
    expect(job.code).toBe(1);
    expect(job.stderr).toContain('revoked');
    await expect(openJobRuntime(station, jobId, { actor, emit: () => undefined })).rejects.toMatchObject({
      code: 'provisioning.claim-revoked',
    });
  }, 30_000);
});
