// Key mode `existing`: devices that already hold a certificate from their maker (a CA whose key the
// station does not hold, registered as external) are registered as they are: certificate read back,
// chain and validity checked, key proven where the driver can sign, thing and policy made, nothing written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CredentialSlot,
  DeviceDriver,
  DeviceOperationOptions,
  DeviceSimulator,
  DriverName,
} from '../../../hardware/drivers/device-driver.js';
import { createSimulator } from '../../../hardware/drivers/index.js';
import type { ExistingCertificateOptions } from '../../../src/api/jobs.js';
import { parseCertificate } from '../../../src/pki/certificate-reader.js';
import { pemBlocks, toPem } from '../../../src/pki/pem.js';
import type { Pki } from '../../../src/pki/pki.js';
import {
  provisionDevice,
  type DevicePort,
  type JobRuntime,
} from '../../../src/provisioning/device-pipeline.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { makeCa, makeDeviceCertificate, p256Keys } from '../../helpers/certificates.js';
import { actor, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import {
  createStationFolder,
  plug,
  provisionUntilCrash,
  restartFrom,
  withSession,
} from './key-mode-fixture.js';

/** JITP-style: the thing is named by the certificate's CN (aws-iot-spec.md 1, built-in parameters). */
const jitpTemplate = JSON.stringify({
  Parameters: { SerialNumber: { Type: 'String' } },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' },
        AttributePayload: { serialNumber: { Ref: 'SerialNumber' } },
      },
    },
    certificate: {
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
    },
    policy: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'device-connect' } },
  },
});

const connectPolicy = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/${iot:ClientId}' }],
});

/** How the maker's line left the device. */
type Preload =
  | 'device-key' // the device made its key; the maker CA certified it (jsonl)
  | 'injected-key' // the maker wrote certificate and key (esp-at)
  | 'foreign-key'; // the device made its key, but holds a certificate for another key

/** The port, its device acknowledging every write of `slot` without storing it. */
function ignoringWrites(port: DevicePort, slot: CredentialSlot): DevicePort {
  const driver: DeviceDriver = Object.create(port.driver) as DeviceDriver;
  driver.open = async (link, options) => {
    const session = await port.driver.open(link, options);
    return new Proxy(session, {
      get(target, property, receiver) {
        if (property === 'writeCredential') {
          return (written: CredentialSlot, content: Uint8Array, writeOptions?: DeviceOperationOptions) =>
            written === slot ? Promise.resolve() : target.writeCredential(written, content, writeOptions);
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  return { ...port, driver };
}

describe('key mode existing', () => {
  let factory: BenchFixture;
  let maker: Awaited<ReturnType<typeof createStationFolder>>;
  let station: Station;
  let makerStation: Station;
  let makerPki: Pki;
  const runtimes: Record<'trusting' | 'proving' | 'withoutCa', JobRuntime> = {} as never;
  let seed = 7000;

  async function preload(driver: DriverName, how: Preload, caName = 'maker'): Promise<DeviceSimulator> {
    const simulator = createSimulator(driver, { seed: seed++ });
    await certify(simulator, how, caName);
    return simulator;
  }

  /** The maker's line gives the device a certificate (again: a new key and certificate, same CN). */
  async function certify(simulator: DeviceSimulator, how: Preload, caName = 'maker'): Promise<void> {
    const commonName = `maker-${simulator.identity.deviceId.replace(/[^A-Za-z0-9_-]/g, '')}`;
    const ca = await makerPki.factoryCa.get(caName);
    await withSession(simulator, async (session) => {
      let certificatePem: string;
      if (how === 'device-key') {
        const csr = await session.generateCsr({ commonName });
        certificatePem = (await makerPki.issuer.issueFromCsr(csr, { caName, commonName }, actor)).certificate
          .pem;
      } else {
        if (how === 'foreign-key') await session.generateCsr({ commonName });
        const injected = await makerPki.issuer.issueWithInjectedKey({ caName, commonName }, actor);
        certificatePem = injected.certificate.pem;
        if (how === 'injected-key') {
          await session.writeCredential('key', Buffer.from(toPem('PRIVATE KEY', injected.privateKeyPkcs8)));
        }
      }
      await session.writeCredential('ca', Buffer.from(ca.pem));
      await session.writeCredential('certificate', Buffer.from(certificatePem));
    });
  }

  async function existingJob(label: string, ca: string | undefined, existing: ExistingCertificateOptions) {
    const job = await createJob(
      station,
      {
        label,
        template: { name: 'jitp-sensor' },
        parameters: { constants: {}, identity: { SerialNumber: 'deviceId' } },
        driver: 'auto',
        ...(ca !== undefined && { ca }),
        keyMode: 'existing',
        quota: 5,
        existing,
      },
      actor,
    );
    return openJobRuntime(station, job.id, { actor, emit: () => undefined });
  }

  beforeAll(async () => {
    maker = await createStationFolder('station-maker-');
    makerStation = await maker.open();
    makerPki = await makerStation.pki();
    await makerPki.factoryCa.createRoot({ name: 'maker', days: 3650 }, actor);
    await makerPki.factoryCa.createRoot({ name: 'rogue', days: 3650 }, actor);

    factory = await createBenchFixture({ kind: 'soft' }, { passphrase: 'existing-tests' });
    station = await factory.open();
    const pki = await station.pki();
    await pki.factoryCa.registerExternal('maker', (await makerPki.factoryCa.get('maker')).pem, actor);
    await station.registry.transaction(actor, async (tx) => {
      await station.policies.create(tx, 'device-connect', connectPolicy);
      await station.templates.add(tx, 'jitp-sensor', jitpTemplate);
    });
    runtimes.trusting = await existingJob('maker devices', 'maker', {
      allowWithoutCa: false,
      requireProofOfPossession: false,
    });
    runtimes.proving = await existingJob('maker devices, proven', 'maker', {
      allowWithoutCa: false,
      requireProofOfPossession: true,
    });
    runtimes.withoutCa = await existingJob('any certificate', undefined, {
      allowWithoutCa: true,
      requireProofOfPossession: false,
    });
  });

  afterAll(async () => {
    await station?.close();
    await makerStation?.close();
    await factory?.cleanup();
    await maker?.cleanup();
  });

  it('registers the certificates devices hold: thing from the CN, nothing written, no quota spent', async () => {
    const devices = [
      await preload('jsonl', 'device-key'),
      await preload('jsonl', 'device-key'),
      await preload('esp-at', 'injected-key'),
    ];
    const before = devices.map((device) => device.storedCredentials());
    const outcomes = await Promise.all(
      devices.map((device) => provisionDevice(runtimes.trusting, plug(device))),
    );
    expect(outcomes.map((outcome) => outcome.error?.message ?? outcome.state)).toEqual(
      Array(3).fill('PROVISIONED'),
    );

    const makerCa = await station.readOnlyPki().factoryCa.get('maker');
    for (const [index, outcome] of outcomes.entries()) {
      expect(devices[index]!.storedCredentials(), 'the station wrote nothing').toEqual(before[index]);
      const certificate = await station.readOnlyPki().certificates.byId(outcome.certificateId!);
      expect(certificate).toMatchObject({ keyOrigin: 'external', caId: makerCa.id, status: 'ACTIVE' });
      expect(outcome.thingName).toBe(certificate!.subject.replace(/^CN=/, ''));
      expect(await station.policies.forCertificate(certificate!.id)).toMatchObject([
        { name: 'device-connect' },
      ]);
      const steps = await station.records.steps(outcome.recordId);
      const outcomeOf = (step: string) => steps.find((entry) => entry.step === step)?.outcome;
      expect(outcomeOf('write')).toBe('skipped');
      expect(outcomeOf('key'), 'the key step proves possession').toBe('ok');
    }
    expect((await station.jobs.require(runtimes.trusting.job.id)).issuedCount).toBe(0);
    await expectInvariants(station, devices);

    // Plugged in again: re-verified (read back, proof of possession), nothing registered twice.
    const again = await provisionDevice(runtimes.trusting, plug(devices[0]!));
    expect(again).toMatchObject({ state: 'PROVISIONED', certificateId: outcomes[0]!.certificateId });
    expect(await station.readOnlyPki().certificates.list({ caId: makerCa.id })).toHaveLength(3);
  });

  it('re-verifies a registered certificate in a csr job too: read back and proven, nothing written', async () => {
    const device = await preload('jsonl', 'device-key');
    const registered = await provisionDevice(runtimes.trusting, plug(device));
    expect(registered.error?.message ?? registered.state).toBe('PROVISIONED');
    const held = device.storedCredentials();
    const csrJob = await openJobRuntime(station, factory.jobs.csr, { actor, emit: () => undefined });
    const again = await provisionDevice(csrJob, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again).toMatchObject({ mode: 'reverify', certificateId: registered.certificateId });
    expect(device.storedCredentials()).toEqual(held);
    const steps = await station.records.steps(again.recordId);
    expect(steps.find((entry) => entry.step === 'verify')?.outcome).toBe('ok');
  });

  it('verifies a device re-provisioned from its external certificate as fully as any: its CA slot too', async () => {
    const device = await preload('jsonl', 'device-key');
    const registered = await provisionDevice(runtimes.trusting, plug(device));
    expect(registered.error?.message ?? registered.state).toBe('PROVISIONED');
    const csrJob = await openJobRuntime(station, factory.jobs.csr, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    // The device acknowledges the factory CA but keeps the maker's: only reading the slot back shows it.
    const outcome = await provisionDevice(csrJob, ignoringWrites(plug(device), 'ca'));
    expect(outcome).toMatchObject({ state: 'FAILED', mode: 'reissue' });
    expect(outcome.error).toMatchObject({ code: 'device.credential-mismatch', details: { slot: 'ca' } });
    expect(await station.records.byId(outcome.recordId)).toMatchObject({ stepReached: 'verify' });
  });

  it('refuses a certificate from a CA it does not know, naming the issuer', async () => {
    const device = await preload('jsonl', 'device-key', 'rogue');
    const outcome = await provisionDevice(runtimes.trusting, plug(device));
    expect(outcome.state).toBe('FAILED');
    const record = await station.records.byId(outcome.recordId);
    expect(record).toMatchObject({ stepReached: 'issue', errorCode: 'pki.certificate-untrusted' });
    expect(record!.errorMessage).toContain("is not issued by CA 'maker'");
    expect(record!.errorMessage).toContain('CN=rogue');
    expect(await station.devices.byIdentity('jsonl', device.identity.deviceId)).toBeUndefined();
  });

  it('registers a certificate of an unknown CA when the job accepts certificates without a CA', async () => {
    const device = await preload('jsonl', 'device-key', 'rogue');
    const outcome = await provisionDevice(runtimes.withoutCa, plug(device));
    expect(outcome.error?.message ?? outcome.state).toBe('PROVISIONED');
    const certificate = await station.readOnlyPki().certificates.byId(outcome.certificateId!);
    expect(certificate).toMatchObject({ keyOrigin: 'external', status: 'ACTIVE' });
    expect(certificate!.caId).toBeUndefined();
    await expectInvariants(station, [device]);
  });

  it("refuses a certificate outside the name constraints of its CA's chain, registering nothing", async () => {
    const fenced = makeCa({ commonName: 'Fenced Maker Root', permittedDns: ['devices.acme.com'] });
    const pki = await station.pki();
    await pki.factoryCa.registerExternal('fenced-maker', toPem('CERTIFICATE', fenced.certificate.der), actor);
    const fencedJob = await existingJob('fenced maker devices', 'fenced-maker', {
      allowWithoutCa: false,
      requireProofOfPossession: false,
    });
    // The maker's line wrote key and certificate (esp-at), the certificate naming a host the CA fences out.
    const device = createSimulator('esp-at', { seed: seed++ });
    const keys = p256Keys();
    const certificate = makeDeviceCertificate({
      commonName: 'fenced-1',
      issuer: fenced,
      keys,
      subjectAltNames: { dns: ['fenced-1.evil.example'] },
    });
    await withSession(device, async (session) => {
      await session.writeCredential(
        'key',
        Buffer.from(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
      );
      await session.writeCredential('certificate', Buffer.from(toPem('CERTIFICATE', certificate.der)));
    });
    const outcome = await provisionDevice(fencedJob, plug(device));
    expect(outcome.state).toBe('FAILED');
    const record = await station.records.byId(outcome.recordId);
    expect(record).toMatchObject({ stepReached: 'issue', errorCode: 'pki.name-constraint' });
    expect(record!.errorMessage).toContain('the DNS name fenced-1.evil.example is outside the subtrees');
    expect(await station.readOnlyPki().certificates.byId(certificate.id)).toBeUndefined();
    expect(await station.devices.byIdentity('esp-at', device.identity.deviceId)).toBeUndefined();
  });

  it('refuses a device that holds no certificate', async () => {
    const blank = createSimulator('jsonl', { seed: seed++ });
    const outcome = await provisionDevice(runtimes.trusting, plug(blank));
    expect(outcome.state).toBe('FAILED');
    const record = await station.records.byId(outcome.recordId);
    expect(record).toMatchObject({ stepReached: 'identify', errorCode: 'device.no-certificate' });
    expect(record!.errorMessage).toContain('holds no certificate');
  });

  it('refuses a device that cannot prove it holds the key of its certificate', async () => {
    const device = await preload('jsonl', 'foreign-key');
    const outcome = await provisionDevice(runtimes.trusting, plug(device));
    expect(outcome.state).toBe('FAILED');
    const record = await station.records.byId(outcome.recordId);
    expect(record).toMatchObject({ stepReached: 'key', errorCode: 'device.proof-of-possession-failed' });
    const held = device.storedCredentials().get('certificate')!;
    const pki = station.readOnlyPki();
    expect(
      (await pki.certificates.list({ limit: 1000 })).some(
        (entry) => entry.pem === Buffer.from(held).toString(),
      ),
      'the unproven certificate is not registered',
    ).toBe(false);
  });

  it('refuses a driver that cannot sign when the job requires proof, and accepts one that can', async () => {
    const cannotSign = await preload('esp-at', 'injected-key');
    const refused = await provisionDevice(runtimes.proving, plug(cannotSign));
    expect(refused.state).toBe('FAILED');
    expect(await station.records.byId(refused.recordId)).toMatchObject({
      stepReached: 'key',
      errorCode: 'provisioning.proof-unavailable',
    });
    const signs = await preload('jsonl', 'device-key');
    const accepted = await provisionDevice(runtimes.proving, plug(signs));
    expect(accepted.error?.message ?? accepted.state).toBe('PROVISIONED');
  });

  it('refuses a certificate already registered for another device (a copied certificate)', async () => {
    const original = await preload('esp-at', 'injected-key');
    expect((await provisionDevice(runtimes.trusting, plug(original))).state).toBe('PROVISIONED');
    const copy = createSimulator('esp-at', { seed: seed++ });
    await withSession(copy, (session) =>
      session.writeCredential('certificate', original.storedCredentials().get('certificate')!),
    );
    const outcome = await provisionDevice(runtimes.trusting, plug(copy));
    expect(outcome.state).toBe('FAILED');
    expect(await station.records.byId(outcome.recordId)).toMatchObject({
      stepReached: 'identify',
      errorCode: 'provisioning.certificate-taken',
    });
  });

  it("registers a device's new certificate only with --reprovision, revoking the one it replaces", async () => {
    const device = await preload('jsonl', 'device-key');
    const first = await provisionDevice(runtimes.trusting, plug(device));
    expect(first.error?.message ?? first.state).toBe('PROVISIONED');
    const reprovisioning = await openJobRuntime(station, runtimes.trusting.job.id, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const unchanged = await provisionDevice(reprovisioning, plug(device));
    expect(await station.records.byId(unchanged.recordId)).toMatchObject({
      state: 'FAILED',
      errorCode: 'provisioning.certificate-unchanged',
    });

    await certify(device, 'device-key');
    const plain = await provisionDevice(runtimes.trusting, plug(device));
    expect(await station.records.byId(plain.recordId), 'without --reprovision: re-verified').toMatchObject({
      state: 'FAILED',
      errorCode: 'device.credential-mismatch',
    });
    const replaced = await provisionDevice(reprovisioning, plug(device));
    expect(replaced.error?.message ?? replaced.state).toBe('PROVISIONED');
    expect(replaced.thingName).toBe(first.thingName);
    expect(replaced.certificateId).not.toBe(first.certificateId);
    expect(await station.readOnlyPki().certificates.byId(first.certificateId!)).toMatchObject({
      status: 'REVOKED',
      revocationReason: 'superseded: re-provisioned',
    });
    await expectInvariants(station, [device]);
  });

  it('finishes a registration the station died after, once restarted and the device is plugged in again', async () => {
    const device = await preload('jsonl', 'device-key');
    // The station dies as verification begins: thing, certificate and record ISSUED are committed.
    const { cut, crashedDir } = await provisionUntilCrash(
      station,
      runtimes.trusting.job.id,
      device,
      'verify',
    );
    expect(cut.state).toBe('FAILED');

    await restartFrom(crashedDir, { passphrase: 'existing-tests' }, async (restarted, report) => {
      expect(report.find((entry) => entry.recordId === cut.recordId)).toMatchObject({
        stepReached: 'register',
        resolution: 'awaiting-device',
      });
      const runtime = await openJobRuntime(restarted, runtimes.trusting.job.id, {
        actor,
        emit: () => undefined,
      });
      const finished = await provisionDevice(runtime, plug(device));
      expect(finished.error?.message ?? finished.state).toBe('PROVISIONED');
      const held = parseCertificate(
        pemBlocks(Buffer.from(device.storedCredentials().get('certificate')!).toString())[0]!.der,
      );
      expect(finished.certificateId, 'the certificate registered before the crash').toBe(held.id);
      expect(await restarted.readOnlyPki().certificates.byId(held.id)).toMatchObject({ status: 'ACTIVE' });
      await expectInvariants(restarted, [device]);
    });
  });
});
