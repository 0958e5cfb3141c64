import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  makeCa,
  makeDeviceCertificate,
  p256Keys,
  spkiOf,
  type TestCa,
} from '../../test/helpers/certificates.js';
import { isStationError, type StationError } from '../api/errors.js';
import type { CaCertificateRecord } from '../registry/certificates.js';
import { oids, signatureAlgorithmFor, type SignatureAlgorithm } from './algorithms.js';
import { caRecordFrom } from './ca-records.js';
import { assembleSigned, encodeTbsCertificate, randomSerial } from './certificate-builder.js';
import { parseCertificate } from './certificate-reader.js';
import { derNull, objectIdentifier, sequence } from './der.js';
import { acceptExistingCertificate, type DeviceCertificate } from './existing-certificates.js';
import { basicConstraintsExtension } from './extensions.js';
import { encodeName } from './names.js';

/** The registry row of an external CA, as `station ca register` writes it. */
function registered(ca: TestCa): CaCertificateRecord {
  return {
    ...caRecordFrom('maker', [ca.certificate], undefined),
    status: 'ACTIVE',
    createdAt: new Date().toISOString(),
  };
}

function refusal(device: DeviceCertificate, ca?: TestCa): StationError {
  try {
    acceptExistingCertificate(device, ca ? { ca: registered(ca) } : {});
  } catch (error) {
    if (isStationError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** An RSA PKCS#1 v1.5 AlgorithmIdentifier (parameters NULL) for the given OID; only its bytes are written. */
const rsaAlgorithm = (oid: string): SignatureAlgorithm => ({
  oid,
  hash: 'SHA-256',
  identifier: sequence(objectIdentifier(oid), derNull),
});

describe('acceptExistingCertificate: the CA constraints of the issuing chain', () => {
  it('accepts a device certificate under a device-held intermediate the registered CA allows', () => {
    const root = makeCa({ commonName: 'Maker Root', pathLength: 1 });
    const intermediate = makeCa({ commonName: 'Maker Line CA', issuer: root });
    const certificate = makeDeviceCertificate({ commonName: 'thing-1', issuer: intermediate });
    const accepted = acceptExistingCertificate(
      { certificate, extras: [intermediate.certificate] },
      { ca: registered(root) },
    );
    expect(accepted.record).toMatchObject({ id: certificate.id, keyOrigin: 'external' });
  });

  it("refuses a device-held intermediate when the registered CA's pathLenConstraint is 0", () => {
    const root = makeCa({ commonName: 'Maker Root', pathLength: 0 });
    const intermediate = makeCa({ commonName: 'Maker Line CA', issuer: root });
    const certificate = makeDeviceCertificate({ commonName: 'thing-2', issuer: intermediate });
    const error = refusal({ certificate, extras: [intermediate.certificate] }, root);
    expect(error.code).toBe('pki.chain-invalid');
    expect(error.message).toContain(
      'CN=Maker Root allows no CA certificate below it (pathLenConstraint 0), but CN=Maker Line CA is one',
    );
    expect(error.details).toMatchObject({ rule: 'path-length', certificate: 'CN=Maker Root' });
  });

  it('refuses a device-held intermediate whose KeyUsage lacks keyCertSign', () => {
    const root = makeCa({ commonName: 'Maker Root' });
    const intermediate = makeCa({
      commonName: 'Maker Line CA',
      issuer: root,
      keyUsage: ['digitalSignature'],
    });
    const certificate = makeDeviceCertificate({ commonName: 'thing-3', issuer: intermediate });
    const error = refusal({ certificate, extras: [intermediate.certificate] }, root);
    expect(error.code).toBe('pki.chain-invalid');
    expect(error.message).toContain('the KeyUsage of CN=Maker Line CA lacks keyCertSign');
  });

  it('refuses a device certificate signed directly by a registered CA without keyCertSign', () => {
    const ca = makeCa({ commonName: 'Maker Signing Key', keyUsage: ['digitalSignature', 'cRLSign'] });
    const certificate = makeDeviceCertificate({ commonName: 'thing-4', issuer: ca });
    expect(refusal({ certificate, extras: [] }, ca).code).toBe('pki.chain-invalid');
  });
});

describe('acceptExistingCertificate: the name constraints of the issuing chain', () => {
  it("accepts names inside the registered CA's permitted subtrees, and no SAN at all", () => {
    const ca = makeCa({ commonName: 'Maker Root', permittedDns: ['devices.acme.com'] });
    for (const subjectAltNames of [{ dns: ['thing-1.devices.acme.com'] }, undefined]) {
      const certificate = makeDeviceCertificate({ commonName: 'thing-1', issuer: ca, subjectAltNames });
      const accepted = acceptExistingCertificate({ certificate, extras: [] }, { ca: registered(ca) });
      expect(accepted.record.id).toBe(certificate.id);
    }
  });

  it("refuses a DNS name outside the registered CA's permitted subtrees (pki.name-constraint)", () => {
    const ca = makeCa({ commonName: 'Maker Root', permittedDns: ['devices.acme.com'] });
    const certificate = makeDeviceCertificate({
      commonName: 'thing-2',
      issuer: ca,
      subjectAltNames: { dns: ['thing-2.devices.acme.com', 'thing-2.evil.example'] },
    });
    const error = refusal({ certificate, extras: [] }, ca);
    expect(error.code).toBe('pki.name-constraint');
    expect(error.message).toBe(
      "The device's certificate (CN=thing-2) is outside the name constraints of CN=Maker Root in the chain of CA 'maker': the DNS name thing-2.evil.example is outside the subtrees the CA permits. openssl verify refuses it too; it cannot be registered.",
    );
    expect(error).toMatchObject({
      subject: certificate.id,
      details: { ca: 'maker', certificate: 'CN=Maker Root' },
    });
  });

  it('refuses a host-name CN outside the permitted subtrees when there is no DNS SAN, as openssl does', () => {
    const ca = makeCa({ commonName: 'Maker Root', permittedDns: ['devices.acme.com'] });
    const certificate = makeDeviceCertificate({ commonName: 'thing-1.evil.example', issuer: ca });
    expect(refusal({ certificate, extras: [] }, ca)).toMatchObject({
      code: 'pki.name-constraint',
      message: expect.stringContaining(
        'the subject CN (taken as a host name) thing-1.evil.example is outside',
      ),
    });
    // OpenSSL drops trailing NULs before it looks, and refuses a NUL inside (error 47 either way).
    for (const [commonName, why] of [
      ['thing-1.evil.example\u0000', 'thing-1.evil.example is outside'],
      ['thing-1.devices.acme.com\u0000.evil.example', 'holds a NUL byte'],
    ] as const) {
      const hidden = makeDeviceCertificate({ commonName, issuer: ca });
      expect(refusal({ certificate: hidden, extras: [] }, ca)).toMatchObject({
        code: 'pki.name-constraint',
        message: expect.stringContaining(why),
      });
    }
  });

  it('applies the constraints of an intermediate the device holds', () => {
    const root = makeCa({ commonName: 'Maker Root', permittedDns: ['acme.com'] });
    const line = makeCa({ commonName: 'Maker Line CA', issuer: root, permittedDns: ['line-1.acme.com'] });
    const device = (dns: string) => ({
      certificate: makeDeviceCertificate({
        commonName: 'thing-3',
        issuer: line,
        subjectAltNames: { dns: [dns] },
      }),
      extras: [line.certificate],
    });
    expect(refusal(device('thing-3.line-2.acme.com'), root)).toMatchObject({
      code: 'pki.name-constraint',
      details: { ca: 'maker', certificate: 'CN=Maker Line CA' },
    });
    const inside = device('thing-3.line-1.acme.com');
    expect(acceptExistingCertificate(inside, { ca: registered(root) }).record.id).toBe(inside.certificate.id);
  });

  it('applies the constraints of the CAs above the registered one, kept in its chain', () => {
    const root = makeCa({ commonName: 'Maker Root', permittedDns: ['acme.com'] });
    const line = makeCa({ commonName: 'Maker Line CA', issuer: root });
    const certificate = makeDeviceCertificate({
      commonName: 'thing-6',
      issuer: line,
      subjectAltNames: { dns: ['thing-6.evil.example'] },
    });
    const lineRecord: CaCertificateRecord = {
      ...caRecordFrom('maker-line', [line.certificate, root.certificate], undefined),
      status: 'ACTIVE',
      createdAt: new Date().toISOString(),
    };
    expect(() => acceptExistingCertificate({ certificate, extras: [] }, { ca: lineRecord })).toThrow(
      expect.objectContaining({
        code: 'pki.name-constraint',
        details: { ca: 'maker-line', certificate: 'CN=Maker Root' },
      }),
    );
  });
});

describe('acceptExistingCertificate: the key and signature rules of a CSR', () => {
  it('refuses an RSA-1024 key as too small (pki.key-unsupported)', () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const certificate = makeDeviceCertificate({
      commonName: 'weak-rsa',
      keys,
      algorithm: rsaAlgorithm(oids.sha256WithRsa),
    });
    const error = refusal({ certificate, extras: [] });
    expect(error.code).toBe('pki.key-unsupported');
    expect(error.message).toBe(
      "The device's certificate has an RSA-1024 key, which is too weak; the station accepts EC-P256, EC-P384, RSA-2048, RSA-3072. It cannot be registered.",
    );
    expect(error.details).toMatchObject({ rule: 'key-too-small', modulusBits: 1024 });
  });

  it('refuses a key on secp256k1, a curve AWS IoT does not take', () => {
    const keys = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    const error = refusal({ certificate: makeDeviceCertificate({ commonName: 'k1', keys }), extras: [] });
    expect(error.code).toBe('pki.key-unsupported');
    expect(error.details).toMatchObject({ rule: 'curve-not-allowed', curve: 'secp256k1' });
  });

  it('refuses a certificate whose EC point is not on its curve', () => {
    const ca = makeCa({ commonName: 'Maker Root' });
    const spki = Uint8Array.from(spkiOf(p256Keys().publicKey));
    spki[spki.length - 1]! ^= 0x01; // y one off: no longer a point of P-256
    const algorithm = signatureAlgorithmFor('EC-P256');
    const tbs = encodeTbsCertificate({
      serial: randomSerial(),
      signatureAlgorithm: algorithm,
      issuerName: ca.name,
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + 86_400_000),
      subjectName: encodeName({ commonName: 'bent' }),
      spki,
      extensions: [basicConstraintsExtension(false)],
    });
    const certificate = parseCertificate(
      assembleSigned(tbs, algorithm, sign('sha256', tbs, ca.keys.privateKey)),
    );
    const error = refusal({ certificate, extras: [] }, ca);
    expect(error.code).toBe('pki.key-unsupported');
    expect(error.details).toMatchObject({ rule: 'public-key-invalid' });
  });

  it('applies a narrower key list when the check is given one', () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const certificate = makeDeviceCertificate({
      commonName: 'rsa-2048',
      keys,
      algorithm: rsaAlgorithm(oids.sha256WithRsa),
    });
    expect(acceptExistingCertificate({ certificate, extras: [] }).record.id).toBe(certificate.id);
    expect(() =>
      acceptExistingCertificate({ certificate, extras: [] }, { allowedKeys: ['EC-P256'] }),
    ).toThrow(expect.objectContaining({ code: 'pki.key-unsupported' }));
  });

  it.each([
    ['sha1WithRSAEncryption', '1.2.840.113549.1.1.5', 'sha1'],
    ['md5WithRSAEncryption', '1.2.840.113549.1.1.4', 'md5'],
  ])('refuses a certificate signed with %s', (_name, oid, hash) => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const certificate = makeDeviceCertificate({
      commonName: 'old-line',
      keys,
      algorithm: rsaAlgorithm(oid),
      hash,
    });
    const error = refusal({ certificate, extras: [] });
    expect(error.code).toBe('pki.signature-algorithm-not-allowed');
    expect(error.message).toContain(`is signed with algorithm ${oid}`);
  });

  it('refuses an ecdsa-with-SHA1 signature under a registered CA before looking for the issuer', () => {
    const ca = makeCa({ commonName: 'Maker Root' });
    const certificate = makeDeviceCertificate({
      commonName: 'thing-5',
      issuer: ca,
      algorithm: {
        oid: '1.2.840.10045.4.1',
        hash: 'SHA-256',
        identifier: sequence(objectIdentifier('1.2.840.10045.4.1')),
      },
      hash: 'sha1',
    });
    expect(refusal({ certificate, extras: [] }, ca).code).toBe('pki.signature-algorithm-not-allowed');
  });
});
