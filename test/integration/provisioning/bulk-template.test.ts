// AWS's bulk-registration template T01 (../shared/reference/aws, read in place) at the bench: its
// certificate comes from a CSR parameter, which the station fills with the device's own CSR (csr jobs) or
// one the injected key signed (inject jobs); the thing type and groups it names must be in the registry
// before a job may use it, and still be there when a bench opens on the job.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverName } from '../../../hardware/drivers/device-driver.js';
import { createSimulator } from '../../../hardware/drivers/index.js';
import type { JobSpec } from '../../../src/api/jobs.js';
import { caKeyLabel } from '../../../src/pki/ca-records.js';
import { checkCsr } from '../../../src/pki/csr.js';
import { pemBlocks } from '../../../src/pki/pem.js';
import { provisionDevice } from '../../../src/provisioning/device-pipeline.js';
import { createJob, openJobRuntime } from '../../../src/provisioning/job-runtime.js';
import type { Station } from '../../../src/station.js';
import { repoRoot } from '../../helpers/repo-root.js';
import { createSoftHsmToken } from '../../helpers/softhsm.js';
import { actor, caName, createBenchFixture, type BenchFixture } from './bench-fixture.js';
import { tokenPrivateKeyLabels } from './invariants.js';
import { plug } from './key-mode-fixture.js';

const t01 = readFileSync(
  path.join(repoRoot, '../shared/reference/aws/templates/T01-docs-bulk-registration-csr.json'),
  'utf8',
);

describe('a bulk-registration template (certificate from a CSR parameter)', () => {
  let fixture: BenchFixture;
  let station: Station;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'bulk-template-tests' });
    station = await fixture.open();
    await station.registry.transaction(actor, (tx) => station.templates.add(tx, 'bulk', t01));
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  const spec = bulkJob;

  it('refuses a job while the thing type or groups the template names are missing, listing each', async () => {
    const before = (await station.jobs.list()).length;
    await expect(createJob(station, spec('csr'), actor)).rejects.toMatchObject({
      code: 'provisioning.template-resource-missing',
      details: {
        missing: [
          'thing type lightBulb-versionA (station thing-type create lightBulb-versionA)',
          'thing group v1-lightbulbs (station thing-group create v1-lightbulbs)',
          // {"Ref": "Location"} with its Default: the same group for every device of the job.
          'thing group WA (station thing-group create WA)',
        ],
      },
    });
    // A job's constant replaces the Default.
    await expect(createJob(station, spec('csr', { Location: 'OR' }), actor)).rejects.toMatchObject({
      details: { missing: expect.arrayContaining(['thing group OR (station thing-group create OR)']) },
    });

    await station.registry.transaction(actor, async (tx) => {
      await station.registry.thingTypes.create(tx, { name: 'lightBulb-versionA' });
      await station.registry.thingTypes.deprecate(tx, 'lightBulb-versionA');
      await station.registry.thingGroups.create(tx, { name: 'v1-lightbulbs' });
      await station.registry.thingGroups.create(tx, { name: 'WA' });
    });
    await expect(createJob(station, spec('csr'), actor)).rejects.toMatchObject({
      message: expect.stringContaining(
        'it is deprecated: station thing-type deprecate lightBulb-versionA --undo',
      ),
    });
    expect(await station.jobs.list()).toHaveLength(before);
    await station.registry.transaction(actor, (tx) =>
      station.registry.thingTypes.deprecate(tx, 'lightBulb-versionA', true),
    );
  });

  it('refuses a csr or inject job that sets the CSR parameter itself, and an existing-certificate job', async () => {
    for (const keyMode of ['csr', 'inject'] as const) {
      await expect(createJob(station, spec(keyMode, { CSR: 'pasted' }), actor)).rejects.toMatchObject({
        code: 'provisioning.parameter-station-filled',
        details: { parameter: 'CSR' },
      });
    }
    await expect(
      createJob(
        station,
        {
          ...spec('existing'),
          ca: undefined,
          existing: { allowWithoutCa: true, requireProofOfPossession: false },
        },
        actor,
      ),
    ).rejects.toMatchObject({
      code: 'provisioning.parameter-unsupplied',
      message: expect.stringContaining('{"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}'),
    });
  });

  it.each([
    ['csr', 'nrf91'],
    ['inject', 'esp-at'],
  ] as const)('%s: the template gets the CSR of the key behind the certificate', async (keyMode, driver) => {
    await expectProvisionedWithCsr(station, spec(keyMode), driver);
  });

  it('with its thing type deprecated since: re-verifies what it made, refuses a new device before its key', async () => {
    const csr = spec('csr');
    const sequence = { parameter: 'ThingName', pattern: 'deprecated-{000}', start: 1 };
    const job = await createJob(station, { ...csr, parameters: { ...csr.parameters, sequence } }, actor);
    const runtime = await openJobRuntime(station, job.id, { actor, emit: () => undefined });
    const provisioned = createSimulator('nrf91');
    const first = await provisionDevice(runtime, plug(provisioned));
    expect(first.error?.message ?? first.state).toBe('PROVISIONED');
    await station.registry.transaction(actor, (tx) =>
      station.registry.thingTypes.deprecate(tx, 'lightBulb-versionA'),
    );
    try {
      const again = await provisionDevice(runtime, plug(provisioned));
      expect(again).toMatchObject({ state: 'PROVISIONED', mode: 'reverify' });
      const refused = await provisionDevice(runtime, plug(createSimulator('nrf91')));
      expect(refused.error).toMatchObject({ code: 'provisioning.template-resource-missing' });
      expect((await station.records.byId(refused.recordId))?.stepReached).toBe('evaluate');
    } finally {
      await station.registry.transaction(actor, (tx) =>
        station.registry.thingTypes.deprecate(tx, 'lightBulb-versionA', true),
      );
    }
  });
});

describe('a bulk-registration template with the CA and the injected keys in a SoftHSM2 token', () => {
  it('has the injected key sign the CSR on the token, and leaves no device key there', async () => {
    const token = await createSoftHsmToken();
    const fixture = await createBenchFixture(
      { kind: 'pkcs11', module: token.module, tokenLabel: token.tokenLabel },
      { pin: token.pin },
    );
    const station = await fixture.open();
    try {
      await station.registry.transaction(actor, async (tx) => {
        await station.templates.add(tx, 'bulk', t01);
        await station.registry.thingTypes.create(tx, { name: 'lightBulb-versionA' });
        await station.registry.thingGroups.create(tx, { name: 'v1-lightbulbs' });
        await station.registry.thingGroups.create(tx, { name: 'WA' });
      });
      await expectProvisionedWithCsr(station, bulkJob('inject'), 'esp-at');
      const labels = await tokenPrivateKeyLabels(token.module, token.tokenLabel, token.pin);
      expect(labels).toEqual([caKeyLabel(caName)]);
    } finally {
      await station.close();
      await fixture.cleanup();
      await token.cleanup();
    }
  }, 60_000);
});

/** A job on T01 (stored as `bulk`): sequence thing names, serial numbers from the device. */
function bulkJob(keyMode: JobSpec['keyMode'], constants: Record<string, string> = {}): JobSpec {
  return {
    label: `bulk ${keyMode}`,
    template: { name: 'bulk' },
    parameters: {
      constants,
      identity: { SerialNumber: 'deviceId' },
      sequence: { parameter: 'ThingName', pattern: `${keyMode}-bulk-{000}`, start: 1 },
    },
    driver: 'auto',
    ca: caName,
    keyMode,
    quota: 5,
  };
}

/**
 * Provisions one device on a new job and checks what T01 made of it: the recorded plan's CSR is of the
 * certificate's key and names the thing, no private key is in the record, type and groups are set.
 */
async function expectProvisionedWithCsr(station: Station, job: JobSpec, driver: DriverName): Promise<void> {
  const created = await createJob(station, job, actor);
  const runtime = await openJobRuntime(station, created.id, { actor, emit: () => undefined });
  const outcome = await provisionDevice(runtime, plug(createSimulator(driver), `${driver}-bulk`));
  expect(outcome.error?.message ?? outcome.state).toBe('PROVISIONED');

  const record = (await station.records.byId(outcome.recordId))!;
  const plan = (record.resources as { plan: { certificate: { certificateSigningRequest: string } } }).plan;
  const csr = checkCsr(Buffer.from(plan.certificate.certificateSigningRequest), { allowedKeys: ['EC-P256'] });
  expect(csr.commonName).toBe(outcome.thingName);
  const certificate = await station.readOnlyPki().certificates.byId(record.certificateId!);
  const certificateKey = new X509Certificate(certificate!.pem).publicKey.export({
    format: 'der',
    type: 'spki',
  });
  expect(Buffer.from(csr.spki)).toEqual(certificateKey);
  // A CSR is public; the record holds no key.
  expect(pemBlocks(JSON.stringify(record)).map((block) => block.label)).not.toContain('PRIVATE KEY');

  const thing = await station.registry.things.describe(outcome.thingName!);
  expect(thing).toMatchObject({ thingTypeName: 'lightBulb-versionA' });
  const groups = await station.registry.thingGroups.groupsOf(outcome.thingName!);
  expect(groups.map((group) => group.name).sort()).toEqual(['WA', 'v1-lightbulbs']);
}
