import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStationError } from '../../../src/api/errors.js';
import { issueInBatches } from '../../../src/pki/bulk-issuance.js';
import { Pki } from '../../../src/pki/pki.js';
import type { PreparedCertificate } from '../../../src/pki/issuance.js';
import { deviceCsr, openPkiFixture, type PkiFixture } from './pki-fixture.js';

const actor = 'test:bulk';

describe('bulk issuance', () => {
  let fixture: PkiFixture;

  beforeAll(async () => {
    fixture = await openPkiFixture('pkcs11');
    await fixture.pki.factoryCa.createRoot({ name: 'bulk' }, actor);
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it('records identities a batch per transaction and reports each batch once committed, in order', async () => {
    const before = await fixture.pki.certificates.count();
    const reported: string[][] = [];
    await issueInBatches(
      fixture.pki.issuer,
      7,
      async (index) => {
        const { prepared, privateKeyPkcs8 } = await fixture.pki.issuer.prepareInjected({
          caName: 'bulk',
          commonName: `bulk-thing-${index}`,
        });
        expect(privateKeyPkcs8.length).toBeGreaterThan(0);
        return { prepared, result: prepared.record.subject };
      },
      {
        actor,
        batchSize: 3,
        onRecorded: async (subjects) => {
          // Committed before the callback: the rows are readable.
          const rows = await fixture.pki.certificates.list({ limit: 1000 });
          expect(rows.map((row) => row.subject)).toEqual(expect.arrayContaining(subjects));
          reported.push(subjects);
        },
      },
    );
    expect(reported.map((batch) => batch.length)).toEqual([3, 3, 1]);
    expect(reported.flat()).toEqual(Array.from({ length: 7 }, (_, index) => `CN=bulk-thing-${index}`));
    expect(await fixture.pki.certificates.count()).toBe(before + 7);
  });

  it('stops at a batch that fails, keeping the batches committed before it', async () => {
    const before = await fixture.pki.certificates.count();
    let duplicate: PreparedCertificate | undefined;
    let failure: unknown;
    await issueInBatches(
      fixture.pki.issuer,
      6,
      async (index) => {
        const prepared =
          index === 4
            ? duplicate!
            : await fixture.pki.issuer.prepareFromCsr(deviceCsr(`dup-${index}`).der, { caName: 'bulk' });
        duplicate ??= prepared;
        return { prepared, result: index };
      },
      { actor, batchSize: 2 },
    ).catch((error: unknown) => {
      failure = error;
    });
    expect(isStationError(failure) && failure.code).toBe('pki.certificate-exists');
    expect(await fixture.pki.certificates.count()).toBe(before + 4);
  });

  it('notices within seconds that another process disabled the CA it keeps compiled', async () => {
    await fixture.pki.factoryCa.createRoot({ name: 'short-lived' }, actor);
    await fixture.pki.issuer.issueFromCsr(deviceCsr('before-disable').der, { caName: 'short-lived' }, actor);
    const otherProcess = new Pki(fixture.registry, undefined);
    await otherProcess.factoryCa.disable('short-lived', actor);
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // past the 2 s status re-check
    const refused = await fixture.pki.issuer
      .issueFromCsr(deviceCsr('after-disable').der, { caName: 'short-lived' }, actor)
      .catch((error: unknown) => error);
    expect(isStationError(refused) && refused.code).toBe('pki.ca-disabled');
  });
});
