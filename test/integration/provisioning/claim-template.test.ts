// A claim serves one fleet-provisioning template: its devices register through RegisterThing with it
// (aws-iot-spec.md 3). A claim made for a JITP or bulk-registration template, or a claim job whose
// template the claim's policies do not let a device register with, would leave every device it
// provisions unable to register; both are refused before anything is made.
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../../src/api/jobs.js';
import { ProcessLock } from '../../../src/config/process-lock.js';
import { claimKeyLabel } from '../../../src/pki/issuance.js';
import { createClaimIdentity } from '../../../src/provisioning/claim-identities.js';
import { createJob } from '../../../src/provisioning/job-runtime.js';
import { ClaimTable } from '../../../src/registry/claims.js';
import type { Station } from '../../../src/station.js';
import { actor, caName, createBenchFixture, templateBody, type BenchFixture } from './bench-fixture.js';

/** A Publish to RegisterThing of `template`, for one account and region only, as a hand-written policy has it. */
const accountPolicy = (template: string) =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: '*' },
      {
        Effect: 'Allow',
        Action: ['iot:Publish', 'iot:Receive'],
        Resource: [
          'arn:aws:iot:eu-west-1:111122223333:topic/$aws/certificates/create/*',
          `arn:aws:iot:eu-west-1:111122223333:topic/$aws/provisioning-templates/${template}/provision/*`,
        ],
      },
    ],
  });

describe('claims and their fleet-provisioning template', () => {
  let fixture: BenchFixture;
  let station: Station;

  beforeAll(async () => {
    fixture = await createBenchFixture({ kind: 'soft' }, { passphrase: 'claim-template-tests' });
    station = await fixture.open();
    const bulk = JSON.parse(templateBody) as {
      Parameters: Record<string, unknown>;
      Resources: { certificate: { Properties: Record<string, unknown> } };
    };
    bulk.Parameters.CSR = { Type: 'String' };
    bulk.Resources.certificate.Properties = { CertificateSigningRequest: { Ref: 'CSR' }, Status: 'ACTIVE' };
    // A fleet template stored before `template add` checked types: its thing named by the certificate's CN.
    const readsCn = JSON.parse(templateBody) as {
      Resources: { thing: { Properties: Record<string, unknown> } };
    };
    readsCn.Resources.thing.Properties.ThingName = { Ref: 'AWS::IoT::Certificate::CommonName' };
    await station.registry.transaction(actor, async (tx) => {
      await station.templates.add(tx, 'reads-cn', JSON.stringify(readsCn));
      await station.templates.add(tx, 'other-fleet', templateBody);
      await station.templates.add(tx, 'bulk', JSON.stringify(bulk));
      await station.templates.add(tx, 'jitp', templateBody, { templateType: 'JITP' });
      await station.policies.create(tx, 'other-fleet-account', accountPolicy('other-fleet'));
    });
  }, 60_000);

  afterAll(async () => {
    await station?.close();
    await fixture?.cleanup();
  });

  const claimJob = (template: string, claimCertificateId: string): JobSpec => ({
    label: 'claim line',
    template: { name: template },
    parameters: { constants: {}, identity: {} },
    driver: 'jsonl',
    keyMode: 'claim',
    claimCertificateId,
    quota: 1,
  });

  it('claim create --template refuses a bulk-registration or JITP template, or one reading more than the certificate id, and makes no claim or key', async () => {
    for (const [template, why] of [
      ['bulk', 'makes its certificate from a CSR'],
      ['jitp', 'is a JITP template'],
      [
        'reads-cn',
        'reads AWS::IoT::Certificate::CommonName, but only certificate IDs (AWS::IoT::Certificate::Id) can be used with a fleet provisioning template (Resources.thing.Properties.ThingName)',
      ],
    ]) {
      await expect(
        createClaimIdentity(station, { name: `${template}-claim`, caName, templateName: template }, actor),
      ).rejects.toMatchObject({
        code: 'provisioning.template-not-fleet',
        message: expect.stringContaining(`Template ${template} ${why}`),
      });
      expect(await new ClaimTable(station.registry.reader).byName(`${template}-claim`)).toBeUndefined();
      const keyStore = await station.keyStore();
      expect(await keyStore.findKey({ label: claimKeyLabel(`${template}-claim`) })).toBeUndefined();
    }
  });

  it("refuses a claim job whose template the claim's policy does not let a device register with", async () => {
    const made = await createClaimIdentity(
      station,
      { name: 'sensor-claim', caName, templateName: 'sensor' },
      actor,
    );
    const before = (await station.jobs.list()).length;
    await expect(
      createJob(station, claimJob('other-fleet', made.certificate.id), actor),
    ).rejects.toMatchObject({
      code: 'provisioning.claim-template-mismatch',
      message: expect.stringContaining(
        "Claim sensor-claim's policy claim-sensor does not let a device publish to $aws/provisioning-templates/other-fleet/provision/json",
      ),
    });
    for (const template of ['bulk', 'reads-cn']) {
      await expect(createJob(station, claimJob(template, made.certificate.id), actor)).rejects.toMatchObject({
        code: 'provisioning.template-not-fleet',
      });
    }
    expect(await station.jobs.list()).toHaveLength(before);
    await expect(createJob(station, claimJob('sensor', made.certificate.id), actor)).resolves.toMatchObject({
      status: 'active',
    });
  });

  it('accepts a claim policy that pins only the region or only the account', async () => {
    const pinned = (resource: string) =>
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: resource }],
      });
    const topic = 'topic/$aws/provisioning-templates/other-fleet/provision/*';
    for (const [name, resource] of [
      ['region-pinned', `arn:aws:iot:eu-west-1:*:${topic}`],
      ['account-pinned', `arn:aws:iot:*:111122223333:${topic}`],
    ]) {
      await station.registry.transaction(actor, (tx) =>
        station.policies.create(tx, name!, pinned(resource!)),
      );
      const made = await createClaimIdentity(
        station,
        { name: `${name}-claim`, caName, policyName: name },
        actor,
      );
      await expect(
        createJob(station, claimJob('other-fleet', made.certificate.id), actor),
      ).resolves.toMatchObject({
        status: 'active',
      });
    }
  });

  it('reads the account and region a hand-written claim policy names', async () => {
    const made = await createClaimIdentity(
      station,
      { name: 'account-claim', caName, policyName: 'other-fleet-account' },
      actor,
    );
    await expect(
      createJob(station, claimJob('other-fleet', made.certificate.id), actor),
    ).resolves.toMatchObject({
      status: 'active',
    });
    await expect(createJob(station, claimJob('sensor', made.certificate.id), actor)).rejects.toMatchObject({
      code: 'provisioning.claim-template-mismatch',
    });
  });

  it('destroys the key a claim create left when it died before recording the claim, and makes the claim', async () => {
    const keyStore = await station.keyStore();
    // What a crash between making the key and committing the claim leaves: a key no claim owns.
    const orphan = await keyStore.generateKeyPair({
      algorithm: 'EC-P256',
      label: claimKeyLabel('after-crash'),
      purpose: 'claim',
    });
    const made = await createClaimIdentity(
      station,
      { name: 'after-crash', caName, templateName: 'sensor' },
      actor,
    );
    const held = await keyStore.findKey({ label: claimKeyLabel('after-crash') });
    expect(held?.id).toBe(made.claim.keyId);
    expect(held?.id).not.toBe(orphan.id);
    expect(await keyStore.findKey({ id: orphan.id })).toBeUndefined();
  });

  it('makes one claim of two creates of one name at once, and keeps its key', async () => {
    const creates = await Promise.allSettled(
      [0, 1].map(() =>
        createClaimIdentity(station, { name: 'twice', caName, templateName: 'sensor' }, actor),
      ),
    );
    const made = creates.flatMap((create) => (create.status === 'fulfilled' ? [create.value] : []));
    expect(made).toHaveLength(1);
    expect(creates.find((create) => create.status === 'rejected')).toMatchObject({
      reason: { code: 'registry.conflict' },
    });
    // The other create neither took the first one's key for an orphan nor left one of its own.
    const keyStore = await station.keyStore();
    expect((await keyStore.findKey({ label: claimKeyLabel('twice') }))?.id).toBe(made[0]!.claim.keyId);
    // What a claim job does first: the key must still be there and match the certificate.
    const pki = await station.pki();
    const spki = new X509Certificate(made[0]!.certificate.pem).publicKey.export({
      format: 'der',
      type: 'spki',
    });
    await expect(pki.issuer.exportClaimKey(made[0]!.claim.keyId, spki)).resolves.toBeInstanceOf(Uint8Array);
  });

  it("makes the claim key without holding the registry: another terminal's station writes meanwhile", async () => {
    // Another terminal on the same data folder, as a bench beside `station claim create` would be.
    const other = await fixture.open();
    const keyStore = await station.keyStore();
    const generate = keyStore.generateKeyPair.bind(keyStore);
    let release!: () => void;
    const slowToken = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const generating = new Promise<void>((resolve) => (started = resolve));
    keyStore.generateKeyPair = async (options) => {
      started();
      await slowToken;
      return generate(options);
    };
    try {
      const creating = createClaimIdentity(
        station,
        { name: 'slow-token', caName, templateName: 'sensor' },
        actor,
      );
      await generating;
      await other.registry.transaction(actor, (tx) =>
        tx.run(`INSERT INTO operators (name, role, created_at) VALUES ('eve', 'quality', 'now')`),
      );
      release();
      expect((await creating).claim.name).toBe('slow-token');
    } finally {
      release();
      keyStore.generateKeyPair = generate;
      await other.close();
    }
  });

  it('leaves the claim-create lock free when the key store cannot be opened (a wrong PIN)', async () => {
    const open = station.keyStore.bind(station);
    station.keyStore = () => Promise.reject(new Error('CKR_PIN_INCORRECT'));
    try {
      await expect(
        createClaimIdentity(station, { name: 'after-bad-pin', caName, templateName: 'sensor' }, actor),
      ).rejects.toThrow('CKR_PIN_INCORRECT');
    } finally {
      station.keyStore = open;
    }
    const lock = ProcessLock.tryTake(path.join(station.dataDir, 'claim-create.lock'));
    expect(lock).not.toBe('busy');
    if (lock !== 'busy') lock.release();
  });
});
