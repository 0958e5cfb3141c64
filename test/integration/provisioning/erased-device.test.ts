// A provisioned device that lost its credentials (erased, reflashed) and is plugged in again: the station
// recognises its identity, finds the slots empty, and says how to give it a new certificate; nothing is
// issued until the technician asks with --reprovision, which revokes the old certificate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceSimulator } from '../../../hardware/drivers/device-driver.js';
import { createSimulator, driverByName } from '../../../hardware/drivers/index.js';
import { createMemoryPair } from '../../../hardware/sim/memory-pair.js';
import { linkFromDuplex } from '../../../hardware/transport/duplex-link.js';
import type { ProvisioningEvent } from '../../../src/api/provisioning.js';
import { openLinkDevicePort } from '../../../src/provisioning/bench.js';
import { provisionDevice } from '../../../src/provisioning/device-pipeline.js';
import { openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { actor, createBenchFixture, keyModeFor, type BenchFixture } from './bench-fixture.js';
import { expectInvariants } from './invariants.js';

describe('a provisioned device plugged in again after it was erased', () => {
  let fixture: BenchFixture;
  let station: Station;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'erased-device-tests' });
    station = await fixture.open();
  });

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  function plug(simulator: DeviceSimulator) {
    const pair = createMemoryPair();
    simulator.attach(pair.device);
    return openLinkDevicePort(linkFromDuplex('bench-1', pair.host), driverByName(simulator.driver));
  }

  it.each(['nrf91', 'esp-at'] as const)(
    '%s: names the thing and --reprovision, then re-issues',
    async (driver) => {
      const jobId = fixture.jobs[keyModeFor(driver)];
      const logs: string[] = [];
      const emit = (event: ProvisioningEvent) => {
        if (event.type === 'log') logs.push(`${event.level} ${event.message}`);
      };
      const runtime = await openJobRuntime(station, jobId, { actor, emit });
      const seed = driver === 'nrf91' ? 101 : 202;
      const device = createSimulator(driver, { seed });
      const first = await provisionDevice(runtime, plug(device));
      expect(first.error?.message ?? first.state).toBe('PROVISIONED');
      const certificateId = first.certificateId!;
      // The log says what happened, step by step, and carries no secret.
      expect(logs).toEqual([
        expect.stringMatching(new RegExp(`^info ${driver} device ${device.identity.deviceId} \\(`)),
        ...(driver === 'nrf91'
          ? [expect.stringMatching(/^info the device made its key and a \d+-byte CSR$/)]
          : []),
        expect.stringMatching(
          new RegExp(`^info certificate ${certificateId} for ${first.thingName} signed by CA`),
        ),
        expect.stringMatching(/^info wrote ca \(\d+ B\), certificate \(\d+ B\)/),
        `info the device holds what the registry says (${driver} devices cannot sign a challenge to prove their key)`,
      ]);
      expect(logs.join('\n')).not.toMatch(/PRIVATE KEY|BEGIN|passphrase/i);
      const issued = (await station.jobs.require(jobId)).issuedCount;

      // The same identity with empty storage, as after a reflash.
      const erased = createSimulator(driver, { seed });
      logs.length = 0;
      const refused = await provisionDevice(runtime, plug(erased));
      expect(refused).toMatchObject({
        state: 'FAILED',
        mode: 'reverify',
        error: { code: 'device.credential-missing' },
      });
      expect(logs[1]).toBe(
        `info provisioned before as ${first.thingName} (certificate ${certificateId}): verifying it, nothing is issued`,
      );
      expect(refused.error!.message).toContain(`provisioned before as ${first.thingName}`);
      expect(refused.error!.message).toContain('plug it in with --reprovision to give it a new certificate');
      expect(refused.error!.message).not.toContain('after writing it');
      expect((await station.jobs.require(jobId)).issuedCount, 'nothing issued').toBe(issued);
      expect((await station.readOnlyPki().certificates.byId(first.certificateId!))?.status).toBe('ACTIVE');
      // Plugged in again without --reprovision: verified again, not resumed. Resuming would write the old
      // certificate to a device that no longer holds its key, and an nRF91 could not show it.
      const again = await provisionDevice(runtime, plug(erased));
      expect(again).toMatchObject({
        state: 'FAILED',
        mode: 'reverify',
        error: { code: 'device.credential-missing' },
      });
      expect(erased.storedCredentials().size, 'nothing written').toBe(0);
      expect((await station.jobs.require(jobId)).issuedCount, 'nothing issued').toBe(issued);

      const reprovisioning = await openJobRuntime(station, jobId, { actor, reprovision: true, emit });
      logs.length = 0;
      const replaced = await provisionDevice(reprovisioning, plug(erased));
      expect(logs[1]).toBe(`warn --reprovision: certificate ${certificateId} will be revoked and replaced`);
      expect(replaced.error?.message ?? replaced.state).toBe('PROVISIONED');
      expect(replaced).toMatchObject({ mode: 'reissue', thingName: first.thingName });
      expect((await station.readOnlyPki().certificates.byId(first.certificateId!))?.status).toBe('REVOKED');
      await expectInvariants(station, [erased]);
    },
  );

  it('a device whose certificate was revoked (key compromise) gets a new one only with --reprovision', async () => {
    const runtime = await openJobRuntime(station, fixture.jobs.csr, { actor, emit: () => undefined });
    const device = createSimulator('nrf91', { seed: 303 });
    const first = await provisionDevice(runtime, plug(device));
    expect(first.error?.message ?? first.state).toBe('PROVISIONED');
    const pki = await station.pki();
    await pki.revocation.revoke(first.certificateId!, 'keyCompromise', actor);
    const issued = (await station.jobs.require(fixture.jobs.csr)).issuedCount;

    const refused = await provisionDevice(runtime, plug(device));
    expect(refused.state).toBe('FAILED');
    expect(refused.error).toMatchObject({ code: 'provisioning.identity-revoked' });
    expect(refused.error?.message).toContain(
      `This device is ${first.thingName}, whose certificate ${first.certificateId} was revoked (keyCompromise, `,
    );
    expect((await station.records.byId(refused.recordId))?.stepReached).toBe('identify');
    expect((await station.jobs.require(fixture.jobs.csr)).issuedCount).toBe(issued);

    const replacing = await openJobRuntime(station, fixture.jobs.csr, {
      actor,
      reprovision: true,
      emit: () => undefined,
    });
    const replaced = await provisionDevice(replacing, plug(device));
    expect(replaced.error?.message ?? replaced.state).toBe('PROVISIONED');
    expect(replaced.thingName).toBe(first.thingName);
    expect(replaced.certificateId).not.toBe(first.certificateId);
    await expectInvariants(station, [device]);
  });

  it.each(['detached from its thing', 'detached and its thing deleted'])(
    'a device whose revoked certificate was then %s still needs --reprovision',
    async (afterwards) => {
      const runtime = await openJobRuntime(station, fixture.jobs.csr, { actor, emit: () => undefined });
      const device = createSimulator('nrf91', { seed: afterwards.includes('deleted') ? 305 : 304 });
      const first = await provisionDevice(runtime, plug(device));
      expect(first.error?.message ?? first.state).toBe('PROVISIONED');
      await (await station.pki()).revocation.revoke(first.certificateId!, 'keyCompromise', actor);
      await station.registry.transaction(actor, async (tx) => {
        await station.registry.things.detachPrincipal(tx, first.thingName!, first.certificateId!);
        if (afterwards.includes('deleted')) await station.registry.things.delete(tx, first.thingName!);
      });
      const issued = (await station.jobs.require(fixture.jobs.csr)).issuedCount;

      const refused = await provisionDevice(runtime, plug(device));
      expect(refused.error?.code ?? refused.state).toBe('provisioning.identity-revoked');
      expect(refused.error?.message).toContain(
        `This device is ${first.thingName}, whose certificate ${first.certificateId} was revoked (keyCompromise, `,
      );
      expect((await station.jobs.require(fixture.jobs.csr)).issuedCount).toBe(issued);
    },
  );

  it("stops a device whose certificate an operator revoked as superseded, unlike the station's own", async () => {
    const runtime = await openJobRuntime(station, fixture.jobs.csr, { actor, emit: () => undefined });
    const device = createSimulator('nrf91', { seed: 306 });
    const first = await provisionDevice(runtime, plug(device));
    expect(first.error?.message ?? first.state).toBe('PROVISIONED');
    await (await station.pki()).revocation.revoke(first.certificateId!, 'superseded', actor);
    const refused = await provisionDevice(runtime, plug(device));
    expect(refused.error?.code ?? refused.state).toBe('provisioning.identity-revoked');
    expect(refused.error?.message).toContain('was revoked (superseded, ');
  });
});
