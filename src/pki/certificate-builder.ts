import { randomBytes } from 'node:crypto';
import type { SignatureAlgorithm } from './algorithms.js';
import {
  bitString,
  concatBytes,
  contextConstructed,
  sequence,
  tlv,
  unsignedInteger,
  x509Time,
} from './der.js';
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  clientAuthExtension,
  hasAltNames,
  keyIdentifierOf,
  keyUsageExtension,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
  type SubjectAltNames,
} from './extensions.js';

/** `[0] EXPLICIT Version v3`: the same bytes in every certificate we write. */
const versionV3 = tlv(contextConstructed(0), Uint8Array.of(0x02, 0x01, 0x02));

/**
 * Positive 128-bit random serial: 16 random bytes with the first bit clear (positive INTEGER, CA/B BR
 * 7.1 asks for >= 64 random bits) and a non-zero first byte, so the DER INTEGER is always 16 bytes.
 */
export function randomSerial(): Uint8Array {
  for (;;) {
    const serial = randomBytes(16);
    serial[0]! &= 0x7f;
    if (serial[0] !== 0) return serial;
  }
}

export interface TbsCertificateFields {
  serial: Uint8Array;
  signatureAlgorithm: SignatureAlgorithm;
  /** Issuer Name DER, byte-identical to the issuing CA certificate's subject. */
  issuerName: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subjectName: Uint8Array;
  spki: Uint8Array;
  /** Whole Extension elements, already encoded. */
  extensions: readonly Uint8Array[];
}

export function encodeTbsCertificate(fields: TbsCertificateFields): Uint8Array {
  return sequence(
    versionV3,
    unsignedInteger(fields.serial),
    fields.signatureAlgorithm.identifier,
    fields.issuerName,
    sequence(x509Time(fields.notBefore), x509Time(fields.notAfter)),
    fields.subjectName,
    fields.spki,
    tlv(contextConstructed(3), sequence(...fields.extensions)),
  );
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } (also CertificateList). */
export function assembleSigned(
  tbs: Uint8Array,
  algorithm: SignatureAlgorithm,
  signature: Uint8Array,
): Uint8Array {
  return sequence(tbs, algorithm.identifier, bitString(signature));
}

/** The issuing side of a device certificate: what every certificate from this CA repeats. */
export interface IssuingCa {
  /** Subject Name DER of the CA certificate (copied byte for byte as the issuer). */
  subjectName: Uint8Array;
  /** The CA's subject key identifier, which becomes the authority key identifier. */
  keyIdentifier: Uint8Array;
  signatureAlgorithm: SignatureAlgorithm;
}

export interface DeviceProfileOptions {
  /** KeyUsage keyAgreement on EC device keys (e.g. for ECDHE-ECDSA suites that want it). */
  ecKeyAgreement: boolean;
}

export interface DeviceCertificateFields {
  serial: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subjectName: Uint8Array;
  spki: Uint8Array;
  keyKind: 'EC' | 'RSA';
  subjectAltNames?: SubjectAltNames;
}

/**
 * The device certificate profile of one CA, compiled once: algorithm identifier, issuer and the constant
 * extensions are encoded here, so each certificate only encodes its serial, validity, subject, key, SKI and
 * SAN (building through @peculiar/x509 costs ~2 ms per certificate, stack-notes.md 4).
 */
export class DeviceCertificateProfile {
  private readonly constantExtensions: Uint8Array;
  private readonly ecKeyUsage: Uint8Array;
  private readonly rsaKeyUsage: Uint8Array;

  constructor(
    readonly ca: IssuingCa,
    options: DeviceProfileOptions,
  ) {
    this.constantExtensions = concatBytes([
      basicConstraintsExtension(false),
      clientAuthExtension(),
      authorityKeyIdentifierExtension(ca.keyIdentifier),
    ]);
    this.ecKeyUsage = keyUsageExtension(
      options.ecKeyAgreement ? ['digitalSignature', 'keyAgreement'] : ['digitalSignature'],
    );
    // RSA client keys sign (TLS 1.2/1.3 client auth); keyEncipherment is for RSA key transport servers.
    this.rsaKeyUsage = keyUsageExtension(['digitalSignature']);
  }

  tbs(fields: DeviceCertificateFields): Uint8Array {
    const extensions = [
      this.constantExtensions,
      fields.keyKind === 'EC' ? this.ecKeyUsage : this.rsaKeyUsage,
      subjectKeyIdentifierExtension(keyIdentifierOf(fields.spki)),
    ];
    if (hasAltNames(fields.subjectAltNames)) extensions.push(subjectAltNameExtension(fields.subjectAltNames));
    return encodeTbsCertificate({
      serial: fields.serial,
      signatureAlgorithm: this.ca.signatureAlgorithm,
      issuerName: this.ca.subjectName,
      notBefore: fields.notBefore,
      notAfter: fields.notAfter,
      subjectName: fields.subjectName,
      spki: fields.spki,
      extensions,
    });
  }
}
