import { createHash } from 'node:crypto';
import { oids, verifiableSignatureHashes } from './algorithms.js';
import {
  Tag,
  bitStringBytes,
  childrenOf,
  contentOf,
  contextConstructed,
  contextPrimitive,
  decodeObjectIdentifier,
  decodeTime,
  expectElement,
  readElement,
  wholeOf,
  type DerElement,
} from './der.js';
import {
  extensionOids,
  ipAddressText,
  keyIdentifierOf,
  keyUsageBits,
  type KeyUsageName,
  type SubjectAltNames,
} from './extensions.js';
import { readNameConstraints, type NameConstraints } from './name-constraints.js';
import { commonNameOf, decodeName, formatName, type NameAttribute } from './names.js';

/** A certificate read back from DER: the parts the station checks, chains and records. */
export interface ParsedCertificate {
  der: Uint8Array;
  /** SHA-256 of the DER, lowercase hex: the AWS certificate id (aws-iot-spec.md 5). */
  id: string;
  tbs: Uint8Array;
  signatureAlgorithmOid: string;
  signature: Uint8Array;
  serialHex: string;
  issuerName: Uint8Array;
  issuer: NameAttribute[];
  subjectName: Uint8Array;
  subject: NameAttribute[];
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  isCa: boolean;
  pathLength?: number;
  /** The SKI extension, else the RFC 5280 method-1 identifier computed from the key. */
  subjectKeyIdentifier: Uint8Array;
  authorityKeyIdentifier?: Uint8Array;
  /** Absent when the certificate has no KeyUsage: RFC 5280 4.2.1.3 then puts no limit on the key's use. */
  keyUsage?: KeyUsage;
  /** A CA's NameConstraints: what the certificates below it may name. */
  nameConstraints?: NameConstraints;
  /** The SAN's DNS names, URIs and IP addresses (other forms are not read: nothing here checks them). */
  subjectAltNames?: SubjectAltNames;
}

/** The KeyUsage extension as the certificate states it. */
export interface KeyUsage {
  critical: boolean;
  /** The positions of the bits set (RFC 5280 4.2.1.3: 0 digitalSignature ... 5 keyCertSign, 6 cRLSign). */
  bits: number[];
}

export const certificateId = (der: Uint8Array): string => createHash('sha256').update(der).digest('hex');

/** True when the certificate's key may be used for `usage`: no KeyUsage, or one with that bit set. */
export const allowsKeyUsage = (certificate: ParsedCertificate, usage: KeyUsageName): boolean =>
  certificate.keyUsage === undefined || certificate.keyUsage.bits.includes(keyUsageBits[usage]);

export const subjectText = (certificate: ParsedCertificate): string => formatName(certificate.subject);
export const commonName = (certificate: ParsedCertificate): string | undefined =>
  commonNameOf(certificate.subject);

/** Parses a DER certificate; throws (DerError or Error) when the bytes are not one. */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const outer = expectElement(der, 0, Tag.sequence, 'Certificate');
  if (outer.end !== der.length) throw new Error('trailing bytes after the certificate');
  const [tbsElement, algorithm, signatureBits] = childrenOf(der, outer);
  if (!tbsElement || !algorithm || !signatureBits || signatureBits.tag !== Tag.bitString) {
    throw new Error('not an X.509 certificate');
  }
  const algorithmOid = childrenOf(der, algorithm)[0];
  if (!algorithmOid || algorithmOid.tag !== Tag.oid) throw new Error('signature algorithm missing');

  const fields = childrenOf(der, expectElement(der, tbsElement.start, Tag.sequence, 'TBSCertificate'));
  let index = 0;
  if (fields[0]?.tag === contextConstructed(0)) index++; // version (absent means v1)
  const [serial, , issuer, validity, subject, spki] = fields.slice(index, index + 6);
  if (!serial || !issuer || !validity || !subject || !spki) throw new Error('TBSCertificate is incomplete');
  const [notBefore, notAfter] = childrenOf(der, validity);
  if (!notBefore || !notAfter) throw new Error('validity is incomplete');

  const extensions = fields.slice(index + 6).find((field) => field.tag === contextConstructed(3));
  const spkiBytes = wholeOf(der, spki);
  const parsed: ParsedCertificate = {
    der,
    id: certificateId(der),
    tbs: wholeOf(der, tbsElement),
    signatureAlgorithmOid: decodeObjectIdentifier(contentOf(der, algorithmOid)),
    signature: bitStringBytes(der, signatureBits),
    serialHex: Buffer.from(contentOf(der, serial))
      .toString('hex')
      .replace(/^00(?=[89a-f])/, ''),
    issuerName: wholeOf(der, issuer),
    issuer: decodeName(der, issuer),
    subjectName: wholeOf(der, subject),
    subject: decodeName(der, subject),
    notBefore: decodeTime(der, notBefore),
    notAfter: decodeTime(der, notAfter),
    spki: spkiBytes,
    isCa: false,
    subjectKeyIdentifier: keyIdentifierOf(spkiBytes),
  };
  if (extensions) readExtensions(der, extensions, parsed);
  return parsed;
}

function readExtensions(der: Uint8Array, wrapper: DerElement, into: ParsedCertificate): void {
  const list = expectElement(der, wrapper.contentStart, Tag.sequence, 'Extensions', wrapper.end);
  for (const extension of childrenOf(der, list)) {
    const parts = childrenOf(der, extension);
    const oid = decodeObjectIdentifier(contentOf(der, parts[0]!));
    const value = parts[parts.length - 1]!;
    if (value.tag !== Tag.octetString) throw new Error('extension value is not an OCTET STRING');
    const inner = readElement(der, value.contentStart, value.end);
    switch (oid) {
      case extensionOids.basicConstraints: {
        const [ca, pathLength] = childrenOf(der, inner);
        into.isCa = ca?.tag === Tag.boolean && der[ca.contentStart] !== 0;
        if (pathLength?.tag === Tag.integer)
          into.pathLength = Number(`0x${Buffer.from(contentOf(der, pathLength)).toString('hex')}`);
        break;
      }
      case extensionOids.keyUsage: {
        // critical BOOLEAN DEFAULT FALSE: present (and TRUE, in DER) only between the OID and the value
        const critical =
          parts.length === 3 && parts[1]!.tag === Tag.boolean && der[parts[1]!.contentStart] !== 0;
        into.keyUsage = { critical, bits: namedBitsSet(der, inner) };
        break;
      }
      case extensionOids.subjectKeyIdentifier:
        into.subjectKeyIdentifier = contentOf(der, inner);
        break;
      case extensionOids.nameConstraints:
        into.nameConstraints = readNameConstraints(der, inner);
        break;
      case extensionOids.subjectAltName:
        into.subjectAltNames = readSubjectAltNames(der, inner);
        break;
      case extensionOids.authorityKeyIdentifier: {
        const keyId = childrenOf(der, inner).find((part) => part.tag === contextPrimitive(0));
        if (keyId) into.authorityKeyIdentifier = contentOf(der, keyId);
        break;
      }
      default:
        break;
    }
  }
}

/** GeneralNames: dNSName [2], uniformResourceIdentifier [6] and iPAddress [7], as the SAN writer writes them. */
function readSubjectAltNames(der: Uint8Array, element: DerElement): SubjectAltNames {
  if (element.tag !== Tag.sequence) throw new Error('SubjectAltName is not a SEQUENCE');
  const names: Required<SubjectAltNames> = { dns: [], uri: [], ip: [] };
  for (const name of childrenOf(der, element)) {
    const content = contentOf(der, name);
    if (name.tag === contextPrimitive(2)) names.dns.push(Buffer.from(content).toString('latin1'));
    else if (name.tag === contextPrimitive(6)) names.uri.push(Buffer.from(content).toString('latin1'));
    else if (name.tag === contextPrimitive(7)) names.ip.push(ipAddressText(content));
  }
  return names;
}

/** The positions of the bits set in a named-bit BIT STRING, bit 0 being the first byte's most significant. */
function namedBitsSet(der: Uint8Array, element: DerElement): number[] {
  if (element.tag !== Tag.bitString) throw new Error('KeyUsage is not a BIT STRING');
  const content = contentOf(der, element);
  const unused = content[0];
  if (unused === undefined || unused > 7 || (content.length === 1 && unused !== 0)) {
    throw new Error('KeyUsage bit string is malformed');
  }
  const bits: number[] = [];
  const length = (content.length - 1) * 8 - unused;
  for (let position = 0; position < length; position++) {
    if (content[1 + (position >> 3)]! & (0x80 >> (position & 7))) bits.push(position);
  }
  return bits;
}

/** node:crypto digest name for a certificate/CRL/CSR signature algorithm, or undefined when not supported. */
export function digestForSignature(oid: string): string | undefined {
  return verifiableSignatureHashes[oid]?.hash;
}

export const isEcSignature = (oid: string): boolean =>
  oid === oids.ecdsaWithSha256 || oid === oids.ecdsaWithSha384 || oid === oids.ecdsaWithSha512;
