// A device provisioned by one job and plugged into the bench of another: its live identity is the
// device's, whatever job made it. Another csr job re-verifies it against the CA that issued it (not the
// new job's CA); a claim job leaves it alone unless told --reprovision, and then revokes it as it writes
// the claim over its key.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '../../../hardware/drivers/index.js';
import { ClaimTable } from '../../../src/registry/claims.js';
import { provisionDevice, type JobRuntime } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';
import { createClaimJob, createCsrJob, plug, withSession } from './key-mode-fixture.js';

describe('a device plugged into the bench of another job', () => {
  let fixture: BenchFixture;
  let station: Station;
  let first: JobRuntime;
  let otherCa: JobRuntime;
  let claimJob: number;
  let claimId: string;
  let seed = 9400;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'cross-job-tests' });
    ({ jobId: claimJob, claimId } = await createClaimJob(fixture, {
      caName,
      claim: 'cross-claim',
      template: 'sensor',
      label: 'claim line',
    }));
    station = await fixture.open();
    const pki = await station.pki();
    await pki.factoryCa.createRoot({ name: 'second', days: 3650, pathLength: 0 }, actor);
    const second = await createCsrJob(station, {
      label: 'second CA line',
      prefix: 'second',
      ca: 'second',
      actor,
    });
    first = await openJobRuntime(station, fixture.jobs.csr, { actor, emit: () => undefined });
    otherCa = await openJobRuntime(station, second, { actor, emit: () => undefined });
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  async function provisioned() {
    const deviceSeed = seed++;
    const device = createSimulator('nrf91', { seed: deviceSeed });
    const outcome = await provisionDevice(first, plug(device));
    expect(outcome.error?.message ?? outcome.state).toBe('PROVISIONED');
    // The same device after an erase: same identity, empty slots.
    const erased = () => createSimulator('nrf91', { seed: deviceSeed });
    return { device, outcome, erased };
  }

  /** The digest of the certificate the device holds (an nRF91 reports only that). */
  async function heldCertificate(device: ReturnType<typeof createSimulator>): Promise<string | undefined> {
    const held = await withSession(device, (session) => session.readCredential('certificate'));
    return held.bytes ? sha256(held.bytes) : held.sha256?.toLowerCase();
  }
  const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

  it('another csr job re-verifies it against the CA that issued it, and issues nothing', async () => {
    const { device, outcome } = await provisioned();
    const again = await provisionDevice(otherCa, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again).toMatchObject({ mode: 'reverify', thingName: outcome.thingName });
    expect(await station.jobs.require(otherCa.job.id)).toMatchObject({ issuedCount: 0 });
  });

  it('a claim job leaves its identity alone without --reprovision', async () => {
    const { device, outcome, erased } = await provisioned();
    const pem = await heldCertificate(device);
    const runtime = await openJobRuntime(station, claimJob, { actor, emit: () => undefined });
    const again = await provisionDevice(runtime, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again).toMatchObject({ mode: 'reverify', thingName: outcome.thingName });
    expect(await heldCertificate(device)).toBe(pem);
    const certificate = await station.readOnlyPki().certificates.byId(outcome.certificateId!);
    expect(certificate?.status).toBe('ACTIVE');
    const carriers = await new ClaimTable(station.registry.reader).carriers(claimId);
    expect(carriers.map((carrier) => carrier.deviceId)).not.toContain(device.identity.deviceId);

    // Erased since, it is told how to get the claim instead.
    const refused = await provisionDevice(runtime, plug(erased()));
    expect(refused.state).toBe('FAILED');
    expect(refused.error?.message).toContain(
      `provisioned before as ${outcome.thingName}; plug it in with --reprovision to write the claim in its place (its own certificate is revoked).`,
    );
  });

  it('with --reprovision, a claim job writes the claim and revokes the identity it replaces', async () => {
    const { device, outcome } = await provisioned();
    const runtime = await openJobRuntime(station, claimJob, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const again = await provisionDevice(runtime, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again).toMatchObject({ mode: 'reissue', certificateId: claimId });
    const claim = await station.readOnlyPki().certificates.byId(claimId);
    expect(await heldCertificate(device)).toBe(sha256(claim!.pem));
    const replaced = await station.readOnlyPki().certificates.byId(outcome.certificateId!);
    expect(replaced).toMatchObject({ status: 'REVOKED', revocationReason: 'superseded: claim cross-claim' });
    // The CRL gives the reason's name, as openssl reads it.
    const crl = await (await station.pki()).revocation.crl(caName);
    const text = execFileSync('openssl', ['crl', '-noout', '-text'], { input: crl.pem, encoding: 'utf8' });
    const entry = text.slice(text.indexOf(`Serial Number: ${replaced!.serialHex.toUpperCase()}`));
    expect(entry).toMatch(
      /^Serial Number: \S+\s+Revocation Date: [^\n]+\s+CRL entry extensions:\s+X509v3 CRL Reason Code:\s+Superseded/,
    );
    const carriers = await new ClaimTable(station.registry.reader).carriers(claimId);
    expect(carriers.map((carrier) => carrier.deviceId)).toContain(device.identity.deviceId);
  });

  async function carrying() {
    const device = createSimulator('esp-at', { seed: seed++ });
    const claimRuntime = await openJobRuntime(station, claimJob, { actor, emit: () => undefined });
    const claimed = await provisionDevice(claimRuntime, plug(device));
    expect(claimed.error?.message ?? claimed.state).toBe('PROVISIONED');
    return { device, claimRuntime };
  }
  const carriedBy = async (device: ReturnType<typeof createSimulator>) =>
    (await new ClaimTable(station.registry.reader).carriers(claimId)).some(
      (carrier) => carrier.deviceId === device.identity.deviceId,
    );

  it('a device carrying the claim is re-verified by another job, which writes nothing over it', async () => {
    const { device } = await carrying();
    const held = device.storedCredentials();
    const inject = await openJobRuntime(station, fixture.jobs.inject, { actor, emit: () => undefined });
    const issued = (await station.jobs.require(fixture.jobs.inject)).issuedCount;
    const again = await provisionDevice(inject, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again).toMatchObject({ mode: 'reverify', certificateId: claimId });
    expect(device.storedCredentials()).toEqual(held);
    expect((await station.jobs.require(fixture.jobs.inject)).issuedCount).toBe(issued);
    expect(await carriedBy(device)).toBe(true);

    // Erased since, it is told how to get an identity of its own instead.
    const erased = createSimulator('esp-at', { seed: seed - 1 });
    const refused = await provisionDevice(inject, plug(erased));
    expect(refused).toMatchObject({ state: 'FAILED', mode: 'reverify' });
    expect(refused.error?.message).toContain(
      'plug it in with --reprovision to write a certificate of its own in place of the claim it carried.',
    );
  });

  it('with --reprovision, another job writes an identity of its own over the claim: no longer listed', async () => {
    const { device, claimRuntime } = await carrying();
    const replacing = await openJobRuntime(station, fixture.jobs.inject, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const own = await provisionDevice(replacing, plug(device));
    expect(own.error?.message ?? own.state).toBe('PROVISIONED');
    expect(own.mode).toBe('reissue');
    expect(await carriedBy(device)).toBe(false);
    const claim = await station.readOnlyPki().certificates.byId(claimId);
    expect(claim?.status, 'the claim stays valid for the devices that carry it').toBe('ACTIVE');
    await expectInvariants(station, [device]);

    // The claim job, its last record naming the claim, re-verifies the identity the device holds now.
    const again = await provisionDevice(claimRuntime, plug(device));
    expect(again).toMatchObject({ state: 'PROVISIONED', mode: 'reverify', certificateId: own.certificateId });
  });

  it('stays listed as carrying the claim while the identity written over it is cut short, until it is finished', async () => {
    // The claim's write is three AT+SYSMFG=2 (CA, certificate, key); the fifth tears the own certificate's.
    const device = createSimulator('esp-at', {
      seed: seed++,
      faults: [{ kind: 'disconnect', match: 'AT+SYSMFG=2', nth: 5 }],
    });
    const claimRuntime = await openJobRuntime(station, claimJob, { actor, emit: () => undefined });
    expect((await provisionDevice(claimRuntime, plug(device))).state).toBe('PROVISIONED');
    const replacing = await openJobRuntime(station, fixture.jobs.inject, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const cut = await provisionDevice(replacing, plug(device));
    expect(cut).toMatchObject({ state: 'FAILED', mode: 'reissue' });
    expect(await station.records.byId(cut.recordId)).toMatchObject({ stepReached: 'write' });
    // The device may still hold the claim's certificate or key: a leak of the claim must still find it.
    expect(await carriedBy(device)).toBe(true);

    const finished = await provisionDevice(replacing, plug(device));
    expect(finished.error?.message ?? finished.state).toBe('PROVISIONED');
    expect(await carriedBy(device)).toBe(false);
    await expectInvariants(station, [device]);
  });

  it('a device that carried the claim and then got an identity of its own keeps it from the claim job', async () => {
    const { device, claimRuntime } = await carrying();
    const inject = await openJobRuntime(station, fixture.jobs.inject, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const own = await provisionDevice(inject, plug(device));
    expect(own.error?.message ?? own.state).toBe('PROVISIONED');

    // The claim job's last record names the claim, but the device now holds its own identity.
    const again = await provisionDevice(claimRuntime, plug(device));
    expect(again.error?.message ?? again.state).toBe('PROVISIONED');
    expect(again).toMatchObject({ mode: 'reverify', certificateId: own.certificateId });
    const replacing = await openJobRuntime(station, claimJob, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const replaced = await provisionDevice(replacing, plug(device));
    expect(replaced.error?.message ?? replaced.state).toBe('PROVISIONED');
    expect(replaced).toMatchObject({ mode: 'reissue', certificateId: claimId });
    const pki = station.readOnlyPki();
    expect(await pki.certificates.byId(own.certificateId!)).toMatchObject({ status: 'REVOKED' });
    expect(await heldCertificate(device)).toBe(sha256((await pki.certificates.byId(claimId))!.pem));
  });
});
