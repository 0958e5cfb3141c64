import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStationError } from '../../../src/api/errors.js';
import { toPem } from '../../../src/pki/pem.js';
import { makeCa, makeDeviceCertificate } from '../../helpers/certificates.js';
import {
  deviceCsr,
  filesUnder,
  openPkiFixture,
  opensslVerify,
  run,
  writeScratch,
  type PkiFixture,
  type StoreKind,
} from './pki-fixture.js';

const actor = 'test:pki';

async function rejection(action: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await action();
  } catch (error) {
    if (isStationError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a rejection');
}

describe.each<StoreKind>(['pkcs11', 'soft'])('issuance with the %s key store', (kind) => {
  let fixture: PkiFixture;
  let caPemFile: string;
  const injectedKeys: Uint8Array[] = [];

  beforeAll(async () => {
    fixture = await openPkiFixture(kind);
    const ca = await fixture.pki.factoryCa.createRoot(
      {
        name: 'factory',
        subject: { commonName: 'Factory Root CA', organization: 'Acme', country: 'DE' },
        pathLength: 0,
      },
      actor,
    );
    caPemFile = await writeScratch(fixture, 'ca.pem', ca.pem);
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it('issues from a device CSR a certificate that passes openssl verify -x509_strict', async () => {
    const csr = deviceCsr('thing-0001');
    const issued = await fixture.pki.issuer.issueFromCsr(csr.der, { caName: 'factory', days: 30 }, actor);
    const certificateFile = await writeScratch(fixture, 'thing-0001.pem', issued.certificate.pem);
    expect(await opensslVerify(['-x509_strict', '-CAfile', caPemFile, certificateFile])).toContain('OK');

    const certificate = new X509Certificate(issued.certificate.pem);
    expect(certificate.subject).toBe('CN=thing-0001');
    expect(certificate.publicKey.export({ type: 'spki', format: 'der' })).toEqual(
      csr.keys.publicKey.export({ type: 'spki', format: 'der' }),
    );
    expect(issued.certificate.id).toMatch(/^[0-9a-f]{64}$/);
    expect(issued.certificate.keyOrigin).toBe('device');
    const row = await fixture.pki.issuer.certificates.byId(issued.certificate.id);
    expect(row).toMatchObject({
      status: 'ACTIVE',
      subject: 'CN=thing-0001',
      serialHex: issued.certificate.serialHex,
    });
  });

  it('issues from an openssl-made CSR too (RSA-2048)', async () => {
    const keyFile = `${fixture.workDir}/rsa.key`;
    const csrFile = `${fixture.workDir}/rsa.csr`;
    await run('openssl', [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-subj',
      '/CN=thing-rsa',
      '-out',
      csrFile,
    ]);
    const { stdout: csrPem } = await run('cat', [csrFile]);
    const issued = await fixture.pki.issuer.issueFromCsr(Buffer.from(csrPem), { caName: 'factory' }, actor);
    const certificateFile = await writeScratch(fixture, 'thing-rsa.pem', issued.certificate.pem);
    expect(await opensslVerify(['-x509_strict', '-CAfile', caPemFile, certificateFile])).toContain('OK');
  });

  it('issues in injection mode: the PKCS#8 key matches the certificate and no device key stays in the store', async () => {
    const identity = await fixture.pki.issuer.issueWithInjectedKey(
      { caName: 'factory', commonName: 'thing-inject-1', subjectAltNames: { dns: ['thing-inject-1.local'] } },
      actor,
    );
    injectedKeys.push(identity.privateKeyPkcs8);
    const privateKey = createPrivateKey({
      key: Buffer.from(identity.privateKeyPkcs8),
      format: 'der',
      type: 'pkcs8',
    });
    const certificate = new X509Certificate(identity.certificate.pem);
    expect(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })).toEqual(
      certificate.publicKey.export({ type: 'spki', format: 'der' }),
    );
    expect(identity.certificate.keyOrigin).toBe('hsm-injected');
    const certificateFile = await writeScratch(fixture, 'inject.pem', identity.certificate.pem);
    expect(await opensslVerify(['-x509_strict', '-CAfile', caPemFile, certificateFile])).toContain('OK');
  });

  it('keeps the CA key sensitive and never extractable, and leaves no device key on the token', async () => {
    if (!fixture.token) return; // pkcs11-tool reads tokens; the soft store has its own file scan below
    const identity = await fixture.pki.issuer.issueWithInjectedKey(
      { caName: 'factory', commonName: 'thing-inject-2', algorithm: 'EC-P384' },
      actor,
    );
    injectedKeys.push(identity.privateKeyPkcs8);
    const { stdout } = await run('pkcs11-tool', [
      '--module',
      fixture.token.module,
      '--token-label',
      fixture.token.tokenLabel,
      '--login',
      '--pin',
      fixture.token.pin,
      '--list-objects',
    ]);
    const caKeyBlock = stdout
      .split(/\n(?=\S)/)
      .find((block) => block.startsWith('Private Key Object') && block.includes('ca:factory'));
    expect(caKeyBlock).toBeDefined();
    expect(caKeyBlock).toMatch(/Access:.*sensitive/);
    expect(caKeyBlock).toMatch(/never extractable/);
    expect(stdout).not.toContain('device:');
    expect(stdout.match(/Private Key Object/g)).toHaveLength(1);
    expect(stdout).toContain('label:      ca:factory');
  });

  it('rejects a garbage file, a damaged CSR, RSA-1024, a wrong curve and a foreign signature, each in its own words, writing nothing', async () => {
    const before = await fixture.pki.issuer.certificates.count();
    const auditBefore = (await fixture.registry.audit.head()).seq;
    const good = deviceCsr('thing-bad').der;
    const damaged = Buffer.from(toPem('CERTIFICATE REQUEST', good.subarray(0, good.length - 7)));
    const rsa1024 = deviceCsr('thing-bad', { keys: generateKeyPairSync('rsa', { modulusLength: 1024 }) }).der;
    const k1 = deviceCsr('thing-bad', { keys: generateKeyPairSync('ec', { namedCurve: 'secp256k1' }) }).der;
    const otherSigner = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ownKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const foreign = deviceCsr('thing-bad', {
      keys: { publicKey: ownKeys.publicKey, privateKey: otherSigner.privateKey },
    }).der;

    const cases = [
      [Buffer.from('this is not a certificate request\n'), 'pki.csr-unreadable'],
      [damaged, 'pki.csr-malformed'],
      [rsa1024, 'pki.csr-key-too-small'],
      [k1, 'pki.csr-curve-not-allowed'],
      [foreign, 'pki.csr-signature-invalid'],
    ] as const;
    const messages = new Set<string>();
    for (const [csr, code] of cases) {
      const result = await rejection(() =>
        fixture.pki.issuer.issueFromCsr(csr, { caName: 'factory' }, actor),
      );
      expect(result.code).toBe(code);
      messages.add(result.message);
    }
    expect(messages.size).toBe(cases.length);
    expect(await fixture.pki.issuer.certificates.count()).toBe(before);
    expect((await fixture.registry.audit.head()).seq).toBe(auditBefore);
  });

  it('revokes a certificate and lists it in a CRL that openssl verifies', async () => {
    const issued = await fixture.pki.issuer.issueFromCsr(
      deviceCsr('thing-revoked').der,
      { caName: 'factory' },
      actor,
    );
    const revoked = await fixture.pki.revocation.revoke(issued.certificate.id, 'keyCompromise', actor);
    expect(revoked.status).toBe('REVOKED');
    expect(
      (await rejection(() => fixture.pki.revocation.revoke(issued.certificate.id, 'superseded', actor))).code,
    ).toBe('pki.already-revoked');

    const crl = await fixture.pki.revocation.crl('factory');
    const crlFile = await writeScratch(fixture, 'factory.crl.pem', crl.pem);
    const { stderr, stdout: crlText } = await run('openssl', [
      'crl',
      '-in',
      crlFile,
      '-CAfile',
      caPemFile,
      '-noout',
      '-text',
    ]);
    expect(stderr).toContain('verify OK');
    expect(crlText.toUpperCase()).toContain(issued.certificate.serialHex.toUpperCase());
    expect(crlText).toContain('Key Compromise');
    expect(crlText).toContain('X509v3 CRL Number');

    const certificateFile = await writeScratch(fixture, 'revoked.pem', issued.certificate.pem);
    const checked = await opensslVerify([
      '-crl_check',
      '-CAfile',
      caPemFile,
      '-CRLfile',
      crlFile,
      certificateFile,
    ]).catch((error: { stderr?: string }) => error.stderr ?? '');
    expect(checked).toContain('certificate revoked');
  });

  it('writes an internationalised SAN DNS name in its xn-- form, which openssl verifies', async () => {
    const issued = await fixture.pki.issuer.issueFromCsr(
      deviceCsr('thing-idn').der,
      { caName: 'factory', subjectAltNames: { dns: ['bücher.devices.acme.com'], ip: ['::ffff:192.0.2.1'] } },
      actor,
    );
    const certificate = new X509Certificate(issued.certificate.pem);
    expect(certificate.subjectAltName).toBe(
      'DNS:xn--bcher-kva.devices.acme.com, IP Address:0:0:0:0:0:FFFF:C000:201',
    );
    const certificateFile = await writeScratch(fixture, 'idn.pem', issued.certificate.pem);
    expect(await opensslVerify(['-x509_strict', '-CAfile', caPemFile, certificateFile])).toContain('OK');
  });

  it('refuses a claim or injected identity that would outlive the CA before it makes the key', async () => {
    const made: string[] = [];
    const generate = fixture.keyStore.generateKeyPair.bind(fixture.keyStore);
    fixture.keyStore.generateKeyPair = (options) => {
      made.push(options.label);
      return generate(options);
    };
    try {
      const options = { caName: 'factory', commonName: 'claim-long', days: 36_500 };
      expect((await rejection(() => fixture.pki.issuer.prepareClaim(options))).code).toBe(
        'pki.validity-beyond-ca',
      );
      expect((await rejection(() => fixture.pki.issuer.issueWithInjectedKey(options, actor))).code).toBe(
        'pki.validity-beyond-ca',
      );
      expect(made).toEqual([]);
    } finally {
      fixture.keyStore.generateKeyPair = generate;
    }
  });

  it("signs only names inside its CA's name constraints, so what it signs verifies", async () => {
    const fenced = await fixture.pki.factoryCa.createRoot(
      { name: 'fenced', permittedDns: ['devices.acme.com'] },
      actor,
    );
    const fencedFile = await writeScratch(fixture, 'fenced.pem', fenced.pem);
    const before = await fixture.pki.issuer.certificates.count();
    const outside = await rejection(() =>
      fixture.pki.issuer.issueFromCsr(
        deviceCsr('thing-6').der,
        { caName: 'fenced', subjectAltNames: { dns: ['thing-6.devices.acme.com', 'thing-6.evil.example'] } },
        actor,
      ),
    );
    expect(outside).toEqual({
      code: 'pki.name-constraint',
      message:
        "CA 'fenced' cannot sign this certificate: the DNS name thing-6.evil.example is outside the subtrees the CA permits.",
    });
    expect(await fixture.pki.issuer.certificates.count()).toBe(before);
    for (const dns of [['thing-6.devices.acme.com'], undefined]) {
      const issued = await fixture.pki.issuer.issueFromCsr(
        deviceCsr('thing-6').der,
        { caName: 'fenced', ...(dns && { subjectAltNames: { dns } }) },
        actor,
      );
      const certificateFile = await writeScratch(fixture, 'fenced-leaf.pem', issued.certificate.pem);
      expect(await opensslVerify(['-x509_strict', '-CAfile', fencedFile, certificateFile])).toContain('OK');
    }
  });

  it('still signs the CRL of a disabled CA, which issues nothing more', async () => {
    const root = await fixture.pki.factoryCa.createRoot({ name: 'retired' }, actor);
    const rootFile = await writeScratch(fixture, 'retired.pem', root.pem);
    const issued = await fixture.pki.issuer.issueFromCsr(
      deviceCsr('thing-4').der,
      { caName: 'retired' },
      actor,
    );
    await fixture.pki.factoryCa.disable('retired', actor);
    expect(
      (
        await rejection(() =>
          fixture.pki.issuer.issueFromCsr(deviceCsr('thing-5').der, { caName: 'retired' }, actor),
        )
      ).code,
    ).toBe('pki.ca-disabled');
    await fixture.pki.revocation.revoke(issued.certificate.id, 'keyCompromise', actor);
    const crl = await fixture.pki.revocation.crl('retired');
    expect(crl.revoked).toBe(1);
    const crlFile = await writeScratch(fixture, 'retired.crl.pem', crl.pem);
    const { stderr } = await run('openssl', ['crl', '-in', crlFile, '-CAfile', rootFile, '-noout']);
    expect(stderr).toContain('verify OK');
  });

  it('verifies a certificate against the station CAs and reports its registry status', async () => {
    const issued = await fixture.pki.issuer.issueFromCsr(
      deviceCsr('thing-verify').der,
      { caName: 'factory' },
      actor,
    );
    const good = await fixture.pki.verifier.verify(Buffer.from(issued.certificate.pem));
    expect(good).toMatchObject({ valid: true, ca: 'factory', status: 'ACTIVE' });
    await fixture.pki.revocation.revoke(issued.certificate.id, 'superseded', actor);
    const revoked = await fixture.pki.verifier.verify(issued.der);
    expect(revoked.valid).toBe(false);
    expect(revoked.checks.find((check) => check.check === 'status')).toMatchObject({ ok: false });
  });

  it('verifies against the whole chain of a registered CA: a CA above it that expired fails the check', async () => {
    const day = 86_400_000;
    const root = makeCa({ commonName: `Maker Root ${kind}`, notAfter: new Date(Date.now() + 10 * day) });
    const line = makeCa({ commonName: `Maker Line ${kind}`, issuer: root });
    const pem = [line, root].map((ca) => toPem('CERTIFICATE', ca.certificate.der)).join('');
    await fixture.pki.factoryCa.registerExternal(`maker-line-${kind}`, pem, actor);
    const device = makeDeviceCertificate({ commonName: 'maker-device-1', issuer: line });
    expect(await fixture.pki.verifier.verify(device.der)).toMatchObject({ ca: `maker-line-${kind}` });
    // Twenty days on, the device and its line CA are still within validity, but the root is not.
    const later = await fixture.pki.verifier.verify(device.der, new Date(Date.now() + 20 * day));
    expect(later.checks.find((check) => check.check === 'ca')).toMatchObject({
      ok: false,
      detail: expect.stringContaining(`CA 'maker-line-${kind}' cannot vouch for it: CN=Maker Root ${kind}`),
    });
    expect(later.valid).toBe(false);
  });

  it('follows the intermediates the file gives after the certificate up to a registered CA', async () => {
    const root = makeCa({ commonName: `Maker Root only ${kind}` });
    const line = makeCa({
      commonName: `Maker Line unregistered ${kind}`,
      issuer: root,
      permittedDns: ['acme.com'],
    });
    await fixture.pki.factoryCa.registerExternal(
      `maker-root-only-${kind}`,
      toPem('CERTIFICATE', root.certificate.der),
      actor,
    );
    const device = makeDeviceCertificate({ commonName: 'maker-device-2', issuer: line });
    const alone = await fixture.pki.verifier.verify(device.der);
    expect(alone.checks.find((check) => check.check === 'issuer')).toMatchObject({ ok: false });

    const withLine = toPem('CERTIFICATE', device.der) + toPem('CERTIFICATE', line.certificate.der);
    const followed = await fixture.pki.verifier.verify(Buffer.from(withLine));
    expect(followed).toMatchObject({ ca: `maker-root-only-${kind}` });
    expect(followed.checks.find((check) => check.check === 'issuer')).toMatchObject({
      ok: true,
      detail: expect.stringContaining(`through CN=Maker Line unregistered ${kind} from the file`),
    });
    // Only the registry status fails: the device certificate was never registered here.
    expect(followed.checks.filter((check) => !check.ok).map((check) => check.check)).toEqual(['status']);

    // The intermediate's own name constraints apply.
    const fenced = makeDeviceCertificate({
      commonName: 'maker-device-3',
      issuer: line,
      subjectAltNames: { dns: ['maker-device-3.evil.example'] },
    });
    const outside = await fixture.pki.verifier.verify(
      Buffer.from(toPem('CERTIFICATE', fenced.der) + toPem('CERTIFICATE', line.certificate.der)),
    );
    expect(outside.checks.find((check) => check.check === 'names')).toMatchObject({
      ok: false,
      detail: expect.stringContaining(`CN=Maker Line unregistered ${kind}`),
    });
  });

  it('keeps a disabled CA refused when the file gives its certificate above the device certificate', async () => {
    const root = makeCa({ commonName: `Listed Root ${kind}` });
    const line = makeCa({ commonName: `Listed Line ${kind}`, issuer: root });
    const rootPem = toPem('CERTIFICATE', root.certificate.der);
    const linePem = toPem('CERTIFICATE', line.certificate.der);
    // Registered in this name order, the root came first and vouched for the line's certificate in the file.
    await fixture.pki.factoryCa.registerExternal(`a-listed-root-${kind}`, rootPem, actor);
    await fixture.pki.factoryCa.registerExternal(`b-listed-line-${kind}`, linePem + rootPem, actor);
    await fixture.pki.factoryCa.disable(`b-listed-line-${kind}`, actor);
    const device = makeDeviceCertificate({ commonName: 'listed-device', issuer: line });
    for (const content of [device.der, Buffer.from(toPem('CERTIFICATE', device.der) + linePem)]) {
      const result = await fixture.pki.verifier.verify(content);
      expect(result).toMatchObject({ ca: `b-listed-line-${kind}` });
      expect(result.checks.find((check) => check.check === 'ca')).toMatchObject({ ok: false });
    }
  });

  it("fails a certificate outside the name constraints of its CA's chain, naming the CA and the name", async () => {
    const root = makeCa({ commonName: `Fenced Maker Root ${kind}`, permittedDns: ['devices.acme.com'] });
    const line = makeCa({ commonName: `Fenced Maker Line ${kind}`, issuer: root });
    const pem = [line, root].map((ca) => toPem('CERTIFICATE', ca.certificate.der)).join('');
    await fixture.pki.factoryCa.registerExternal(`fenced-maker-${kind}`, pem, actor);
    const device = (dns: string) =>
      makeDeviceCertificate({ commonName: 'fenced-device', issuer: line, subjectAltNames: { dns: [dns] } });

    const outside = await fixture.pki.verifier.verify(device('fenced-device.evil.example').der);
    expect(outside.valid).toBe(false);
    expect(outside.checks.find((check) => check.check === 'names')).toEqual({
      check: 'names',
      ok: false,
      detail: `outside the name constraints of CN=Fenced Maker Root ${kind}: the DNS name fenced-device.evil.example is outside the subtrees the CA permits`,
    });
    // Chain, signature and validity hold: only the names fail.
    expect(outside.checks.filter((check) => !check.ok).map((check) => check.check)).toEqual([
      'names',
      'status',
    ]);

    const inside = await fixture.pki.verifier.verify(device('fenced-device.devices.acme.com').der);
    expect(inside.checks.find((check) => check.check === 'names')).toMatchObject({ ok: true });
  });

  it('keeps private keys out of the data folder: no PKCS#8 bytes of injected keys and no PEM key markers', async () => {
    expect(injectedKeys.length).toBeGreaterThan(0);
    const files = await filesUnder(fixture.dataDir);
    expect(files.some((entry) => entry.file.endsWith('registry.sqlite'))).toBe(true);
    expect(files.some((entry) => entry.file.endsWith('registry.sqlite-wal'))).toBe(true);
    for (const { file, bytes } of files) {
      expect(bytes.includes('PRIVATE KEY'), file).toBe(false);
      for (const key of injectedKeys) {
        expect(bytes.includes(Buffer.from(key)), file).toBe(false);
        // Nor the private scalar alone: bytes 36-68 of a P-256 or P-384 PKCS#8 lie inside it.
        expect(bytes.includes(Buffer.from(key.subarray(36, 68))), file).toBe(false);
      }
    }
  });
});
