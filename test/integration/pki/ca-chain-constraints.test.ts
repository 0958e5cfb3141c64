// A chain that comes back for an intermediate (or an external CA registered for verification) must let
// the CA sign device certificates that verify: the station checks the parents' constraints at import,
// the way openssl verify would check every certificate the CA signs afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStationError, type StationError } from '../../../src/api/errors.js';
import { caKeyLabel } from '../../../src/pki/ca-records.js';
import { toPem } from '../../../src/pki/pem.js';
import {
  caCertificateDer,
  makeCa,
  type CaCertificateFields,
  type TestCa,
} from '../../helpers/certificates.js';
import { deviceCsr, openPkiFixture, opensslVerify, writeScratch, type PkiFixture } from './pki-fixture.js';

const actor = 'test:pki';
const day = 86_400_000;

async function refusal(action: () => Promise<unknown>): Promise<StationError> {
  try {
    await action();
  } catch (error) {
    if (isStationError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('ca import-chain and ca register: the constraints of the CA chain', () => {
  let fixture: PkiFixture;

  beforeAll(async () => {
    fixture = await openPkiFixture('soft');
  });

  afterAll(async () => {
    await fixture?.close();
  });

  /** Makes the pending intermediate `name` and has `parent` sign its key: the chain file, intermediate first. */
  async function signedChain(name: string, parent: TestCa, fields: Partial<CaCertificateFields> = {}) {
    await fixture.pki.factoryCa.createIntermediateCsr({ name });
    const key = (await fixture.keyStore.findKey({ label: caKeyLabel(name) }))!;
    const der = caCertificateDer(key.publicKeySpki, { commonName: name, ...fields }, parent);
    return { der, pem: toPem('CERTIFICATE', der) + toPem('CERTIFICATE', parent.certificate.der) };
  }

  it("refuses an intermediate its parent's pathLenConstraint 0 forbids, and keeps the key for a new chain", async () => {
    const strictRoot = makeCa({ commonName: 'Corp Root pathlen 0', pathLength: 0 });
    const { pem } = await signedChain('line-4', strictRoot);
    const error = await refusal(() => fixture.pki.factoryCa.importChain('line-4', pem, actor));
    expect(error.code).toBe('pki.chain-invalid');
    expect(error.message).toContain(
      "The certificates of CA 'line-4' do not allow it to sign device certificates: CN=Corp Root pathlen 0 allows no CA certificate below it (pathLenConstraint 0), but CN=line-4 is one",
    );
    expect(await fixture.pki.factoryCa.cas.byName('line-4')).toBeUndefined();

    // The key waits: the parent signs again under a root that allows one intermediate.
    const root = makeCa({ commonName: 'Corp Root pathlen 1', pathLength: 1 });
    const key = (await fixture.keyStore.findKey({ label: caKeyLabel('line-4') }))!;
    const intermediate = caCertificateDer(key.publicKeySpki, { commonName: 'line-4', pathLength: 0 }, root);
    const chain = toPem('CERTIFICATE', intermediate) + toPem('CERTIFICATE', root.certificate.der);
    await fixture.pki.factoryCa.importChain('line-4', chain, actor);
    const issued = await fixture.pki.issuer.issueFromCsr(
      deviceCsr('thing-4').der,
      { caName: 'line-4' },
      actor,
    );
    const args = [
      '-x509_strict',
      '-CAfile',
      await writeScratch(fixture, 'root-pathlen-1.pem', toPem('CERTIFICATE', root.certificate.der)),
      '-untrusted',
      await writeScratch(fixture, 'line-4.pem', toPem('CERTIFICATE', intermediate)),
      await writeScratch(fixture, 'thing-4.pem', issued.certificate.pem),
    ];
    expect(await opensslVerify(args)).toContain('OK');
  });

  it('refuses an intermediate whose KeyUsage lacks keyCertSign', async () => {
    const { pem } = await signedChain('line-5', makeCa({ commonName: 'Corp Root' }), {
      keyUsage: ['digitalSignature', 'cRLSign'],
    });
    const error = await refusal(() => fixture.pki.factoryCa.importChain('line-5', pem, actor));
    expect(error.code).toBe('pki.chain-invalid');
    expect(error.message).toContain('the KeyUsage of CN=line-5 lacks keyCertSign');
  });

  it('refuses an intermediate outside its validity', async () => {
    const { pem } = await signedChain('line-6', makeCa({ commonName: 'Corp Root' }), {
      notBefore: new Date(Date.now() + 30 * day),
      notAfter: new Date(Date.now() + 400 * day),
    });
    const error = await refusal(() => fixture.pki.factoryCa.importChain('line-6', pem, actor));
    expect(error.code).toBe('pki.chain-invalid');
    expect(error.message).toMatch(/CN=line-6 is valid only from \S+ to \S+/);
  });

  it('registers an external CA only when its certificate may sign certificates', async () => {
    const signingOnly = makeCa({ commonName: 'Maker Signing Key', keyUsage: ['digitalSignature'] });
    const pem = toPem('CERTIFICATE', signingOnly.certificate.der);
    const error = await refusal(() => fixture.pki.factoryCa.registerExternal('maker-1', pem, actor));
    expect(error.code).toBe('pki.chain-invalid');
    const root = makeCa({ commonName: 'Maker Root', keyUsage: null });
    const record = await fixture.pki.factoryCa.registerExternal(
      'maker-2',
      toPem('CERTIFICATE', root.certificate.der),
      actor,
    );
    expect(record).toMatchObject({ name: 'maker-2', external: true });
  });
});
