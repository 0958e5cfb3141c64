import 'reflect-metadata';
import { X509Certificate as NodeCertificate, generateKeyPairSync, sign } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { signatureAlgorithmFor } from './algorithms.js';
import {
  assembleSigned,
  DeviceCertificateProfile,
  encodeTbsCertificate,
  randomSerial,
} from './certificate-builder.js';
import { parseCertificate } from './certificate-reader.js';
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  keyIdentifierOf,
  keyUsageExtension,
  subjectKeyIdentifierExtension,
} from './extensions.js';
import { encodeName } from './names.js';

const day = 86_400_000;

function rootCa() {
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const algorithm = signatureAlgorithmFor('EC-P256');
  const name = encodeName({ commonName: 'Test Factory CA', organization: 'Acme', country: 'DE' });
  const keyIdentifier = keyIdentifierOf(spki);
  const tbs = encodeTbsCertificate({
    serial: randomSerial(),
    signatureAlgorithm: algorithm,
    issuerName: name,
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 365 * day),
    subjectName: name,
    spki,
    extensions: [
      basicConstraintsExtension(true, 0),
      keyUsageExtension(['keyCertSign', 'cRLSign']),
      subjectKeyIdentifierExtension(keyIdentifier),
      authorityKeyIdentifierExtension(keyIdentifier),
    ],
  });
  const der = assembleSigned(tbs, algorithm, sign('sha256', tbs, keys.privateKey));
  return { keys, der, name, keyIdentifier, algorithm };
}

describe('DeviceCertificateProfile', () => {
  const ca = rootCa();
  const profile = new DeviceCertificateProfile(
    { subjectName: ca.name, keyIdentifier: ca.keyIdentifier, signatureAlgorithm: ca.algorithm },
    { ecKeyAgreement: true },
  );

  function issue(keyKind: 'EC' | 'RSA') {
    const device =
      keyKind === 'EC'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = new Uint8Array(device.publicKey.export({ type: 'spki', format: 'der' }));
    const tbs = profile.tbs({
      serial: randomSerial(),
      notBefore: new Date('2030-01-01T00:00:00Z'),
      notAfter: new Date('2060-01-01T00:00:00Z'),
      subjectName: encodeName({ commonName: 'thing-1', serialNumber: 'SN0001' }),
      spki,
      keyKind,
      subjectAltNames: { dns: ['thing-1.devices.example'], ip: ['10.0.0.1', 'fe80::1'] },
    });
    return assembleSigned(tbs, ca.algorithm, sign('sha256', tbs, ca.keys.privateKey));
  }

  it('writes a certificate node:crypto accepts as issued and signed by the CA', () => {
    const certificate = new NodeCertificate(Buffer.from(issue('EC')));
    const caCertificate = new NodeCertificate(Buffer.from(ca.der));
    expect(certificate.checkIssued(caCertificate)).toBe(true);
    expect(certificate.verify(caCertificate.publicKey)).toBe(true);
    expect(certificate.subjectAltName).toBe(
      'DNS:thing-1.devices.example, IP Address:10.0.0.1, IP Address:FE80:0:0:0:0:0:0:1',
    );
  });

  it('writes the profile: CA:false, digitalSignature (+keyAgreement for EC), clientAuth, SKI, AKI', async () => {
    const ec = new x509.X509Certificate(issue('EC'));
    expect(ec.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(ec.getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
    expect(ec.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
    );
    expect(ec.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.clientAuth,
    ]);
    expect(ec.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
      Buffer.from(ca.keyIdentifier).toString('hex'),
    );
    expect(ec.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toBe(
      Buffer.from(keyIdentifierOf(new Uint8Array(ec.publicKey.rawData))).toString('hex'),
    );
    const rsa = new x509.X509Certificate(issue('RSA'));
    expect(rsa.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(ec.notAfter.toISOString()).toBe('2060-01-01T00:00:00.000Z'); // GeneralizedTime from 2050
    expect(
      await ec.verify({ publicKey: new x509.X509Certificate(ca.der).publicKey, signatureOnly: true }),
    ).toBe(true);
  });

  it('writes positive 128-bit serials that the reader returns as 32 hex digits', () => {
    for (let i = 0; i < 50; i++) {
      const parsed = parseCertificate(issue('EC'));
      expect(parsed.serialHex).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(parsed.serialHex.startsWith('00')).toBe(false);
    }
  });

  it('reads back what it wrote: subject, issuer, validity, key identifiers', () => {
    const parsed = parseCertificate(issue('EC'));
    expect(parsed.subject.map((a) => `${a.type}=${a.value}`)).toEqual(['CN=thing-1', 'serialNumber=SN0001']);
    expect(Buffer.from(parsed.issuerName).equals(Buffer.from(ca.name))).toBe(true);
    expect(parsed.notBefore.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(parsed.isCa).toBe(false);
    expect(Buffer.from(parsed.authorityKeyIdentifier!).equals(Buffer.from(ca.keyIdentifier))).toBe(true);
    expect(parsed.id).toMatch(/^[0-9a-f]{64}$/);
  });
});
