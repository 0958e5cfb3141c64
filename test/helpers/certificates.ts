// Certificates for chain tests, written with the station's own encoder and signed with node:crypto keys,
// so a test can give a CA any constraints an outside CA might put in.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { signatureAlgorithmFor, type SignatureAlgorithm } from '../../src/pki/algorithms.js';
import { assembleSigned, encodeTbsCertificate, randomSerial } from '../../src/pki/certificate-builder.js';
import { parseCertificate, type ParsedCertificate } from '../../src/pki/certificate-reader.js';
import {
  authorityKeyIdentifierExtension,
  basicConstraintsExtension,
  clientAuthExtension,
  keyIdentifierOf,
  keyUsageExtension,
  nameConstraintsExtension,
  subjectAltNameExtension,
  subjectKeyIdentifierExtension,
  type KeyUsageName,
  type SubjectAltNames,
} from '../../src/pki/extensions.js';
import { encodeName } from '../../src/pki/names.js';

const day = 86_400_000;

export interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

/** A CA made here: its keys, its parsed certificate, and what a certificate it signs needs from it. */
export interface TestCa {
  keys: KeyPair;
  certificate: ParsedCertificate;
  name: Uint8Array;
  spki: Uint8Array;
}

export const spkiOf = (key: KeyObject): Uint8Array =>
  new Uint8Array(key.export({ type: 'spki', format: 'der' }));

export const p256Keys = (): KeyPair => generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** What a CA certificate states about itself. */
export interface CaCertificateFields {
  /** The subject CN; the issuer's subject makes a self-issued certificate (a CA's key rollover). */
  commonName: string;
  /** BasicConstraints pathLenConstraint; absent: no limit. */
  pathLength?: number;
  /** KeyUsage bits (default keyCertSign, cRLSign); null leaves the extension out. */
  keyUsage?: KeyUsageName[] | null;
  notBefore?: Date;
  notAfter?: Date;
  /** NameConstraints permitting only these DNS subtrees (as `station ca create --permitted-dns`). */
  permittedDns?: string[];
}

/** The part of a CA that signs: its subject name, key identifier source and private key. */
type Signer = Pick<TestCa, 'name' | 'spki'> & { keys: Pick<KeyPair, 'privateKey'> };

/** A CA certificate (P-256, ecdsa-with-SHA256) for `spki`, signed by `issuer`: DER. */
export function caCertificateDer(spki: Uint8Array, fields: CaCertificateFields, issuer: Signer): Uint8Array {
  const keyUsage: KeyUsageName[] | null =
    fields.keyUsage === undefined ? ['keyCertSign', 'cRLSign'] : fields.keyUsage;
  const algorithm = signatureAlgorithmFor('EC-P256');
  const tbs = encodeTbsCertificate({
    serial: randomSerial(),
    signatureAlgorithm: algorithm,
    issuerName: issuer.name,
    notBefore: fields.notBefore ?? new Date(Date.now() - day),
    notAfter: fields.notAfter ?? new Date(Date.now() + 365 * day),
    subjectName: encodeName({ commonName: fields.commonName }),
    spki,
    extensions: [
      basicConstraintsExtension(true, fields.pathLength),
      ...(keyUsage ? [keyUsageExtension(keyUsage)] : []),
      subjectKeyIdentifierExtension(keyIdentifierOf(spki)),
      authorityKeyIdentifierExtension(keyIdentifierOf(issuer.spki)),
      ...(fields.permittedDns ? [nameConstraintsExtension(fields.permittedDns)] : []),
    ],
  });
  return assembleSigned(tbs, algorithm, sign('sha256', tbs, issuer.keys.privateKey));
}

/** A CA with a fresh P-256 key, signed by `issuer` (self-signed when absent). */
export function makeCa(options: CaCertificateFields & { issuer?: TestCa }): TestCa {
  const keys = p256Keys();
  const spki = spkiOf(keys.publicKey);
  const name = encodeName({ commonName: options.commonName });
  const certificate = parseCertificate(
    caCertificateDer(spki, options, options.issuer ?? { keys, name, spki }),
  );
  return { keys, certificate, name, spki };
}

export interface DeviceCertificateOptions {
  commonName: string;
  /** The device's key pair (default a fresh P-256 pair). */
  keys?: KeyPair;
  /** The signing CA; absent: self-signed with the device's key. */
  issuer?: TestCa;
  /** The AlgorithmIdentifier written into the certificate (default ecdsa-with-SHA256). */
  algorithm?: SignatureAlgorithm;
  /** The node:crypto digest the signature is made with (default sha256). */
  hash?: string;
  subjectAltNames?: SubjectAltNames;
}

/** A device (end-entity) certificate as a maker's line would issue it. */
export function makeDeviceCertificate(options: DeviceCertificateOptions): ParsedCertificate {
  const keys = options.keys ?? p256Keys();
  const spki = spkiOf(keys.publicKey);
  const name = encodeName({ commonName: options.commonName });
  const algorithm = options.algorithm ?? signatureAlgorithmFor('EC-P256');
  const tbs = encodeTbsCertificate({
    serial: randomSerial(),
    signatureAlgorithm: algorithm,
    issuerName: options.issuer?.name ?? name,
    notBefore: new Date(Date.now() - day),
    notAfter: new Date(Date.now() + 30 * day),
    subjectName: name,
    spki,
    extensions: [
      basicConstraintsExtension(false),
      keyUsageExtension(['digitalSignature']),
      clientAuthExtension(),
      subjectKeyIdentifierExtension(keyIdentifierOf(spki)),
      ...(options.issuer ? [authorityKeyIdentifierExtension(keyIdentifierOf(options.issuer.spki))] : []),
      ...(options.subjectAltNames ? [subjectAltNameExtension(options.subjectAltNames)] : []),
    ],
  });
  const signer = options.issuer?.keys.privateKey ?? keys.privateKey;
  return parseCertificate(assembleSigned(tbs, algorithm, sign(options.hash ?? 'sha256', tbs, signer)));
}
