import { sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeCa, p256Keys, spkiOf } from '../../test/helpers/certificates.js';
import { signatureAlgorithmFor } from './algorithms.js';
import { assembleSigned, encodeTbsCertificate, randomSerial } from './certificate-builder.js';
import { allowsKeyUsage, parseCertificate } from './certificate-reader.js';
import { bitString } from './der.js';
import {
  basicConstraintsExtension,
  extension,
  extensionOids,
  subjectAltNameExtension,
} from './extensions.js';
import { encodeName } from './names.js';

/** A self-signed CA certificate carrying exactly the given extensions. */
function certificateWith(extensions: Uint8Array[]): Uint8Array {
  const keys = p256Keys();
  const name = encodeName({ commonName: 'Reader Test CA' });
  const algorithm = signatureAlgorithmFor('EC-P256');
  const tbs = encodeTbsCertificate({
    serial: randomSerial(),
    signatureAlgorithm: algorithm,
    issuerName: name,
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2035-01-01T00:00:00Z'),
    subjectName: name,
    spki: spkiOf(keys.publicKey),
    extensions,
  });
  return assembleSigned(tbs, algorithm, sign('sha256', tbs, keys.privateKey));
}

describe('parseCertificate: KeyUsage', () => {
  it('reads a critical KeyUsage as the positions of its bits', () => {
    const ca = makeCa({
      commonName: 'Critical KU',
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
    });
    expect(ca.certificate.keyUsage).toEqual({ critical: true, bits: [0, 5, 6] });
    expect(allowsKeyUsage(ca.certificate, 'keyCertSign')).toBe(true);
    expect(allowsKeyUsage(ca.certificate, 'keyAgreement')).toBe(false);
  });

  it('reads a non-critical KeyUsage the same way (RFC 5280 6.1.4 (n) applies either way)', () => {
    // digitalSignature alone: 1 byte 0x80, 7 unused bits
    const der = certificateWith([
      basicConstraintsExtension(true),
      extension(extensionOids.keyUsage, false, bitString(Uint8Array.of(0x80), 7)),
    ]);
    const parsed = parseCertificate(der);
    expect(parsed.keyUsage).toEqual({ critical: false, bits: [0] });
    expect(allowsKeyUsage(parsed, 'keyCertSign')).toBe(false);
  });

  it('reads bits in the second byte (decipherOnly, bit 8)', () => {
    const der = certificateWith([
      extension(extensionOids.keyUsage, true, bitString(Uint8Array.of(0x06, 0x80), 7)),
    ]);
    expect(parseCertificate(der).keyUsage).toEqual({ critical: true, bits: [5, 6, 8] });
  });

  it('leaves keyUsage out when the certificate has none, which restricts nothing', () => {
    const ca = makeCa({ commonName: 'No KU', keyUsage: null });
    expect(ca.certificate.keyUsage).toBeUndefined();
    expect(allowsKeyUsage(ca.certificate, 'keyCertSign')).toBe(true);
  });

  it('refuses a KeyUsage that is not a BIT STRING', () => {
    const der = certificateWith([extension(extensionOids.keyUsage, true, Uint8Array.of(0x04, 0x01, 0x06))]);
    expect(() => parseCertificate(der)).toThrow(/KeyUsage is not a BIT STRING/);
  });
});

describe('parseCertificate: SubjectAltName', () => {
  it('reads DNS names, URIs and IP addresses, IPv6 written out in full', () => {
    const der = certificateWith([
      subjectAltNameExtension({
        dns: ['thing-1.devices.acme.com'],
        uri: ['urn:thing:1'],
        ip: ['192.0.2.7', '2001:db8::1'],
      }),
    ]);
    expect(parseCertificate(der).subjectAltNames).toEqual({
      dns: ['thing-1.devices.acme.com'],
      uri: ['urn:thing:1'],
      ip: ['192.0.2.7', '2001:0db8:0000:0000:0000:0000:0000:0001'],
    });
  });

  it('leaves subjectAltNames out when the certificate has none', () => {
    expect(parseCertificate(certificateWith([])).subjectAltNames).toBeUndefined();
  });
});
